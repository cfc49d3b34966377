/// Table-driven base64 over bytes: base64url without padding for tokens (RFC 4648 §5) and the
/// standard alphabet with padding for the key ring file (RFC 4648 §4).
enum Base64 {
    /// The two alphabets of RFC 4648.
    enum Alphabet {
        case standard
        case url
    }

    private static let standardTable: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlTable: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0xFF marks a byte outside the alphabet.
    private static let urlDecodeTable: [UInt8] = makeDecodeTable(urlTable)
    private static let standardDecodeTable: [UInt8] = makeDecodeTable(standardTable)

    private static func makeDecodeTable(_ alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, symbol) in alphabet.enumerated() {
            table[Int(symbol)] = UInt8(value)
        }
        return table
    }

    /// Number of characters `count` bytes take (url: no padding; standard: padded).
    static func encodedCount(_ count: Int, alphabet: Alphabet) -> Int {
        switch alphabet {
        case .url: return (count / 3) * 4 + [0, 2, 3][count % 3]
        case .standard: return (count + 2) / 3 * 4
        }
    }

    /// Appends the encoding of `input` to `output`.
    static func encode(_ input: UnsafeRawBufferPointer, alphabet: Alphabet, into output: inout [UInt8]) {
        let table = alphabet == .url ? urlTable : standardTable
        let start = output.count
        let needed = encodedCount(input.count, alphabet: alphabet)
        output.append(contentsOf: repeatElement(UInt8(ascii: "="), count: needed))
        table.withUnsafeBufferPointer { t in
            output.withUnsafeMutableBufferPointer { out in
                let n = input.count
                var i = 0
                var o = start
                // `i + 2 < n` keeps every read in bounds; table indexes are 6-bit values; `o`
                // stays below `start + needed` because every 3 bytes write exactly 4 symbols.
                while i + 2 < n {
                    let b0 = input[i]
                    let b1 = input[i + 1]
                    let b2 = input[i + 2]
                    out[o] = t[Int(b0 >> 2)]
                    out[o + 1] = t[Int((b0 & 0x03) << 4 | b1 >> 4)]
                    out[o + 2] = t[Int((b1 & 0x0F) << 2 | b2 >> 6)]
                    out[o + 3] = t[Int(b2 & 0x3F)]
                    i += 3
                    o += 4
                }
                // The tail; standard padding is already in place from the fill above.
                let rest = n - i
                if rest == 1 {
                    let b0 = input[i]
                    out[o] = t[Int(b0 >> 2)]
                    out[o + 1] = t[Int((b0 & 0x03) << 4)]
                } else if rest == 2 {
                    let b0 = input[i]
                    let b1 = input[i + 1]
                    out[o] = t[Int(b0 >> 2)]
                    out[o + 1] = t[Int((b0 & 0x03) << 4 | b1 >> 4)]
                    out[o + 2] = t[Int((b1 & 0x0F) << 2)]
                }
            }
        }
    }

    /// Encodes `bytes` as a String.
    static func encodeToString(_ bytes: [UInt8], alphabet: Alphabet) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { encode($0, alphabet: alphabet, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `input`; nil when a byte is outside the alphabet, the length is impossible, or
    /// the unused low bits of the last symbol are not zero (so every byte string has exactly
    /// one accepted encoding: flipping any character of a token changes its bytes).
    /// `.standard` accepts input with or without `=` padding.
    static func decode(_ input: UnsafeBufferPointer<UInt8>, alphabet: Alphabet) -> [UInt8]? {
        var n = input.count
        if alphabet == .standard {
            if n % 4 != 0 && n > 0 && input[n - 1] == UInt8(ascii: "=") { return nil }
            if n >= 4 && n % 4 == 0 {
                if input[n - 1] == UInt8(ascii: "=") { n -= 1 }
                if input[n - 1] == UInt8(ascii: "=") { n -= 1 }
            }
        }
        if n % 4 == 1 { return nil }
        let table = alphabet == .url ? urlDecodeTable : standardDecodeTable
        return table.withUnsafeBufferPointer { t -> [UInt8]? in
            var out = [UInt8]()
            out.reserveCapacity(n / 4 * 3 + 2)
            var i = 0
            while i + 3 < n {
                let a = t[Int(input[i])]
                let b = t[Int(input[i + 1])]
                let c = t[Int(input[i + 2])]
                let d = t[Int(input[i + 3])]
                if (a | b | c | d) & 0xC0 != 0 { return nil }
                out.append(a << 2 | b >> 4)
                out.append((b & 0x0F) << 4 | c >> 2)
                out.append((c & 0x03) << 6 | d)
                i += 4
            }
            let rest = n - i
            if rest == 2 {
                let a = t[Int(input[i])]
                let b = t[Int(input[i + 1])]
                if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { return nil }
                out.append(a << 2 | b >> 4)
            } else if rest == 3 {
                let a = t[Int(input[i])]
                let b = t[Int(input[i + 1])]
                let c = t[Int(input[i + 2])]
                if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { return nil }
                out.append(a << 2 | b >> 4)
                out.append((b & 0x0F) << 4 | c >> 2)
            }
            return out
        }
    }

    /// Decodes a byte array slice.
    static func decode(_ input: ArraySlice<UInt8>, alphabet: Alphabet) -> [UInt8]? {
        input.withUnsafeBufferPointer { decode($0, alphabet: alphabet) }
    }
}
