/// Base64 (RFC 2045 §6.8).
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0–63 for alphabet bytes, 64 for `=`, 255 for anything else.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        table[Int(ASCII.equals)] = 64
        return table
    }()

    /// The 6-bit value of an alphabet byte; nil for `=` and anything else.
    @inline(__always) static func value(of byte: UInt8) -> UInt8? {
        let v = decodeTable[Int(byte)]
        return v < 64 ? v : nil
    }

    /// Lenient: skips whitespace and non-alphabet bytes, stops at padding. A final incomplete
    /// quantum yields the whole bytes it holds.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        decodeTable.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { src in
                [UInt8](unsafeUninitializedCapacity: src.count / 4 * 3 + 3) { out, written in
                    var w = 0
                    var quantum: UInt32 = 0
                    var count = 0
                    for b in src {
                        let v = table[Int(b)]
                        if v == 64 { break }
                        if v == 255 { continue }
                        quantum = quantum << 6 | UInt32(v)
                        count += 1
                        if count == 4 {
                            out[w] = UInt8(truncatingIfNeeded: quantum >> 16)
                            out[w + 1] = UInt8(truncatingIfNeeded: quantum >> 8)
                            out[w + 2] = UInt8(truncatingIfNeeded: quantum)
                            w += 3
                            quantum = 0
                            count = 0
                        }
                    }
                    if count == 2 {
                        out[w] = UInt8(truncatingIfNeeded: quantum >> 4)
                        w += 1
                    } else if count == 3 {
                        out[w] = UInt8(truncatingIfNeeded: quantum >> 10)
                        out[w + 1] = UInt8(truncatingIfNeeded: quantum >> 2)
                        w += 2
                    }
                    written = w
                }
            }
        }
    }

    /// Strict decoding for bodies the caller means to rewrite: nil unless the input is only
    /// alphabet bytes and line whitespace (CR, LF, space, tab), with `=` padding only at the end
    /// and no lone final sextet. Missing padding is accepted. A body that fails here is not
    /// base64 in any useful sense and is best left untouched.
    public static func decodeIfValid(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
        var sextets = 0
        var padding = 0
        let valid: Bool = decodeTable.withUnsafeBufferPointer { table in
            for b in bytes {
                let v = table[Int(b)]
                if v == 255 {
                    if b == ASCII.cr || b == ASCII.lf || b == ASCII.space || b == ASCII.tab { continue }
                    return false
                }
                if v == 64 {
                    padding += 1
                    continue
                }
                if padding > 0 { return false }  // data after padding
                sextets += 1
            }
            return true
        }
        guard valid, sextets % 4 != 1, padding <= 2 else { return nil }
        if padding > 0 && (sextets + padding) % 4 != 0 { return nil }
        return decode(bytes)
    }

    /// Encodes with `=` padding, a line break after every `lineLength` output bytes (none when
    /// `lineLength <= 0`) and no line break after the last line.
    public static func encode(_ bytes: ArraySlice<UInt8>, lineLength: Int = 76, lineEnding: LineEnding) -> [UInt8] {
        let eolLength = lineEnding == .crlf ? 2 : 1
        let encodedCount = (bytes.count + 2) / 3 * 4
        let breaks = lineLength > 0 && encodedCount > 0 ? (encodedCount - 1) / lineLength : 0
        let total = encodedCount + breaks * eolLength
        return alphabet.withUnsafeBufferPointer { abc in
            bytes.withUnsafeBufferPointer { src in
                [UInt8](unsafeUninitializedCapacity: total) { out, written in
                    var w = 0
                    var column = 0
                    @inline(__always) func put(_ c: UInt8) {
                        if lineLength > 0 && column == lineLength {
                            if eolLength == 2 {
                                out[w] = ASCII.cr
                                w += 1
                            }
                            out[w] = ASCII.lf
                            w += 1
                            column = 0
                        }
                        out[w] = c
                        w += 1
                        column += 1
                    }
                    var i = 0
                    let n = src.count
                    while i + 3 <= n {
                        let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                        put(abc[Int(v >> 18 & 63)])
                        put(abc[Int(v >> 12 & 63)])
                        put(abc[Int(v >> 6 & 63)])
                        put(abc[Int(v & 63)])
                        i += 3
                    }
                    if n - i == 1 {
                        let v = UInt32(src[i]) << 16
                        put(abc[Int(v >> 18 & 63)])
                        put(abc[Int(v >> 12 & 63)])
                        put(ASCII.equals)
                        put(ASCII.equals)
                    } else if n - i == 2 {
                        let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8
                        put(abc[Int(v >> 18 & 63)])
                        put(abc[Int(v >> 12 & 63)])
                        put(abc[Int(v >> 6 & 63)])
                        put(ASCII.equals)
                    }
                    written = w
                }
            }
        }
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
