/// Base64 (RFC 2045 §6.8).
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0–63 for alphabet bytes, 64 for `=`, 255 for anything else.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        table[Int(ASCII.equals)] = 64
        return table
    }()

    /// Lenient: skips whitespace and non-alphabet bytes, stops at padding. A final incomplete
    /// quantum yields the whole bytes it holds.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 3 + 3)
        decodeTable.withUnsafeBufferPointer { table in
            var quantum: UInt32 = 0
            var count = 0
            for b in bytes {
                let v = table[Int(b)]
                if v == 64 { break }
                if v == 255 { continue }
                quantum = quantum << 6 | UInt32(v)
                count += 1
                if count == 4 {
                    out.append(UInt8(truncatingIfNeeded: quantum >> 16))
                    out.append(UInt8(truncatingIfNeeded: quantum >> 8))
                    out.append(UInt8(truncatingIfNeeded: quantum))
                    quantum = 0
                    count = 0
                }
            }
            if count == 2 {
                out.append(UInt8(truncatingIfNeeded: quantum >> 4))
            } else if count == 3 {
                out.append(UInt8(truncatingIfNeeded: quantum >> 10))
                out.append(UInt8(truncatingIfNeeded: quantum >> 2))
            }
        }
        return out
    }

    /// Encodes with `=` padding, a line break after every `lineLength` output bytes (none when
    /// `lineLength <= 0`) and no line break after the last line.
    public static func encode(_ bytes: ArraySlice<UInt8>, lineLength: Int = 76, lineEnding: LineEnding) -> [UInt8] {
        let eol = lineEnding.bytes
        let encodedCount = (bytes.count + 2) / 3 * 4
        var out: [UInt8] = []
        out.reserveCapacity(encodedCount + (lineLength > 0 ? encodedCount / lineLength * eol.count : 0))
        var column = 0
        alphabet.withUnsafeBufferPointer { abc in
            @inline(__always) func put(_ c: UInt8) {
                if lineLength > 0 && column == lineLength {
                    out.append(contentsOf: eol)
                    column = 0
                }
                out.append(c)
                column += 1
            }
            var i = bytes.startIndex
            while i + 3 <= bytes.endIndex {
                let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                put(abc[Int(v >> 18 & 63)])
                put(abc[Int(v >> 12 & 63)])
                put(abc[Int(v >> 6 & 63)])
                put(abc[Int(v & 63)])
                i += 3
            }
            let rest = bytes.endIndex - i
            if rest == 1 {
                let v = UInt32(bytes[i]) << 16
                put(abc[Int(v >> 18 & 63)])
                put(abc[Int(v >> 12 & 63)])
                put(ASCII.equals)
                put(ASCII.equals)
            } else if rest == 2 {
                let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
                put(abc[Int(v >> 18 & 63)])
                put(abc[Int(v >> 12 & 63)])
                put(abc[Int(v >> 6 & 63)])
                put(ASCII.equals)
            }
        }
        return out
    }
}

/// Decoding of a body according to its Content-Transfer-Encoding.
public enum TransferCoding {
    /// Quoted-printable and base64 are decoded leniently; 7bit, 8bit, binary and unknown
    /// encodings return the bytes unchanged.
    public static func decode(_ body: ArraySlice<UInt8>, _ encoding: TransferEncoding) -> [UInt8] {
        switch encoding {
        case .quotedPrintable: return QuotedPrintable.decode(body)
        case .base64: return Base64.decode(body)
        case .sevenBit, .eightBit, .binary, .other: return Array(body)
        }
    }
}
