import MailBytes

/// Makes the bytes libxml2 parses offset-compatible with the caller's bytes: libxml2 converts
/// any input it does not take for UTF-8 (and switches encoding on the first invalid sequence),
/// after which its offsets no longer refer to the original. So it is given valid UTF-8 of the
/// same length: NUL and every byte that is not part of a valid UTF-8 sequence (or, for a
/// declared non-UTF-8 charset, every byte >= 0x80) becomes `_`, a byte that is a name
/// character for both HTML and CSS, so names containing it still match between sheet and markup.
enum Sanitizer {
    static let replacement: UInt8 = 0x5F

    /// Whether `charset` names UTF-8 (or is absent, or ASCII).
    static func isUTF8(_ charset: String?) -> Bool {
        guard let charset else { return true }
        let label = String(
            decoding: ASCII.lowercased(charset.utf8.filter { !ASCII.isWhitespace($0) && $0 != 0x22 }), as: UTF8.self)
        return label.isEmpty || label == "utf-8" || label == "utf8" || label == "us-ascii" || label == "ascii"
            || label == "unicode-1-1-utf-8"
    }

    /// `bytes` itself (no copy) when it is already valid UTF-8 without NUL, else a repaired copy.
    static func sanitize(_ bytes: [UInt8], charset: String?) -> [UInt8] {
        let utf8 = isUTF8(charset)
        guard let firstBad = bytes.withUnsafeBufferPointer({ firstInvalid($0, utf8: utf8) }) else { return bytes }
        var copy = bytes
        copy.withUnsafeMutableBufferPointer { buffer in
            var index = firstBad
            let count = buffer.count
            while index < count {
                let byte = buffer[index]
                if byte == 0 {
                    buffer[index] = replacement
                    index += 1
                    continue
                }
                if byte < 0x80 {
                    index += 1
                    continue
                }
                let length = utf8 ? validSequenceLength(UnsafeBufferPointer(buffer), index) : 0
                if length == 0 {
                    buffer[index] = replacement
                    index += 1
                } else {
                    index += length
                }
            }
        }
        return copy
    }

    /// Offset of the first byte libxml2 must not see (NUL, or not part of valid UTF-8), or nil.
    /// ASCII runs are checked eight bytes at a time.
    private static func firstInvalid(_ buffer: UnsafeBufferPointer<UInt8>, utf8: Bool) -> Int? {
        guard let base = buffer.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        let count = buffer.count
        var index = 0
        while index < count {
            // A word whose bytes are all in 0x01...0x7F: no high bit, and no zero byte.
            while index + 8 <= count {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let high = word & 0x8080_8080_8080_8080
                let zero = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
                if high | zero != 0 { break }
                index += 8
            }
            guard index < count else { return nil }
            let byte = buffer[index]
            if byte == 0 { return index }
            if byte < 0x80 {
                index += 1
                continue
            }
            let length = utf8 ? validSequenceLength(buffer, index) : 0
            if length == 0 { return index }
            index += length
        }
        return nil
    }

    /// Length of the valid UTF-8 sequence (no overlongs, surrogates or values > U+10FFFF)
    /// starting at `index`, or 0.
    private static func validSequenceLength(_ buffer: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        let lead = buffer[index]
        let count = buffer.count
        func continuation(_ offset: Int) -> Bool {
            index + offset < count && buffer[index + offset] & 0xC0 == 0x80
        }
        switch lead {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : 0
        case 0xE0...0xEF:
            guard continuation(1), continuation(2) else { return 0 }
            let second = buffer[index + 1]
            if lead == 0xE0 && second < 0xA0 { return 0 }
            if lead == 0xED && second >= 0xA0 { return 0 }
            return 3
        case 0xF0...0xF4:
            guard continuation(1), continuation(2), continuation(3) else { return 0 }
            let second = buffer[index + 1]
            if lead == 0xF0 && second < 0x90 { return 0 }
            if lead == 0xF4 && second >= 0x90 { return 0 }
            return 4
        default:
            return 0
        }
    }
}
