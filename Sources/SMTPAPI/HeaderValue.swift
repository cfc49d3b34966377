import MailBytes

/// Byte-level preparation of the raw field value: trimming and UTF-8 validation (unfolding is
/// `HeaderUnfolding.unfold(_:_:)` in `.singleSpace` mode, docs/SPEC.md §2.2).
enum HeaderValue {
    /// The range of `bytes` without leading and trailing SP, HTAB, CR and LF.
    static func trimmedRange(_ bytes: [UInt8]) -> Range<Int> {
        var start = 0
        var end = bytes.count
        while start < end && ASCII.isFWS(bytes[start]) { start += 1 }
        while end > start && ASCII.isFWS(bytes[end - 1]) { end -= 1 }
        return start..<end
    }

    /// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong
    /// forms, no surrogates, nothing above U+10FFFF), or `nil` when all of `bytes` is valid.
    static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F
            default: return index
            }
            guard index + length <= count else { return index }
            let second = bytes[index + 1]
            guard second >= lower && second <= upper else { return index }
            var position = index + 2
            while position < index + length {
                guard bytes[position] & 0xC0 == 0x80 else { return index }
                position += 1
            }
            index += length
        }
        return nil
    }
}
