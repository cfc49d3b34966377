#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// ASCII byte values and classes shared by every parser. Everything here is ASCII-only: bytes at
/// or above 0x80 never match any class.
@usableFromInline package enum ASCII {
    @inlinable package static var tab: UInt8 { 0x09 }
    @inlinable package static var lf: UInt8 { 0x0A }
    @inlinable package static var ff: UInt8 { 0x0C }
    @inlinable package static var cr: UInt8 { 0x0D }
    @inlinable package static var space: UInt8 { 0x20 }
    @inlinable package static var bang: UInt8 { 0x21 }  // !
    @inlinable package static var quote: UInt8 { 0x22 }  // "
    @inlinable package static var hash: UInt8 { 0x23 }  // #
    @inlinable package static var percent: UInt8 { 0x25 }  // %
    @inlinable package static var amp: UInt8 { 0x26 }  // &
    @inlinable package static var apostrophe: UInt8 { 0x27 }  // '
    @inlinable package static var leftParen: UInt8 { 0x28 }
    @inlinable package static var rightParen: UInt8 { 0x29 }
    @inlinable package static var star: UInt8 { 0x2A }
    @inlinable package static var hyphen: UInt8 { 0x2D }
    @inlinable package static var slash: UInt8 { 0x2F }
    @inlinable package static var colon: UInt8 { 0x3A }
    @inlinable package static var semicolon: UInt8 { 0x3B }
    @inlinable package static var less: UInt8 { 0x3C }
    @inlinable package static var equals: UInt8 { 0x3D }
    @inlinable package static var greater: UInt8 { 0x3E }
    @inlinable package static var question: UInt8 { 0x3F }
    @inlinable package static var at: UInt8 { 0x40 }
    @inlinable package static var leftBracket: UInt8 { 0x5B }
    @inlinable package static var backslash: UInt8 { 0x5C }
    @inlinable package static var rightBracket: UInt8 { 0x5D }
    @inlinable package static var underscore: UInt8 { 0x5F }
    @inlinable package static var lowerX: UInt8 { 0x78 }

    /// `0123456789ABCDEF`.
    package static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// WSP (RFC 5234): SPACE or TAB.
    @inlinable @inline(__always)
    package static func isWSP(_ b: UInt8) -> Bool { b == space || b == tab }

    /// Whitespace inside a (possibly folded) structured header value: SPACE, TAB, CR, LF.
    @inlinable @inline(__always)
    package static func isFWS(_ b: UInt8) -> Bool { b == space || b == tab || b == cr || b == lf }

    /// HTML and CSS "ASCII whitespace": TAB, LF, FF, CR, SPACE.
    @inlinable @inline(__always)
    package static func isWhitespace(_ b: UInt8) -> Bool {
        b == space || b == tab || b == lf || b == cr || b == ff
    }

    @inlinable @inline(__always)
    package static func isLetter(_ b: UInt8) -> Bool {
        (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A
    }

    @inlinable @inline(__always)
    package static func isDigit(_ b: UInt8) -> Bool {
        b >= 0x30 && b <= 0x39
    }

    @inlinable @inline(__always)
    package static func isAlphanumeric(_ b: UInt8) -> Bool {
        isLetter(b) || isDigit(b)
    }

    @inlinable @inline(__always)
    package static func isHexDigit(_ b: UInt8) -> Bool {
        isDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66)
    }

    /// Value of a hexadecimal digit (either case), or nil.
    @inlinable @inline(__always)
    package static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b &- 0x30
        case 0x41...0x46: return b &- 0x41 &+ 10
        case 0x61...0x66: return b &- 0x61 &+ 10
        default: return nil
        }
    }

    /// ASCII lower-casing; other bytes unchanged.
    @inlinable @inline(__always)
    package static func lower(_ b: UInt8) -> UInt8 {
        b >= 0x41 && b <= 0x5A ? b | 0x20 : b
    }

    /// Every byte ASCII lower-cased.
    @inlinable
    package static func lowercased(_ bytes: some Sequence<UInt8>) -> [UInt8] { bytes.map(lower) }

    /// Case-insensitive comparison of `bytes[range]` with a lower-case ASCII literal.
    @inlinable
    package static func equalsLower(_ bytes: [UInt8], _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { lit in
            var index = 0
            while index < lit.count {
                if lower(bytes[range.lowerBound + index]) != lit[index] { return false }
                index += 1
            }
            return true
        }
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// Offset of the first `byte` in `self[start..<end]` (`end` defaults to the end; a negative
    /// `start` counts as 0, an `end` past the buffer as its end), or nil. The C library's
    /// vectorized `memchr`: skipping to the next `<`, quote, `-` or line break is the parsers'
    /// hottest loop.
    @inlinable @inline(__always)
    package func firstOffset(of byte: UInt8, from start: Int, to end: Int = .max) -> Int? {
        let from = Swift.max(start, 0)
        let to = Swift.min(end, count)
        guard from < to, let base = baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), to - from) else { return nil }
        return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
    }

    /// True when `literal` (lower-case ASCII) occurs at `offset`, compared ASCII case-insensitively.
    /// Out-of-range offsets simply do not match.
    @inlinable @inline(__always)
    package func matchesLowercased(_ literal: StaticString, at offset: Int) -> Bool {
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
    @inlinable @inline(__always)
    package func equalsLowercased(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        range.count == literal.utf8CodeUnitCount && matchesLowercased(literal, at: range.lowerBound)
    }
}
