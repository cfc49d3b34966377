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
    /// US-ASCII, ISO-8859-1 and Windows-1252, and malformed words, are left as written.
    public static func decode(_ text: String) -> String {
        decode(text, limits: MIMELimits())
    }

    /// ``decode(_:)`` with an explicit ``MIMELimits/maxEncodedWordBytes``.
    public static func decode(_ text: String, limits: MIMELimits) -> String {
        let maxWordLength = max(8, limits.maxEncodedWordBytes)
        let input = unfoldedBytes(text)
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var pendingCharset: String?
        var pendingBytes: [UInt8] = []
        var pendingWhitespace: [UInt8] = []

        func flushPending() {
            if let charset = pendingCharset {
                out.append(contentsOf: Array((decodeCharset(pendingBytes, label: charset) ?? "").utf8))
                pendingCharset = nil
                pendingBytes = []
            }
        }

        var i = 0
        while i < input.count {
            if input[i] == ASCII.equals, i + 1 < input.count, input[i + 1] == ASCII.question,
                let word = parseWord(input, at: i, maxWordLength: maxWordLength),
                decodeCharset([], label: word.charset) != nil
            {
                if let charset = pendingCharset, charset == word.charset {
                    pendingBytes.append(contentsOf: word.bytes)
                } else {
                    flushPending()
                    pendingCharset = word.charset
                    pendingBytes = word.bytes
                }
                pendingWhitespace = []
                i = word.end
                continue
            }
            if pendingCharset != nil && ASCII.isWSP(input[i]) {
                pendingWhitespace.append(input[i])
                i += 1
                continue
            }
            flushPending()
            out.append(contentsOf: pendingWhitespace)
            pendingWhitespace = []
            out.append(input[i])
            i += 1
        }
        flushPending()
        out.append(contentsOf: pendingWhitespace)
        return String(decoding: out, as: UTF8.self)
    }

    private static func unfoldedBytes(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for b in text.utf8 where b != ASCII.cr && b != ASCII.lf { bytes.append(b) }
        return bytes
    }

    /// `encoded-word = "=?" charset "?" encoding "?" encoded-text "?="`.
    private static func parseWord(
        _ s: [UInt8], at start: Int, maxWordLength: Int
    ) -> (charset: String, bytes: [UInt8], end: Int)? {
        // The cap keeps hostile text made of many "=?" starts linear.
        let limit = s.count - start <= maxWordLength ? s.count : start + maxWordLength
        var i = start + 2
        let charsetStart = i
        while i < limit && s[i] != ASCII.question && s[i] > ASCII.space { i += 1 }
        guard i < limit, s[i] == ASCII.question, i > charsetStart else { return nil }
        let charset = String(decoding: s[charsetStart..<i], as: UTF8.self).lowercased()
        i += 1
        guard i + 1 < limit, s[i + 1] == ASCII.question else { return nil }
        let encoding = ASCII.lower(s[i])
        guard encoding == 0x71 || encoding == 0x62 else { return nil }  // q, b
        i += 2
        let textStart = i
        while i + 1 < limit && !(s[i] == ASCII.question && s[i + 1] == ASCII.equals) {
            if s[i] <= ASCII.space { return nil }
            i += 1
        }
        guard i + 1 < limit else { return nil }
        let encoded = s[textStart..<i]
        let bytes: [UInt8]
        if encoding == 0x62 {
            bytes = Base64.decode(encoded)
        } else {
            var decoded: [UInt8] = []
            var k = encoded.startIndex
            while k < encoded.endIndex {
                let b = encoded[k]
                if b == ASCII.underscore {
                    decoded.append(ASCII.space)
                } else if b == ASCII.equals, k + 2 < encoded.endIndex, let hi = ASCII.hexValue(encoded[k + 1]),
                    let lo = ASCII.hexValue(encoded[k + 2])
                {
                    decoded.append(hi << 4 | lo)
                    k += 3
                    continue
                } else {
                    decoded.append(b)
                }
                k += 1
            }
            bytes = decoded
        }
        return (charset, bytes, i + 2)
    }
}
