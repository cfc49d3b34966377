import MailBytes

/// RFC 2047 encoded-words: writing display names, reading unstructured values.
public enum EncodedWord {
    /// RFC 2047 encode a display name for a header: returns it unchanged if it is printable
    /// ASCII that needs no quoting, as an RFC 5322 quoted-string if it only needs quoting, else
    /// as UTF-8 Q or B encoded-words (each ≤ 75 chars) separated by folding whitespace.
    ///
    /// Decisions: "needs no quoting" means atoms (RFC 5322 atext) separated by single spaces;
    /// text containing `=?` is quoted so no reader decodes it. Encoded-words hold whole Unicode
    /// scalars (never a split UTF-8 sequence) and are separated by one space, where a header
    /// writer may fold. Q is chosen when at most a third of the UTF-8 bytes need escaping (Latin
    /// names stay readable), B otherwise. Control characters (other than
    /// tab) are encoded.
    public static func encodeDisplayName(_ name: String) -> String {
        let bytes = Array(name.utf8)
        var printable = true
        for b in bytes where b < 0x20 || b > 0x7E {
            printable = false
            break
        }
        if printable {
            if isPhraseOfAtoms(bytes) { return name }
            var quoted: [UInt8] = [ASCII.quote]
            for b in bytes {
                if b == ASCII.quote || b == ASCII.backslash { quoted.append(ASCII.backslash) }
                quoted.append(b)
            }
            quoted.append(ASCII.quote)
            return String(decoding: quoted, as: UTF8.self)
        }
        return encodeWords(name)
    }

    private static func isAtext(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(b)
        }
    }

    private static func isPhraseOfAtoms(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, let last = bytes.last, first != ASCII.space, last != ASCII.space else {
            return false
        }
        var previous: UInt8 = 0
        for b in bytes {
            if b == ASCII.space {
                if previous == ASCII.space { return false }
            } else if !isAtext(b) {
                return false
            }
            if b == ASCII.question && previous == ASCII.equals { return false }
            previous = b
        }
        return true
    }

    /// RFC 2047 §5(3): characters allowed unencoded in a Q encoded-word inside a phrase.
    private static func isQSafe(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x21, 0x2A, 0x2B, 0x2D, 0x2F: return true
        default: return false
        }
    }

    private static func encodeWords(_ name: String) -> String {
        let utf8 = Array(name.utf8)
        var unsafeCount = 0
        for b in utf8 where !isQSafe(b) && b != ASCII.space { unsafeCount += 1 }
        // Q keeps mostly-Latin names readable; B is shorter for other scripts.
        let useQ = unsafeCount * 3 <= utf8.count
        let prefix = useQ ? "=?UTF-8?Q?" : "=?UTF-8?B?"
        let maxPayload = 75 - prefix.utf8.count - 2

        var words: [String] = []
        var chunk: [UInt8] = []  // raw bytes of the current word (B) or encoded text (Q)
        var chunkRaw: [UInt8] = []
        func flush() {
            guard !chunkRaw.isEmpty else { return }
            let payload = useQ ? chunk : Base64.encode(chunkRaw[...], lineLength: 0, lineEnding: .crlf)
            words.append(prefix + String(decoding: payload, as: UTF8.self) + "?=")
            chunk = []
            chunkRaw = []
        }
        for scalar in name.unicodeScalars {
            let raw = Array(String(scalar).utf8)
            if useQ {
                var encoded: [UInt8] = []
                for b in raw {
                    if b == ASCII.space {
                        encoded.append(ASCII.underscore)
                    } else if isQSafe(b) {
                        encoded.append(b)
                    } else {
                        encoded.append(ASCII.equals)
                        encoded.append(ASCII.upperHexDigits[Int(b >> 4)])
                        encoded.append(ASCII.upperHexDigits[Int(b & 0x0F)])
                    }
                }
                if chunk.count + encoded.count > maxPayload { flush() }
                chunk.append(contentsOf: encoded)
                chunkRaw.append(contentsOf: raw)
            } else {
                if (chunkRaw.count + raw.count + 2) / 3 * 4 > maxPayload { flush() }
                chunkRaw.append(contentsOf: raw)
            }
        }
        flush()
        return words.joined(separator: " ")
    }

    /// Decode RFC 2047 encoded-words in an unstructured header value (for Subject in events).
    ///
    /// Decisions: folds are unfolded first; whitespace between two encoded-words is dropped
    /// (RFC 2047 §6.2); adjacent encoded-words in the same charset are joined before charset
    /// decoding so a character split across words survives; encoded-words are recognised even
    /// when glued to other text (common in the wild); words in charsets other than UTF-8,
    /// US-ASCII, ISO-8859-1 and Windows-1252, malformed words and words whose bytes are invalid
    /// in their charset are left as written (RFC 2047 §6.3).
    public static func decode(_ text: String) -> String {
        decode(text, limits: MIMELimits())
    }

    /// ``decode(_:)`` with an explicit ``MIMELimits/maxEncodedWordBytes``.
    public static func decode(_ text: String, limits: MIMELimits) -> String {
        let maxWordLength = max(8, limits.maxEncodedWordBytes)
        let input = unfoldedBytes(text)
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        // A run of words in one charset, joined before conversion: its charset, decoded bytes and
        // where it starts and ends in `input` (written as it was when it does not convert).
        var pending: (charset: HeaderCharset, bytes: [UInt8], start: Int, end: Int)?

        func flushPending() {
            guard let run = pending else { return }
            if let decoded = run.charset.decode(run.bytes) {
                out.append(contentsOf: decoded.utf8)
            } else {
                out.append(contentsOf: input[run.start..<run.end])
            }
            pending = nil
        }

        var i = 0
        var whitespaceStart = -1  // start of the whitespace after a word, while it may be dropped
        while i < input.count {
            if input[i] == ASCII.equals, i + 1 < input.count, input[i + 1] == ASCII.question,
                let word = parseWord(input, at: i, limit: min(input.count, i + maxWordLength))
            {
                if let run = pending, run.charset == word.charset {
                    pending = (run.charset, run.bytes + word.bytes, run.start, word.end)
                } else {
                    flushPending()
                    pending = (word.charset, word.bytes, i, word.end)
                }
                whitespaceStart = -1
                i = word.end
                continue
            }
            if pending != nil && ASCII.isWSP(input[i]) {
                if whitespaceStart < 0 { whitespaceStart = i }
                i += 1
                continue
            }
            flushPending()
            if whitespaceStart >= 0 {
                out.append(contentsOf: input[whitespaceStart..<i])
                whitespaceStart = -1
            }
            out.append(input[i])
            i += 1
        }
        flushPending()
        if whitespaceStart >= 0 { out.append(contentsOf: input[whitespaceStart...]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// When `text` is one or more encoded-words separated by whitespace (SP, HTAB, CR, LF) and
    /// nothing else (no whitespace before the first or after the last), their decoded text with
    /// the whitespace between them dropped (RFC 2047 §6.2); otherwise `nil`, and the caller keeps
    /// the text as written. Adjacent words in one charset are joined before conversion, as in
    /// ``decode(_:)``. This is how the `X-MSYS-API` header reads a whole JSON string or value.
    public static func decodeIfEntirely(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        let count = text.count
        guard count >= 8, text[0] == ASCII.equals, text[1] == ASCII.question,
            text[count - 2] == ASCII.question, text[count - 1] == ASCII.equals
        else { return nil }
        var decoded = ""
        var run: (charset: HeaderCharset, bytes: [UInt8])?
        var index = 0
        while index < count {
            if ASCII.isFWS(text[index]) {
                index += 1
                continue
            }
            guard let word = parseWord(text, at: index, limit: count) else { return nil }
            // An encoded-word must be followed by whitespace or the end (RFC 2047 §5).
            guard word.end == count || ASCII.isFWS(text[word.end]) else { return nil }
            if let current = run, current.charset == word.charset {
                run = (current.charset, current.bytes + word.bytes)
            } else {
                if let current = run {
                    guard let piece = current.charset.decode(current.bytes) else { return nil }
                    decoded += piece
                }
                run = (word.charset, word.bytes)
            }
            index = word.end
        }
        guard let last = run, let piece = last.charset.decode(last.bytes) else { return nil }
        return decoded + piece
    }

    private static func unfoldedBytes(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for b in text.utf8 where b != ASCII.cr && b != ASCII.lf { bytes.append(b) }
        return bytes
    }

    /// `encoded-word = "=?" charset "?" encoding "?" encoded-text "?="` (RFC 2047 §2) starting at
    /// `start` and ending before `limit`: its charset, its decoded (not yet converted) bytes and
    /// the offset just past it. `nil` for a malformed word or a charset ``HeaderCharset`` does not
    /// know. The 75-character limit of §2 is not enforced (long words are common and unambiguous);
    /// the caller's `limit` keeps hostile text made of many "=?" starts linear.
    private static func parseWord<Text: RandomAccessCollection<UInt8>>(
        _ s: Text, at start: Int, limit: Int
    ) -> (charset: HeaderCharset, bytes: [UInt8], end: Int)? where Text.Index == Int {
        guard start + 1 < limit, s[start] == ASCII.equals, s[start + 1] == ASCII.question else { return nil }
        var i = start + 2
        let charsetStart = i
        while i < limit, s[i] != ASCII.question {
            guard isTokenByte(s[i]) else { return nil }
            i += 1
        }
        guard i < limit, i > charsetStart, let charset = HeaderCharset(label: s[charsetStart..<i]) else { return nil }
        i += 1
        guard i + 1 < limit, s[i + 1] == ASCII.question else { return nil }
        let encoding = ASCII.lower(s[i])
        guard encoding == 0x71 || encoding == 0x62 else { return nil }  // q, b
        i += 2
        let textStart = i
        while i < limit, s[i] != ASCII.question {
            guard s[i] > ASCII.space && s[i] < 0x7F else { return nil }
            i += 1
        }
        guard i + 1 < limit, s[i + 1] == ASCII.equals else { return nil }
        let encoded = s[textStart..<i]
        guard let bytes = encoding == 0x62 ? decodeB(encoded) : decodeQ(encoded) else { return nil }
        return (charset, bytes, i + 2)
    }

    /// RFC 2047 token byte (any CHAR but SPACE, CTLs and especials), plus `*` for RFC 2231's
    /// language suffix.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        guard byte > ASCII.space && byte < 0x7F else { return false }
        switch byte {
        case 0x28, 0x29, 0x3C, 0x3E, 0x40, 0x2C, 0x3B, 0x3A, 0x22, 0x2F, 0x5B, 0x5D, 0x3F, 0x2E, 0x3D:
            return false  // ( ) < > @ , ; : " / [ ] ? . =
        default:
            return true
        }
    }

    /// Q encoding (RFC 2047 §4.2): "_" is SP, "=XX" a hex octet (lower-case hex accepted), other
    /// printables literal. A "=" not followed by two hex digits makes the word malformed.
    private static func decodeQ<Text: Collection<UInt8>>(_ encoded: Text) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count)
        var k = encoded.startIndex
        while k != encoded.endIndex {
            let b = encoded[k]
            if b == ASCII.equals {
                let high = encoded.index(after: k)
                guard high != encoded.endIndex else { return nil }
                let low = encoded.index(after: high)
                guard low != encoded.endIndex, let hi = ASCII.hexValue(encoded[high]),
                    let lo = ASCII.hexValue(encoded[low])
                else { return nil }
                out.append(hi << 4 | lo)
                k = encoded.index(after: low)
                continue
            }
            out.append(b == ASCII.underscore ? ASCII.space : b)
            k = encoded.index(after: k)
        }
        return out
    }

    /// B encoding (RFC 2047 §4.1). Missing "=" padding is tolerated (some encoders drop it); any
    /// other byte outside the alphabet, or a dangling 6 bits, makes the word malformed.
    private static func decodeB<Text: Collection<UInt8>>(_ encoded: Text) -> [UInt8]? {
        let payload = Array(encoded)
        var end = payload.count
        var padding = 0
        while end > 0 && payload[end - 1] == ASCII.equals && padding < 2 {
            end -= 1
            padding += 1
        }
        var out: [UInt8] = []
        out.reserveCapacity(end * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in payload[..<end] {
            guard let value = Base64.value(of: byte) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard bits != 6 else { return nil }
        if padding > 0 && (end + padding) % 4 != 0 { return nil }
        return out
    }
}
