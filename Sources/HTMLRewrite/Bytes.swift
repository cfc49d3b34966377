/// Byte classes and small comparisons shared by both scanners. Everything here is ASCII-only:
/// bytes at or above 0x80 never match any class.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let ff: UInt8 = 0x0C
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let bang: UInt8 = 0x21  // !
    static let quote: UInt8 = 0x22  // "
    static let hash: UInt8 = 0x23  // #
    static let amp: UInt8 = 0x26  // &
    static let apostrophe: UInt8 = 0x27  // '
    static let leftParen: UInt8 = 0x28
    static let rightParen: UInt8 = 0x29
    static let minus: UInt8 = 0x2D
    static let slash: UInt8 = 0x2F
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let less: UInt8 = 0x3C
    static let equals: UInt8 = 0x3D
    static let greater: UInt8 = 0x3E
    static let question: UInt8 = 0x3F
    static let at: UInt8 = 0x40
    static let leftBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let rightBracket: UInt8 = 0x5D
    static let lowerX: UInt8 = 0x78

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
    func matchesLowercased(_ literal: [UInt8], at offset: Int) -> Bool {
        guard offset >= 0, offset <= count - literal.count else { return false }
        var k = 0
        while k < literal.count {
            if ASCII.lower(self[offset + k]) != literal[k] { return false }
            k += 1
        }
        return true
    }

    /// True when `range` holds exactly `literal` (lower-case ASCII), compared case-insensitively.
    @inline(__always)
    func equalsLowercased(_ range: Range<Int>, _ literal: [UInt8]) -> Bool {
        range.count == literal.count && matchesLowercased(literal, at: range.lowerBound)
    }

    /// Offset of the first `byte` at or after `start`, or nil.
    @inline(__always)
    func firstOffset(of byte: UInt8, from start: Int) -> Int? {
        var i = Swift.max(start, 0)
        let n = count
        while i < n {
            if self[i] == byte { return i }
            i += 1
        }
        return nil
    }
}

/// Literal byte strings the scanners compare against, lower-case.
enum Literal {
    static let http: [UInt8] = Array("http".utf8)
    static let schemeSeparator: [UInt8] = Array("://".utf8)
    static let href: [UInt8] = Array("href".utf8)
    static let clicktrack: [UInt8] = Array("data-msys-clicktrack".utf8)
    static let linkname: [UInt8] = Array("data-msys-linkname".utf8)
    static let unsubscribe: [UInt8] = Array("data-msys-unsubscribe".utf8)
    static let sublink: [UInt8] = Array("data-msys-sublink".utf8)
    static let a: [UInt8] = Array("a".utf8)
    static let area: [UInt8] = Array("area".utf8)
    static let vRoundrect: [UInt8] = Array("v:roundrect".utf8)
    static let vRect: [UInt8] = Array("v:rect".utf8)
    static let html: [UInt8] = Array("html".utf8)
    static let body: [UInt8] = Array("body".utf8)
    static let plaintext: [UInt8] = Array("plaintext".utf8)
    /// Elements whose content is raw text or RCDATA: no tags inside until the matching end tag.
    static let rawTextElements: [[UInt8]] = [
        "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
    ].map { Array($0.utf8) }
    static let commentOpen: [UInt8] = Array("<!--".utf8)
    static let conditionalIf: [UInt8] = Array("[if".utf8)
    static let conditionalEndif: [UInt8] = Array("<![endif".utf8)
    static let cdataOpen: [UInt8] = Array("<![cdata[".utf8)
}
