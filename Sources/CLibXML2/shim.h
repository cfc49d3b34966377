#ifndef LINKSTAMP_CLIBXML2_SHIM_H
#define LINKSTAMP_CLIBXML2_SHIM_H
// The one place libxml2 is included. Swift 6 cannot call `xmlFree` (a global function-pointer
// variable) or libxml2's macros, so they are wrapped here as static inline functions.
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlmemory.h>

static inline void linkstamp_xmlFree(void *pointer) { xmlFree(pointer); }

#endif
