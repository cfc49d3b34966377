import TestSupport
import Testing

@testable import MIME

@Suite struct QuotedPrintableTests {
    private func decode(_ s: String) -> [UInt8] { QuotedPrintable.decode(bytes(s)[...]) }

    @Test func decodeGolden() {
        #expect(decode("a=3Db=\r\nc  \r\nd=20\r\n=XY=4") == bytes("a=bc\r\nd \r\n=XY=4"))
        #expect(decode("ab=\ncd\n") == bytes("abcd\n"))
        #expect(decode("soft with padding=  \r\nnext") == bytes("soft with paddingnext"))
        #expect(decode("=c3=a9=C3=A9") == [0xC3, 0xA9, 0xC3, 0xA9])
        #expect(decode("tab\t\nend=") == bytes("tab\nend"))
        #expect(decode("bare\rcr") == bytes("bare\rcr"))
        #expect(decode("") == [])
    }

    private func encode(_ s: [UInt8], _ eol: LineEnding = .crlf) -> [UInt8] {
        var e = QuotedPrintableEncoder(lineEnding: eol)
        e.append(s[...])
        e.finish()
        return e.output
    }

    @Test func encodeGolden() {
        #expect(encode(bytes("a=b")) == bytes("a=3Db"))
        #expect(encode(bytes("trailing \nnext")) == bytes("trailing=20\r\nnext"))
        #expect(encode(bytes("tab\t")) == bytes("tab=09"))
        #expect(encode(bytes("two  \r\n")) == bytes("two =20\r\n"))
        #expect(encode(bytes("a\rb")) == bytes("a=0Db"))
        #expect(encode(bytes("a\r\nb"), .lf) == bytes("a\nb"))
        #expect(encode(bytes(".dot\nFrom x")) == bytes(".dot\r\nFrom x"))
        let x80 = [UInt8](repeating: 0x78, count: 80)
        #expect(
            encode(x80) == [UInt8](repeating: 0x78, count: 75) + bytes("=\r\n") + [UInt8](repeating: 0x78, count: 5))
        // Never splits a triplet: 74 + "é" does not fit in 75 columns.
        let x74 = [UInt8](repeating: 0x78, count: 74)
        #expect(encode(x74 + [0xC3, 0xA9]) == x74 + bytes("=\r\n=C3=A9"))
        #expect(encode([0, 0x7F, 0xFF]) == bytes("=00=7F=FF"))
    }

    @Test func softBreakAroundHoles() {
        var e = QuotedPrintableEncoder(lineEnding: .crlf)
        e.append(bytes("hello ")[...])
        e.softBreak()
        #expect(e.output == bytes("hello =\r\n"))
        #expect(e.column == 0)
        e.softBreak()
        #expect(e.output == bytes("hello =\r\n"))
        let first = e.takeOutput()
        #expect(first == bytes("hello =\r\n"))
        #expect(e.output.isEmpty)
        e.append(bytes("world\r")[...])
        e.softBreak()
        e.append(bytes("\n")[...])
        e.finish()
        #expect(e.output == bytes("world=0D=\r\n\r\n"))
    }

    @Test func narrowLines() {
        var e = QuotedPrintableEncoder(lineEnding: .lf, maxLineLength: 10)
        e.append(bytes("0123456789abc=")[...])
        e.finish()
        #expect(e.output == bytes("012345678=\n9abc=3D"))
    }

    /// Round trip of seeded random bytes, in one piece and in random chunks; line rules checked.
    @Test(arguments: [LineEnding.crlf, .lf])
    func roundTrip(eol: LineEnding) {
        var rng = SeededGenerator(seed: 0x51_7E_AD)
        let interesting: [UInt8] = [10, 13, 32, 9, 61, 46, 0, 255, 0x41]
        for _ in 0..<400 {
            let n = Int.random(in: 0...600, using: &rng)
            var input: [UInt8] = []
            for _ in 0..<n {
                input.append(
                    Bool.random(using: &rng)
                        ? interesting.randomElement(using: &rng) ?? 0 : UInt8.random(in: 0...255, using: &rng))
            }
            var whole = QuotedPrintableEncoder(lineEnding: eol)
            whole.append(input[...])
            whole.finish()
            var chunked = QuotedPrintableEncoder(lineEnding: eol)
            var i = 0
            while i < input.count {
                let j = min(input.count, i + Int.random(in: 0...40, using: &rng))
                chunked.append(input[i..<j])
                i = j
            }
            chunked.finish()
            #expect(chunked.output == whole.output)
            let encoded = whole.output
            #expect(QuotedPrintable.decode(encoded[...]) == normalizeBreaks(input, eol))
            checkLines(encoded, eol)
        }
    }

    /// Expected decoded form: every hard line break written as `eol`; bare CR kept.
    private func normalizeBreaks(_ input: [UInt8], _ eol: LineEnding) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            if input[i] == 13 && i + 1 < input.count && input[i + 1] == 10 {
                out += eol.bytes
                i += 2
            } else if input[i] == 10 {
                out += eol.bytes
                i += 1
            } else {
                out.append(input[i])
                i += 1
            }
        }
        return out
    }

    private func checkLines(_ encoded: [UInt8], _ eol: LineEnding) {
        var lines: [[UInt8]] = [[]]
        var i = 0
        while i < encoded.count {
            if eol == .crlf && encoded[i] == 13 && i + 1 < encoded.count && encoded[i + 1] == 10 {
                lines.append([])
                i += 2
                continue
            }
            if eol == .lf && encoded[i] == 10 {
                lines.append([])
                i += 1
                continue
            }
            lines[lines.count - 1].append(encoded[i])
            i += 1
        }
        let hex = Set(bytes("0123456789ABCDEF"))
        for line in lines {
            #expect(line.count <= 76)
            #expect(line.last != 32 && line.last != 9, "unencoded trailing whitespace")
            var k = 0
            while k < line.count {
                let b = line[k]
                #expect(b == 9 || (b >= 32 && b <= 126), "raw byte \(b) in output")
                if b == 61 {
                    if k == line.count - 1 { break }  // soft break
                    #expect(k + 2 < line.count && hex.contains(line[k + 1]) && hex.contains(line[k + 2]))
                    k += 3
                } else {
                    k += 1
                }
            }
        }
    }
}

@Suite struct Base64Tests {
    @Test func golden() {
        #expect(Base64.encode(bytes("Hello")[...], lineEnding: .crlf) == bytes("SGVsbG8="))
        #expect(Base64.encode(bytes("Hi!")[...], lineEnding: .crlf) == bytes("SGkh"))
        #expect(Base64.encode([][...], lineEnding: .crlf) == [])
        #expect(Base64.encode(bytes("abcdef")[...], lineLength: 4, lineEnding: .lf) == bytes("YWJj\nZGVm"))
        #expect(Base64.decode(bytes("SGVs\nbG8=\r\n")[...]) == bytes("Hello"))
        #expect(Base64.decode(bytes("SG!Vs b*G8")[...]) == bytes("Hello"))
        #expect(Base64.decode(bytes("SGk=SGk=")[...]) == bytes("Hi"))
        #expect(Base64.decode(bytes("SGkhS")[...]) == bytes("Hi!"))
        #expect(Base64.decode(bytes("SGk")[...]) == bytes("Hi"))
    }

    @Test func roundTrip() {
        var rng = SeededGenerator(seed: 64)
        for _ in 0..<300 {
            let n = Int.random(in: 0...1000, using: &rng)
            let input = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let lineLength = [76, 64, 0, 1, 5].randomElement(using: &rng) ?? 76
            for eol in [LineEnding.crlf, .lf] {
                let encoded = Base64.encode(input[...], lineLength: lineLength, lineEnding: eol)
                #expect(Base64.decode(encoded[...]) == input)
                if lineLength > 0 {
                    let lines = encoded.split(separator: 10, omittingEmptySubsequences: false)
                    for line in lines {
                        let content = line.last == 13 ? line.dropLast() : line
                        #expect(content.count <= lineLength)
                    }
                }
            }
        }
    }

    @Test func strictDecoding() {
        #expect(Base64.decodeIfValid(bytes("SGVs\r\nbG8=\r\n")[...]) == bytes("Hello"))
        #expect(Base64.decodeIfValid(bytes("SGVsbG8")[...]) == bytes("Hello"))
        #expect(Base64.decodeIfValid(bytes("")[...]) == [])
        #expect(Base64.decodeIfValid(bytes("SGVsbG8gV29ybGQhA")[...]) == nil)
        #expect(Base64.decodeIfValid(bytes("not base64 at all!")[...]) == nil)
        #expect(Base64.decodeIfValid(bytes("SGk=SGk=")[...]) == nil)
        #expect(Base64.decodeIfValid(bytes("SGk===")[...]) == nil)
        #expect(Base64.decodeIfValid(bytes("SG=")[...]) == nil)
    }

    @Test func transferCoding() {
        #expect(TransferCoding.decode(bytes("a=3D")[...], .quotedPrintable) == bytes("a="))
        #expect(TransferCoding.decode(bytes("YQ==")[...], .base64) == bytes("a"))
        #expect(TransferCoding.decode(bytes("a=3D")[...], .eightBit) == bytes("a=3D"))
        #expect(TransferCoding.decode(bytes("YQ==")[...], .other("x-uue")) == bytes("YQ=="))
    }
}

@Suite struct EncodedWordTests {
    @Test func encodeGolden() {
        #expect(EncodedWord.encodeDisplayName("John Smith") == "John Smith")
        #expect(EncodedWord.encodeDisplayName("Smith, John") == "\"Smith, John\"")
        #expect(EncodedWord.encodeDisplayName("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(EncodedWord.encodeDisplayName("=?utf-8?q?x?=") == "\"=?utf-8?q?x?=\"")
        #expect(EncodedWord.encodeDisplayName("") == "\"\"")
        #expect(EncodedWord.encodeDisplayName(" lead") == "\" lead\"")
        #expect(EncodedWord.encodeDisplayName("José Müller") == "=?UTF-8?Q?Jos=C3=A9_M=C3=BCller?=")
        #expect(EncodedWord.encodeDisplayName("日本語") == "=?UTF-8?B?5pel5pys6Kqe?=")
    }

    @Test func longNamesSplitOnCharacters() {
        let name = String(repeating: "Ünïcödé ", count: 12) + "日本語の名前" + String(repeating: "😀", count: 20)
        let encoded = EncodedWord.encodeDisplayName(name)
        let words = encoded.split(separator: " ")
        #expect(words.count > 2)
        for word in words {
            #expect(word.utf8.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?") && word.hasSuffix("?="))
        }
        #expect(EncodedWord.decode(encoded) == name)
    }

    @Test func decodeGolden() {
        #expect(EncodedWord.decode("=?utf-8?q?caf=C3=A9?=") == "café")
        #expect(EncodedWord.decode("=?ISO-8859-1?Q?a?= \r\n =?ISO-8859-1?Q?b_c?=") == "ab c")
        #expect(EncodedWord.decode("Re: =?UTF-8?B?5pel?= x") == "Re: 日 x")
        #expect(EncodedWord.decode("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=") == "é")
        #expect(EncodedWord.decode("=?koi8-r?Q?x?=") == "=?koi8-r?Q?x?=")
        #expect(EncodedWord.decode("=?utf-8?x?abc?=") == "=?utf-8?x?abc?=")
        #expect(EncodedWord.decode("=?utf-8?q?a b?=") == "=?utf-8?q?a b?=")
        #expect(EncodedWord.decode("plain\r\n folded") == "plain folded")
        #expect(EncodedWord.decode("=?windows-1252?Q?=80?=") == "€")
        #expect(EncodedWord.decode("=?utf-8*en?Q?hi?= =?") == "hi =?")
        // Latin-1 labels read as Windows-1252 (WHATWG), as the X-MSYS-API header reads them.
        #expect(EncodedWord.decode("=?ISO-8859-1?Q?=93caf=E9=94?=") == "\u{201C}café\u{201D}")
        // Malformed words and bytes invalid in their charset are left as written (RFC 2047 §6.3),
        // whitespace included; the words around them still decode.
        #expect(EncodedWord.decode("=?UTF-8?Q?=FF?=  =?UTF-8?Q?=FE?= x") == "=?UTF-8?Q?=FF?=  =?UTF-8?Q?=FE?= x")
        #expect(EncodedWord.decode("=?UTF-8?Q?a?= =?UTF-8?Q?b=G1?=") == "a =?UTF-8?Q?b=G1?=")
        #expect(EncodedWord.decode("=?UTF-8?B?Y?= =?US-ASCII?Q?ok?=") == "=?UTF-8?B?Y?= ok")
        #expect(EncodedWord.decode("a =?US-ASCII?Q?=E9?=\tb") == "a =?US-ASCII?Q?=E9?=\tb")
    }

    /// The strict form the X-MSYS-API header uses: only encoded-words and the whitespace between.
    @Test func decodeIfEntirely() {
        func decoded(_ text: String) -> String? {
            Array(text.utf8).withUnsafeBufferPointer { EncodedWord.decodeIfEntirely($0) }
        }
        #expect(decoded("=?UTF-8?Q?caf=C3?=\r\n =?UTF-8?Q?=A9?=") == "café")
        #expect(decoded("=?ISO-8859-1?Q?caf=E9?= =?UTF-8?Q?_=E2=82=AC?=") == "café €")
        #expect(decoded("x =?UTF-8?Q?a?=") == nil)
        #expect(decoded("=?UTF-8?Q?a?=x") == nil)
        #expect(decoded("=?UTF-8?Q?a?= ") == nil)
        #expect(decoded("=?UTF-8?Q?=FF?=") == nil)
        #expect(decoded("=?UTF-8?B?Y2Fmw6k?=") == "café")
    }

    /// Many "=?" starts without terminators must not make decoding quadratic.
    @Test(.timeLimit(.minutes(1))) func hostileInputStaysLinear() {
        let hostile = String(repeating: "=?a?q?", count: 50_000) + String(repeating: "=?", count: 50_000)
        #expect(EncodedWord.decode(hostile) == hostile)
        let long = "=?utf-8?q?" + String(repeating: "a", count: 2_000) + "?="
        #expect(EncodedWord.decode(long) == long)
    }

    @Test func roundTripRandomNames() {
        var rng = SeededGenerator(seed: 2047)
        let pool: [String] = [
            "a", "Z", " ", "é", "ß", "日", "😀", "\"", "=", "?", "_", ",", "\\", "\t", "\u{7}", "ø", "-",
        ]
        for _ in 0..<500 {
            let n = Int.random(in: 0...40, using: &rng)
            let name = (0..<n).map { _ in pool.randomElement(using: &rng) ?? "a" }.joined()
            let encoded = EncodedWord.encodeDisplayName(name)
            if encoded == name { continue }  // plain atoms
            if encoded.hasPrefix("\"") {
                var unescaped = ""
                var escape = false
                for c in encoded.dropFirst().dropLast() {
                    if !escape && c == "\\" {
                        escape = true
                        continue
                    }
                    escape = false
                    unescaped.append(c)
                }
                #expect(unescaped == name)
            } else {
                #expect(EncodedWord.decode(encoded) == name, "\(name.debugDescription) -> \(encoded)")
                for word in encoded.split(separator: " ") { #expect(word.utf8.count <= 75) }
            }
        }
    }
}

@Suite struct QuotedPrintableHoleTests {
    /// Holes filled with tokens decode to literal + token + literal, lines stay short.
    @Test func holesSpliceAndDecode() {
        var e = QuotedPrintableEncoder(lineEnding: .crlf)
        e.append(bytes("<a href=\"")[...])
        let first = e.reserveHole()
        e.append(bytes("\">caf\u{e9} \u{2014} link</a>\n<a href=\"")[...])
        let second = e.reserveHole()
        e.append(bytes("\">x</a>")[...])
        e.finish()
        #expect(
            e.output == bytes("<a href=3D\"=\r\n=\r\n\">caf=C3=A9 =E2=80=94 link</a>\r\n<a href=3D\"=\r\n=\r\n\">x</a>")
        )
        var filled = e.output
        let tokenB = bytes("https://t.example/f/a/BBBB")
        let tokenA = bytes("https://t.example/f/a/" + String(repeating: "A", count: 300))
        filled.insert(contentsOf: tokenB, at: second)
        filled.insert(contentsOf: tokenA, at: first)
        let decoded = QuotedPrintable.decode(filled[...])
        let expected =
            bytes("<a href=\"") + tokenA + bytes("\">caf\u{e9} \u{2014} link</a>\r\n<a href=\"") + tokenB
            + bytes("\">x</a>")
        #expect(decoded == expected)
        var atStart = QuotedPrintableEncoder(lineEnding: .lf)
        #expect(atStart.reserveHole() == 0)
        #expect(atStart.output == bytes("=\n"))
    }
}
