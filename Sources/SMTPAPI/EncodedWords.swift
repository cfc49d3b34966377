/// RFC 2047 encoded-words (`=?charset?Q|B?text?=`): recognising text made only of them and
/// decoding it. Anything not decodable (unknown charset, malformed word, bytes invalid in the
/// charset) is left exactly as it was, as RFC 2047 §6.3 asks of displays.
enum EncodedWords {
    /// One parsed encoded-word: its charset and its decoded (but not yet charset-converted) bytes.
    private struct Word {
        var charset: Charset
        var bytes: [UInt8]
    }

    /// When `text` is one or more encoded-words separated by whitespace (SP, HTAB, CR, LF) and
    /// nothing else (no whitespace before the first or after the last), their decoded text with the whitespace between them dropped (RFC 2047
    /// §6.2); otherwise `nil`. Adjacent words in the same charset are joined before conversion,
    /// so a multi-byte character split across two words (a common sender bug) still decodes.
    static func decodeIfEntirelyEncoded(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        // Whitespace only *between* words (RFC 2047 §6.2): the text starts with "=?" and ends with "?=".
        guard text.count >= 8, text[0] == UInt8(ascii: "="), text[1] == UInt8(ascii: "?"),
            text[text.count - 2] == UInt8(ascii: "?"), text[text.count - 1] == UInt8(ascii: "=")
        else { return nil }
        var words: [Word] = []
        var index = 0
        let count = text.count
        while index < count {
            let byte = text[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A {
                index += 1
                continue
            }
            guard let (word, end) = parseWord(text, from: index) else { return nil }
            // An encoded-word must be followed by whitespace or the end (RFC 2047 §5).
            if end < count {
                let next = text[end]
                guard next == 0x20 || next == 0x09 || next == 0x0D || next == 0x0A else { return nil }
            }
            if let last = words.last, last.charset == word.charset {
                words[words.count - 1].bytes.append(contentsOf: word.bytes)
            } else {
                words.append(word)
            }
            index = end
        }
        guard !words.isEmpty else { return nil }
        var decoded = ""
        for word in words {
            guard let piece = word.charset.decode(word.bytes) else { return nil }
            decoded += piece
        }
        return decoded
    }

    /// encoded-word = "=?" charset "?" encoding "?" encoded-text "?="   (RFC 2047 §2)
    /// Returns the word and the offset just past it. The 75-character limit of §2 is not
    /// enforced: long words are common in the wild and unambiguous.
    private static func parseWord(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> (Word, Int)? {
        let count = text.count
        guard start + 1 < count, text[start] == UInt8(ascii: "="), text[start + 1] == UInt8(ascii: "?") else {
            return nil
        }
        var index = start + 2
        let charsetStart = index
        while index < count, text[index] != UInt8(ascii: "?") {
            guard isTokenByte(text[index]) || text[index] == UInt8(ascii: "*") else { return nil }
            index += 1
        }
        guard index < count, index > charsetStart else { return nil }
        var charsetEnd = index
        // RFC 2231 §5: "charset*language".
        if let star = (charsetStart..<charsetEnd).first(where: { text[$0] == UInt8(ascii: "*") }) {
            charsetEnd = star
        }
        guard charsetEnd > charsetStart,
            let charset = Charset(label: UnsafeBufferPointer(rebasing: text[charsetStart..<charsetEnd]))
        else { return nil }
        index += 1
        guard index + 1 < count, text[index + 1] == UInt8(ascii: "?") else { return nil }
        let encoding = text[index] | 0x20
        guard encoding == UInt8(ascii: "q") || encoding == UInt8(ascii: "b") else { return nil }
        index += 2
        let payloadStart = index
        while index < count, text[index] != UInt8(ascii: "?") {
            let byte = text[index]
            guard byte > 0x20 && byte < 0x7F else { return nil }
            index += 1
        }
        guard index + 1 < count, text[index + 1] == UInt8(ascii: "=") else { return nil }
        let payload = UnsafeBufferPointer(rebasing: text[payloadStart..<index])
        let decoded = encoding == UInt8(ascii: "q") ? decodeQ(payload) : decodeBase64(payload)
        guard let bytes = decoded else { return nil }
        return (Word(charset: charset, bytes: bytes), index + 2)
    }

    /// RFC 2047 token: any CHAR except SPACE, CTLs and especials.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        guard byte > 0x20 && byte < 0x7F else { return false }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\""), UInt8(ascii: "/"),
            UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "?"), UInt8(ascii: "."), UInt8(ascii: "="):
            return false
        default:
            return true
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        // Lower-case hex is not RFC 2047 but some encoders emit it; it is unambiguous.
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// Q encoding (RFC 2047 §4.2): "_" is SP, "=XX" a hex octet, other printables literal.
    private static func decodeQ(_ payload: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count)
        var index = 0
        while index < payload.count {
            let byte = payload[index]
            if byte == UInt8(ascii: "_") {
                out.append(0x20)
                index += 1
            } else if byte == UInt8(ascii: "=") {
                guard index + 2 < payload.count,
                    let high = hexValue(payload[index + 1]), let low = hexValue(payload[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    private static func base64Value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    /// B encoding (RFC 2047 §4.1, base64 of RFC 2045). Missing "=" padding is tolerated
    /// (some encoders drop it); any other non-alphabet byte makes the word malformed.
    private static func decodeBase64(_ payload: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var end = payload.count
        var padding = 0
        while end > 0 && payload[end - 1] == UInt8(ascii: "=") && padding < 2 {
            end -= 1
            padding += 1
        }
        var out: [UInt8] = []
        out.reserveCapacity(end * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for index in 0..<end {
            guard let value = base64Value(payload[index]) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // 6 leftover bits cannot come from whole octets.
        guard bits != 6 else { return nil }
        if padding > 0 && (end + padding) % 4 != 0 { return nil }
        return out
    }
}
