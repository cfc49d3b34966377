import Testing

@testable import MIME

@Suite struct HeaderParserTests {
    @Test func foldedFieldsCRLF() throws {
        let m = bytes("Subject: a\r\n b\r\nTo:x\r\n\r\nbody")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.count == 2)
        #expect(h.fields[0].range == 0..<16)
        #expect(h.fields[0].nameRange == 0..<7)
        #expect(h.fields[0].valueRange == 8..<14)
        #expect(Array(m[h.fields[0].valueRange]) == bytes(" a\r\n b"))
        #expect(h.fields[0].unfoldedValue(in: m) == "a b")
        #expect(h.fields[1].range == 16..<22)
        #expect(Array(m[h.fields[1].valueRange]) == bytes("x"))
        #expect(h.range == 0..<22)
        #expect(h.separatorRange == 22..<24)
        #expect(h.bodyStart == 24)
        #expect(h.lineEnding == .crlf)
        #expect(h.first("subject", in: m) == h.fields[0])
        #expect(h.all("to", in: m) == [h.fields[1]])
        #expect(h.fields[0].name(in: m) == "Subject")
        #expect(h.fields[0].hasName("subject", in: m))
        #expect(!h.fields[0].hasName("subjec", in: m))
    }

    @Test func lfOnlyAndNoSeparator() throws {
        let m = bytes("A: 1\nB: 2")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.map(\.range) == [0..<5, 5..<9])
        #expect(h.fields[1].valueRange == 7..<9)
        #expect(h.separatorRange == nil)
        #expect(h.bodyStart == 9)
        #expect(h.lineEnding == .lf)
    }

    @Test func emptyHeader() throws {
        let m = bytes("\r\nbody")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.isEmpty)
        #expect(h.range == 0..<0)
        #expect(h.separatorRange == 0..<2)
        #expect(h.bodyStart == 2)
        let empty = try HeaderParser.parse([], from: 0)
        #expect(empty.fields.isEmpty && empty.bodyStart == 0 && empty.separatorRange == nil)
        #expect(empty.lineEnding == .crlf)
    }

    /// A line without a colon that is not a continuation ends the header (no separator).
    @Test func lineWithoutColonEndsHeader() throws {
        let m = bytes("A: 1\nthis is body\n\nmore")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.count == 1)
        #expect(h.separatorRange == nil)
        #expect(h.bodyStart == 5)
    }

    @Test func mboxFromLineAndObsColon() throws {
        let m = bytes("From alice@example.com Thu Nov 26 2026\nSubject : hi\n\n")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.count == 2)
        #expect(h.fields[0].nameRange.isEmpty)
        #expect(h.fields[0].range == 0..<39)
        #expect(h.fields[1].name(in: m) == "Subject")
        #expect(Array(m[h.fields[1].valueRange]) == bytes(" hi"))
        #expect(h.first("subject", in: m) == h.fields[1])
    }

    @Test func eightBitNULAndBareCRAreFieldBytes() throws {
        let m: [UInt8] = bytes("X-A: ") + [0, 0xFF, 13, 0x41] + bytes("\r\nX\u{e9}: v\n\nB")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.count == 2)
        #expect(Array(m[h.fields[0].valueRange]) == [0x20, 0, 0xFF, 13, 0x41])
        #expect(h.fields[1].name(in: m) == "X\u{e9}")
        #expect(h.bodyStart == m.count - 1)
    }

    @Test func parseFromOffset() throws {
        let m = bytes("junk\nA: 1\n\nbody")
        let h = try HeaderParser.parse(m, from: 5)
        #expect(h.range == 5..<10)
        #expect(h.bodyStart == 11)
        let past = try HeaderParser.parse(m, from: 1000)
        #expect(past.fields.isEmpty && past.bodyStart == m.count)
    }

    @Test func continuationBeforeAnyFieldIsKept() throws {
        let m = bytes(" leading\nA: 1\n\n")
        let h = try HeaderParser.parse(m, from: 0)
        #expect(h.fields.map(\.range) == [0..<9, 9..<14])
        #expect(h.fields[0].nameRange.isEmpty)
    }

    /// 10 MB of header: a limit error, in linear time.
    @Test func hugeHeaderHitsLimit() {
        let line = bytes("X-Filler: " + String(repeating: "a", count: 990) + "\r\n")
        var m: [UInt8] = []
        m.reserveCapacity(10 << 20)
        while m.count < 10 << 20 { m += line }
        #expect(throws: MIMEError.headerTooLarge(limit: 1 << 20, offset: 0)) {
            try MessageStructure.parse(m)
        }
        var oneLine = bytes("X: ")
        oneLine += [UInt8](repeating: 0x61, count: 10 << 20)
        #expect(throws: MIMEError.headerTooLarge(limit: 1 << 20, offset: 0)) {
            try HeaderParser.parse(oneLine, from: 0)
        }
        var limits = MIMELimits()
        limits.maxHeaderBytes = 20 << 20
        limits.maxFieldsPerHeader = 1_000_000
        #expect(throws: Never.self) { try HeaderParser.parse(m, from: 0, limits: limits) }
    }

    @Test func tooManyFields() {
        var m: [UInt8] = []
        for _ in 0..<2_001 { m += bytes("A: b\n") }
        #expect(throws: MIMEError.tooManyHeaderFields(limit: 2_000, offset: 2_000 * 5)) {
            try HeaderParser.parse(m, from: 0)
        }
        #expect(throws: Never.self) { try HeaderParser.parse(Array(m.prefix(2_000 * 5)), from: 0) }
    }

    @Test func errorDescriptions() {
        #expect(
            MIMEError.headerTooLarge(limit: 5, offset: 7).description
                == "MIME header block larger than 5 bytes at offset 7")
        #expect(MIMEError.nestingTooDeep(limit: 2, offset: 3).offset == 3)
    }
}
