import MailBytes

/// Literal byte strings the scanners compare against, lower-case ASCII. `StaticString` so that
/// comparing costs no reference counting.
enum Literal {
    static var http: StaticString { "http" }
    static var schemeSeparator: StaticString { "://" }
    static var href: StaticString { "href" }
    static var clicktrack: StaticString { "data-msys-clicktrack" }
    static var linkname: StaticString { "data-msys-linkname" }
    static var unsubscribe: StaticString { "data-msys-unsubscribe" }
    static var sublink: StaticString { "data-msys-sublink" }
    static var a: StaticString { "a" }
    static var area: StaticString { "area" }
    static var vRoundrect: StaticString { "v:roundrect" }
    static var vRect: StaticString { "v:rect" }
    static var html: StaticString { "html" }
    static var body: StaticString { "body" }
    static var plaintext: StaticString { "plaintext" }
    static var script: StaticString { "script" }
    static var style: StaticString { "style" }
    static var textarea: StaticString { "textarea" }
    static var title: StaticString { "title" }
    static var xmp: StaticString { "xmp" }
    static var iframe: StaticString { "iframe" }
    static var noembed: StaticString { "noembed" }
    static var noframes: StaticString { "noframes" }
    static var commentOpen: StaticString { "<!--" }
    static var conditionalIf: StaticString { "[if" }
    static var conditionalEndif: StaticString { "<![endif" }
    static var cdataOpen: StaticString { "<![cdata[" }
}
