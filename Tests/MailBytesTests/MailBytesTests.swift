import Foundation
import MailBytes
import Testing

@Suite struct ISO8601Tests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (-1, "1969-12-31T23:59:59Z"), (951_782_400, "2000-02-29T00:00:00Z"),
        (1_795_000_000, "2026-11-18T11:06:40Z"), (253_402_300_799, "9999-12-31T23:59:59Z"),
        (253_402_300_800, "10000-01-01T00:00:00Z"), (-62_135_596_800, "0001-01-01T00:00:00Z"),
        (-62_135_596_801, "0000-12-31T23:59:59Z"), (-62_167_219_201, "-0001-12-31T23:59:59Z"),
        (Int64.max, "292277026596-12-04T15:30:07Z"), (Int64.min, "-292277022657-01-27T08:29:52Z"),
    ])
    func iso8601(seconds: Int64, expected: String) {
        #expect(ISO8601.format(unixSeconds: seconds) == expected)
    }

    @Test func milliseconds() {
        #expect(ISO8601.format(unixSeconds: 1_795_680_000, milliseconds: 0) == "2026-11-26T08:00:00.000Z")
        #expect(ISO8601.format(unixSeconds: 1_795_680_000, milliseconds: 7) == "2026-11-26T08:00:00.007Z")
        #expect(ISO8601.format(unixSeconds: -1, milliseconds: 999) == "1969-12-31T23:59:59.999Z")
    }

    /// The hand-written formatter writes what Foundation's formatter writes, for whole seconds
    /// across four centuries.
    @Test func sameAsFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let seconds = Int64.random(in: -2_208_988_800...7_258_118_400, using: &generator)
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            #expect(ISO8601.format(unixSeconds: seconds) == formatter.string(from: date))
        }
    }
}

@Suite struct HeaderUnfoldingTests {
    func unfold(_ text: String, _ mode: HeaderUnfolding.Mode) -> String {
        String(decoding: HeaderUnfolding.unfold(Array(text.utf8)[...], mode), as: UTF8.self)
    }

    /// RFC 5322 §2.2.3: every CR and LF goes, the blanks of a fold stay, the ends are trimmed.
    @Test func removeLineBreaks() {
        #expect(unfold(" a\r\n b ", .removeLineBreaks) == "a b")
        #expect(unfold("a\r\n\t  b", .removeLineBreaks) == "a\t  b")
        #expect(unfold("a\nb\r", .removeLineBreaks) == "ab")
        #expect(unfold(" \r\n \t", .removeLineBreaks) == "")
        #expect(unfold("a\u{0C}", .removeLineBreaks) == "a\u{0C}")
    }

    /// SparkPost's `X-MSYS-API` reading: a fold and the blanks that start the next line are one
    /// space; blanks before the break stay; breaks that are not folds stay; nothing is trimmed.
    @Test func singleSpace() {
        #expect(unfold("\"my_awes\r\n   ome_campaign\"", .singleSpace) == "\"my_awes ome_campaign\"")
        #expect(unfold("a \n\tb", .singleSpace) == "a  b")
        #expect(unfold("a\r\nb\nc\r", .singleSpace) == "a\r\nb\nc\r")
        #expect(unfold(" a\r\n ", .singleSpace) == " a ")
        #expect(unfold("a\r\r\n b", .singleSpace) == "a\r b")
    }
}

@Suite struct ByteSearchTests {
    @Test func firstOffset() {
        let bytes: [UInt8] = Array("ab<cd<".utf8)
        bytes.withUnsafeBufferPointer { buffer in
            #expect(buffer.firstOffset(of: ASCII.less, from: 0) == 2)
            #expect(buffer.firstOffset(of: ASCII.less, from: -5) == 2)
            #expect(buffer.firstOffset(of: ASCII.less, from: 3) == 5)
            #expect(buffer.firstOffset(of: ASCII.less, from: 3, to: 5) == nil)
            #expect(buffer.firstOffset(of: ASCII.less, from: 6) == nil)
            #expect(buffer.firstOffset(of: ASCII.less, from: 0, to: 100) == 2)
            #expect(buffer.matchesLowercased("cd", at: 3))
            #expect(!buffer.matchesLowercased("cd<x", at: 3))
            #expect(buffer.equalsLowercased(0..<2, "ab"))
        }
        #expect(ASCII.equalsLower(Array("HeAd".utf8), 0..<4, "head"))
        #expect(ASCII.lowercased(Array("A-Z".utf8)) == Array("a-z".utf8))
        #expect(ASCII.hexValue(UInt8(ascii: "f")) == 15 && ASCII.hexValue(UInt8(ascii: "g")) == nil)
    }
}

@Suite struct SMTPReplyConvertibleTests {
    struct Refusal: SMTPReplyConvertible {
        var smtpReply: SMTPReply { .permanent("no") }
    }

    /// Every parser's error and a reply itself turn into their reply the same way.
    @Test func convertible() {
        let errors: [any Error] = [Refusal(), SMTPReply.noHeader]
        let replies = errors.compactMap { ($0 as? any SMTPReplyConvertible)?.smtpReply.description }
        #expect(replies == ["550 5.6.0 no", "554 5.6.0 message has no header"])
    }
}
