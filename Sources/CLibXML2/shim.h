#ifndef LINKSTAMP_CLIBXML2_SHIM_H
#define LINKSTAMP_CLIBXML2_SHIM_H
// The one place libxml2 is included. Swift 6 cannot call `xmlFree` (a global function-pointer
// variable) or libxml2's macros, so they are wrapped here as static inline functions.
// Charter: this module owns every libxml2 declaration the project sees. Only CSSInline's
// DocumentTree.swift imports it (`internal import CLibXML2`); no other file or module may.
#include <string.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlmemory.h>

static inline void linkstamp_xmlFree(void *pointer) { xmlFree(pointer); }

// Byte offset of the parser's read position in the bytes it was given. `consumed` counts what
// earlier shrinks of the input buffer discarded, so the offset survives buffer shrinking; it is
// only an offset into the caller's bytes when libxml2 does no encoding conversion (UTF-8 input).
static inline long linkstamp_input_offset(xmlParserCtxtPtr ctxt) {
    if (ctxt == NULL || ctxt->input == NULL || ctxt->input->cur == NULL || ctxt->input->base == NULL) {
        return -1;
    }
    return (long)ctxt->input->consumed + (long)(ctxt->input->cur - ctxt->input->base);
}

static void linkstamp_ignore_structured_error(void *userData, xmlErrorPtr error) {
    (void)userData;
    (void)error;
}

// Installs the SAX callbacks on a fresh HTML parser context: errors go to a no-op structured
// handler (nothing is printed), and no DOM is built because every tree callback is NULL.
static inline void linkstamp_install_sax(
    htmlParserCtxtPtr ctxt, void *userData, startElementSAXFunc start, endElementSAXFunc end,
    charactersSAXFunc characters) {
    if (ctxt == NULL || ctxt->sax == NULL) {
        return;
    }
    memset(ctxt->sax, 0, sizeof(htmlSAXHandler));
    ctxt->sax->initialized = XML_SAX2_MAGIC;
    ctxt->sax->startElement = start;
    ctxt->sax->endElement = end;
    ctxt->sax->characters = characters;
    ctxt->sax->ignorableWhitespace = characters;
    ctxt->sax->cdataBlock = characters;
    ctxt->sax->serror = linkstamp_ignore_structured_error;
    ctxt->userData = userData;
    ctxt->charset = XML_CHAR_ENCODING_UTF8;
}

#endif
