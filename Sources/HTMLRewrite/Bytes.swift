#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Byte classes and small comparisons shared by both scanners. Everything here is ASCII-only:
/// bytes at or above 0x80 never match any class.
enum ASCII {
    static var tab: UInt8 { 0x09 }
    static var lf: UInt8 { 0x0A }
    static var ff: UInt8 { 0x0C }
    static var cr: UInt8 { 0x0D }
    static var space: UInt8 { 0x20 }
    static var bang: UInt8 { 0x21 }  // !
    static var quote: UInt8 { 0x22 }  // "
    static var hash: UInt8 { 0x23 }  // #
    static var amp: UInt8 { 0x26 }  // &
    static var apostrophe: UInt8 { 0x27 }  // '
    static var leftParen: UInt8 { 0x28 }
    static var rightParen: UInt8 { 0x29 }
    static var minus: UInt8 { 0x2D }
    static var slash: UInt8 { 0x2F }
    static var colon: UInt8 { 0x3A }
    static var semicolon: UInt8 { 0x3B }
    static var less: UInt8 { 0x3C }
    static var equals: UInt8 { 0x3D }
    static var greater: UInt8 { 0x3E }
    static var question: UInt8 { 0x3F }
    static var at: UInt8 { 0x40 }
    static var leftBracket: UInt8 { 0x5B }
    static var backslash: UInt8 { 0x5C }
    static var rightBracket: UInt8 { 0x5D }
    static var lowerX: UInt8 { 0x78 }

    /// HTML "ASCII whitespace": TAB, LF, FF, CR, SPACE.
    @inline(__always)
    static func isWhitespace(_ b: UInt8) -> Bool {
        b == space || b == tab || b == lf || b == cr || b == ff
    }

    @inline(__always)
    static func isLetter(_ b: UInt8) -> Bool {
        (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A
    }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool {
        b >= 0x30 && b <= 0x39
    }

    @inline(__always)
    static func isAlphanumeric(_ b: UInt8) -> Bool {
        isLetter(b) || isDigit(b)
    }

    @inline(__always)
    static func isHexDigit(_ b: UInt8) -> Bool {
        isDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66)
    }

    /// ASCII lower-casing; other bytes unchanged.
    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 {
        b >= 0x41 && b <= 0x5A ? b | 0x20 : b
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// True when `literal` (lower-case ASCII) occurs at `offset`, compared ASCII case-insensitively.
    /// Out-of-range offsets simply do not match.
    @inline(__always)
    func matchesLowercased(_ literal: StaticString, at offset: Int) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard offset >= 0, offset <= count - length else { return false }
        let expected = literal.utf8Start
        var k = 0
        while k < length {
            if ASCII.lower(self[offset + k]) != expected[k] { return false }
            k += 1
        }
        return true
    }

    /// True when `range` holds exactly `literal` (lower-case ASCII), compared case-insensitively.
    @inline(__always)
    func equalsLowercased(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        range.count == literal.utf8CodeUnitCount && matchesLowercased(literal, at: range.lowerBound)
    }

    /// Offset of the first `byte` at or after `start`, or nil. Uses the C library's vectorized
    /// `memchr`: this is the scanners' hottest loop (skipping text to the next `<`, quote, `-`).
    @inline(__always)
    func firstOffset(of byte: UInt8, from start: Int) -> Int? {
        let from = Swift.max(start, 0)
        guard from < count, let base = baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), count - from) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
}

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
