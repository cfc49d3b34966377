/// Byte-level preparation of the raw field value: unfolding, trimming, UTF-8 validation.
enum HeaderValue {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")

    @inline(__always)
    static func isWSP(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// Unfolding as SparkPost's reference describes it (docs/SPEC.md §2.2): each fold — a CRLF (or bare
    /// LF, which many MTAs hand us) followed by SP/HTAB, together with every SP/HTAB that starts
    /// the next line — becomes a single space, so `"my_awes` + CRLF + `   ome_campaign"` reads
    /// `"my_awes ome_campaign"`. Blanks before the line break stay; other line breaks are kept
    /// as they are.
    static func unfold(_ value: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        value.withUnsafeBufferPointer { bytes in
            var index = 0
            let count = bytes.count
            while index < count {
                let byte = bytes[index]
                var blanks = -1
                if byte == cr, index + 2 < count, bytes[index + 1] == lf, isWSP(bytes[index + 2]) {
                    blanks = index + 2
                } else if byte == lf, index + 1 < count, isWSP(bytes[index + 1]) {
                    blanks = index + 1
                }
                if blanks >= 0 {
                    while blanks < count, isWSP(bytes[blanks]) { blanks += 1 }
                    out.append(space)
                    index = blanks
                    continue
                }
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    /// The range of `bytes` without leading and trailing SP, HTAB, CR and LF.
    static func trimmedRange(_ bytes: [UInt8]) -> Range<Int> {
        var start = 0
        var end = bytes.count
        func isBlank(_ byte: UInt8) -> Bool { byte == space || byte == tab || byte == cr || byte == lf }
        while start < end && isBlank(bytes[start]) { start += 1 }
        while end > start && isBlank(bytes[end - 1]) { end -= 1 }
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
