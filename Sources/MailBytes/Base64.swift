/// Base64 over bytes in both alphabets of RFC 4648: the standard one (§4) for MIME bodies
/// (RFC 2045 §6.8), RFC 2047 words and the key ring file, the URL-safe one (§5, unpadded) for
/// tracking tokens.
///
/// Two kinds of decoding: MIME's (``decode(_:)`` lenient, ``decodeIfValid(_:)`` strict enough to
/// rewrite a body) and the canonical one of tokens and keys (``decode(_:alphabet:)``: exactly one
/// accepted encoding per byte string).
public enum Base64 {
    /// The two alphabets of RFC 4648.
    package enum Alphabet: Sendable {
        /// `A–Z a–z 0–9 + /`, with `=` padding.
        case standard
        /// `A–Z a–z 0–9 - _`, without padding.
        case url
    }

    private static let standardSymbols: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSymbols: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0–63 for alphabet bytes, 64 for `=`, 255 for anything else.
    private static let standardValues: [UInt8] = makeDecodeTable(standardSymbols)
    private static let urlValues: [UInt8] = makeDecodeTable(urlSymbols)

    private static func makeDecodeTable(_ symbols: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: 255, count: 256)
        for (value, symbol) in symbols.enumerated() { table[Int(symbol)] = UInt8(value) }
        table[Int(ASCII.equals)] = 64
        return table
    }

    /// The 6-bit value of a standard-alphabet byte; nil for `=` and anything else.
    @inline(__always) package static func value(of byte: UInt8) -> UInt8? {
        let v = standardValues[Int(byte)]
        return v < 64 ? v : nil
    }

    // MARK: MIME

    /// Lenient: skips whitespace and non-alphabet bytes, stops at padding. A final incomplete
    /// quantum yields the whole bytes it holds.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        standardValues.withUnsafeBufferPointer { table in
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
                            putQuantum(quantum, into: out, at: &w)
                            quantum = 0
                            count = 0
                        }
                    }
                    putPartialQuantum(quantum, sextets: count, into: out, at: &w)
                    written = w
                }
            }
        }
    }

    /// Writes the three bytes of a whole quantum (four sextets) at `w` and moves `w` past them.
    @inline(__always)
    private static func putQuantum(_ quantum: UInt32, into out: UnsafeMutableBufferPointer<UInt8>, at w: inout Int) {
        out[w] = UInt8(truncatingIfNeeded: quantum >> 16)
        out[w + 1] = UInt8(truncatingIfNeeded: quantum >> 8)
        out[w + 2] = UInt8(truncatingIfNeeded: quantum)
        w += 3
    }

    /// Writes the whole bytes a final quantum of 2 or 3 sextets holds (1 or 2); nothing for
    /// fewer sextets.
    @inline(__always)
    private static func putPartialQuantum(
        _ quantum: UInt32, sextets: Int, into out: UnsafeMutableBufferPointer<UInt8>, at w: inout Int
    ) {
        if sextets == 2 {
            out[w] = UInt8(truncatingIfNeeded: quantum >> 4)
            w += 1
        } else if sextets == 3 {
            out[w] = UInt8(truncatingIfNeeded: quantum >> 10)
            out[w + 1] = UInt8(truncatingIfNeeded: quantum >> 2)
            w += 2
        }
    }

    /// Strict decoding for bodies the caller means to rewrite: nil unless the input is only
    /// alphabet bytes and line whitespace (CR, LF, space, tab), with `=` padding only at the end
    /// and no lone final sextet. Missing padding is accepted. A body that fails here is not
    /// base64 in any useful sense and is best left untouched.
    public static func decodeIfValid(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
        // One pass that checks and decodes together (what `decode` yields for valid input: it
        // stops at the first `=` and skips the whitespace).
        var valid = true
        let decoded: [UInt8] = standardValues.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { src in
                [UInt8](unsafeUninitializedCapacity: src.count / 4 * 3 + 3) { out, written in
                    var w = 0
                    var quantum: UInt32 = 0
                    var count = 0
                    var sextets = 0
                    var padding = 0
                    var k = 0
                    let n = src.count
                    while k < n {
                        // Fast path: a whole quantum of alphabet bytes (most of every line).
                        if count == 0 && padding == 0 && k + 4 <= n {
                            let v0 = table[Int(src[k])]
                            let v1 = table[Int(src[k + 1])]
                            let v2 = table[Int(src[k + 2])]
                            let v3 = table[Int(src[k + 3])]
                            if v0 | v1 | v2 | v3 < 64 {
                                let q = UInt32(v0) << 18 | UInt32(v1) << 12 | UInt32(v2) << 6 | UInt32(v3)
                                putQuantum(q, into: out, at: &w)
                                sextets += 4
                                k += 4
                                continue
                            }
                        }
                        let b = src[k]
                        k += 1
                        let v = table[Int(b)]
                        if v == 255 {
                            if b == ASCII.cr || b == ASCII.lf || b == ASCII.space || b == ASCII.tab { continue }
                            valid = false
                            break
                        }
                        if v == 64 {
                            padding += 1
                            continue
                        }
                        if padding > 0 {  // data after padding
                            valid = false
                            break
                        }
                        sextets += 1
                        quantum = quantum << 6 | UInt32(v)
                        count += 1
                        if count == 4 {
                            putQuantum(quantum, into: out, at: &w)
                            quantum = 0
                            count = 0
                        }
                    }
                    if valid {
                        valid = sextets % 4 != 1 && padding <= 2 && (padding == 0 || (sextets + padding) % 4 == 0)
                    }
                    if valid { putPartialQuantum(quantum, sextets: count, into: out, at: &w) }
                    written = w
                }
            }
        }
        return valid ? decoded : nil
    }

    /// Encodes with `=` padding, a line break after every `lineLength` output bytes (none when
    /// `lineLength <= 0`) and no line break after the last line.
    public static func encode(_ bytes: ArraySlice<UInt8>, lineLength: Int = 76, lineEnding: LineEnding) -> [UInt8] {
        let eolLength = lineEnding == .crlf ? 2 : 1
        let encodedCount = (bytes.count + 2) / 3 * 4
        let breaks = lineLength > 0 && encodedCount > 0 ? (encodedCount - 1) / lineLength : 0
        let total = encodedCount + breaks * eolLength
        return standardSymbols.withUnsafeBufferPointer { abc in
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

    // MARK: Tokens and keys

    /// Number of symbols `count` bytes take (url: no padding; standard: padded).
    package static func encodedCount(_ count: Int, alphabet: Alphabet) -> Int {
        switch alphabet {
        case .url: return (count / 3) * 4 + [0, 2, 3][count % 3]
        case .standard: return (count + 2) / 3 * 4
        }
    }

    /// Appends the encoding of `input` to `output`, on one line.
    package static func encode(_ input: UnsafeRawBufferPointer, alphabet: Alphabet, into output: inout [UInt8]) {
        let symbols = alphabet == .url ? urlSymbols : standardSymbols
        let start = output.count
        let needed = encodedCount(input.count, alphabet: alphabet)
        output.append(contentsOf: repeatElement(ASCII.equals, count: needed))
        symbols.withUnsafeBufferPointer { t in
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

    /// Encodes `bytes` as a String, on one line.
    package static func encodeToString(_ bytes: [UInt8], alphabet: Alphabet) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { encode($0, alphabet: alphabet, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Canonical decoding: nil when a byte is outside the alphabet, the length is impossible,
    /// or the unused low bits of the last symbol are not zero (so every byte string has exactly
    /// one accepted encoding: flipping any character of a token changes its bytes).
    /// `.standard` accepts input with or without `=` padding; `.url` takes none.
    package static func decode(_ input: UnsafeBufferPointer<UInt8>, alphabet: Alphabet) -> [UInt8]? {
        var n = input.count
        if alphabet == .standard {
            if n % 4 != 0 && n > 0 && input[n - 1] == ASCII.equals { return nil }
            if n >= 4 && n % 4 == 0 {
                if input[n - 1] == ASCII.equals { n -= 1 }
                if input[n - 1] == ASCII.equals { n -= 1 }
            }
        }
        if n % 4 == 1 { return nil }
        // `=` (64) and bytes outside the alphabet (255) both have a bit of 0xC0 set.
        let table = alphabet == .url ? urlValues : standardValues
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

    /// Canonical decoding of a byte array slice (see ``decode(_:alphabet:)``).
    package static func decode(_ input: ArraySlice<UInt8>, alphabet: Alphabet) -> [UInt8]? {
        input.withUnsafeBufferPointer { decode($0, alphabet: alphabet) }
    }
}
