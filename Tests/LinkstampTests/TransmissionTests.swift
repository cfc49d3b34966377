import Foundation
import MIME
import MailBytes
import SMTPAPI
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

@Suite struct TransmissionTests {
    @Test func untouchedCopyIsInputMinusTheHeaderByteForByte() throws {
        let message = try Corpus.bundled("receipt.eml")
        let engine = try Fixture.engine()
        let transmission = try engine.prepare(
            message: message, envelope: Envelope(sender: "billing@acme.example", recipients: ["customer@example.org"]),
            now: Fixture.now)
        #expect(transmission.copies.count == 1)
        let output = try transmission.renderedBytes(transmission.copies[0])
        #expect(output == removingField("X-MSYS-API", from: message))
        #expect(!output.contains("\r\n"), "an LF message stays LF")
    }

    @Test func noHeaderUsesConfiguredDefaultsAndAddsOneClickUnsubscribe() throws {
        let message = Fixture.crlf("From: a@example.com\nTo: b@example.org\nSubject: hi\n\nBody\n")
        let engine = try Fixture.engine()
        let transmission = try engine.prepare(
            message: message, envelope: Envelope(sender: "a@example.com", recipients: ["b@example.org"]),
            now: Fixture.now)
        let output = try transmission.renderedBytes(transmission.copies[0]).text
        let lines = output.components(separatedBy: "\r\n")
        #expect(lines[3].hasPrefix("List-Unsubscribe: <https://t.example.net/u/"))
        #expect(lines[4] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        #expect(lines[5] == "")
        #expect(Array(lines[0...2]) == ["From: a@example.com", "To: b@example.org", "Subject: hi"])
        #expect(output.hasSuffix("\r\n\r\nBody\r\n"))
        let url = String(lines[3].dropFirst("List-Unsubscribe: <".count).dropLast())
        let event = try TrackingDecoder.decode(url: url, keyRing: Fixture.keyRing, now: 1_795_680_000)
        #expect(event.type == .list_unsubscribe)
        #expect(event.rcptTo == "b@example.org")
        #expect(event.transmissionID == transmission.transmissionIDString)
    }

    @Test func moreThanOneHeaderIsRefused() throws {
        let message = Fixture.crlf("X-MSYS-API: {}\nx-msys-api: {}\nSubject: x\n\nBody\n")
        #expect(
            throws: SMTPReply(code: 550, enhancedStatus: "5.6.0", text: "X-MSYS-API header must appear at most once")
        ) {
            try Fixture.engine().prepare(message: message, envelope: Envelope(sender: "a@b.c", recipients: ["d@e.f"]))
        }
    }

    @Test func invalidJSONFromTheReferenceIsRefusedPrecisely() throws {
        let message = try Corpus.bundled("invalid-header.eml")
        do {
            _ = try Fixture.engine().prepare(
                message: message, envelope: Envelope(sender: "a@b.c", recipients: ["d@e.f"]))
            Issue.record("accepted an invalid header")
        } catch let reply as SMTPReply {
            #expect(reply.code == 550)
            #expect(reply.enhancedStatus == "5.6.0")
            #expect(reply.text.hasPrefix("JSON parsing error in X-MSYS-API: "))
            #expect(reply.text.contains("byte"))
        }
    }

    @Test func recipientsAreDeduplicatedCaseInsensitivelyFirstOccurrenceWins() throws {
        let message = Fixture.crlf(
            """
            X-MSYS-API: {"cc": ["Two@Example.org", "three@example.org"], "bcc": ["ONE@example.org", "four@example.org", "three@EXAMPLE.org"],
             "archive": ["four@example.org", "five@example.org"], "options": {"transactional": true}}
            Subject: x

            Body

            """)
        let transmission = try Fixture.engine().prepare(
            message: message,
            envelope: Envelope(
                sender: "s@example.com", recipients: ["one@example.org", "two@example.org", "One@Example.org"]))
        let summary = transmission.copies.map { "\($0.address):\($0.rcptType?.rawValue ?? "-")" }
        #expect(
            summary == [
                "one@example.org:-", "two@example.org:-", "three@example.org:cc", "four@example.org:bcc",
                "five@example.org:archive",
            ])
        #expect(Set(transmission.copies.map(\.messageID)).count == 5)
        #expect(transmission.copies.allSatisfy { $0.messageID.count == 22 })
    }

    @Test func headerRulesForEachRecipientType() throws {
        let message = Fixture.crlf(
            """
            From: s@example.com
            To: main@example.org
            Cc: "Already" <old@example.org>
            Bcc: hidden@example.org
            X-MSYS-API: {"cc": [{"email": "old@example.org"}, {"email": "new@example.org", "name": "Zoë Q."}],
             "bcc": [{"email": "b@example.org", "name": "B, Person"}], "archive": ["arch@example.org"],
             "options": {"transactional": true}}
            Subject: rules

            Body

            """)
        let transmission = try Fixture.engine().prepare(
            message: message, envelope: Envelope(sender: "s@example.com", recipients: ["main@example.org"]))
        for copy in transmission.copies {
            let output = try transmission.renderedBytes(copy).text
            #expect(!output.contains("X-MSYS-API"))
            #expect(!output.contains("hidden@example.org"), "the original Bcc goes from every copy")
            #expect(!output.contains("List-Unsubscribe"), "transactional copies carry no List-Unsubscribe")
            let header = output.components(separatedBy: "\r\n\r\n")[0] + "\r\n"
            let ccLine = header.components(separatedBy: "\r\n").drop { !$0.hasPrefix("Cc: ") }.prefix(2)
            #expect(Array(ccLine).first == "Cc: \"Already\" <old@example.org>,")
            #expect(ccLine.last.map { EncodedWord.decode($0) } == " Zo\u{EB} Q. <new@example.org>")
            switch copy.rcptType {
            case .bcc: #expect(header.hasSuffix("Subject: rules\r\nBcc: \"B, Person\" <b@example.org>\r\n"))
            default: #expect(!header.contains("Bcc:"))
            }
        }
    }

    @Test func ccHeaderIsAddedWhenTheMessageHasNone() throws {
        let message = Fixture.message(
            "Subject: x\nX-MSYS-API: {\"cc\": [\"a@example.org\", {\"email\": \"b@example.org\", \"name\": \"Bee\"}], \"options\": {\"transactional\": true}}\n\nBody\n"
        )
        let transmission = try Fixture.engine().prepare(
            message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
        let output = try transmission.renderedBytes(transmission.copies[0])
        #expect(output.text == "Subject: x\nCc: a@example.org,\n Bee <b@example.org>\n\nBody\n")
    }

    @Test func suppressionListHonoursSkipSuppressionAndMailKind() throws {
        var engine = try Fixture.engine()
        engine = try Engine(
            configuration: engine.configuration, keyRing: engine.keyRing,
            suppressionList: SuppressionList(parsing: "gone@example.org\nreceipts-only@example.org transactional\n"))
        func recipients(_ api: String) throws -> [String] {
            let message = Fixture.message("X-MSYS-API: \(api)\nSubject: x\n\nBody\n")
            return try engine.prepare(
                message: message,
                envelope: Envelope(
                    sender: "", recipients: ["gone@example.org", "receipts-only@example.org", "ok@example.org"])
            )
            .copies.map(\.address)
        }
        #expect(try recipients("{}") == ["receipts-only@example.org", "ok@example.org"])
        #expect(try recipients("{\"options\": {\"transactional\": true}}") == ["ok@example.org"])
        #expect(
            try recipients("{\"options\": {\"skip_suppression\": true}}") == [
                "gone@example.org", "receipts-only@example.org", "ok@example.org",
            ])
    }

    /// Past `SmallStringSet.linearLimit` addresses the dedupe is a `Set`: the same answers.
    @Test(arguments: [SmallStringSet.linearLimit - 2, SmallStringSet.linearLimit, SmallStringSet.linearLimit + 5])
    func recipientsAreDeduplicatedPastAnyNumberOfAddresses(count: Int) throws {
        let many = (0..<count).map { "r\($0)@example.org" }
        let message = Fixture.message(
            "X-MSYS-API: {\"bcc\": [\"R1@example.org\", \"new@example.org\", \"r\(count - 1)@EXAMPLE.org\"]}\n"
                + "Subject: x\n\nBody\n")
        let transmission = try Fixture.engine().prepare(
            message: message, envelope: Envelope(sender: "", recipients: many + ["R0@Example.org", many[count - 1]]))
        #expect(transmission.copies.map(\.address) == many + ["new@example.org"])
        #expect(transmission.copies.map(\.rcptType) == many.map { _ in nil } + [.bcc])
    }

    /// A `SuppressionList` is a value: a copy changed later does not change the original, and
    /// equality and hashing are those of its two sets.
    @Test func suppressionListIsAValue() throws {
        var first = SuppressionList()
        #expect(!first.contains("a@example.org", transactional: true))
        first.insert("A@example.org", kind: .transactional)
        var second = first
        second.insert("b@example.org", kind: .nonTransactional)
        #expect(first.contains("a@EXAMPLE.org", transactional: true))
        #expect(!first.contains("a@example.org", transactional: false))
        #expect(!first.contains("b@example.org", transactional: false))
        #expect(second.contains("b@example.org", transactional: false))
        #expect(first != second)
        #expect(first != SuppressionList())
        let parsed = try SuppressionList(parsing: "a@example.org transactional\nb@example.org non_transactional\n")
        #expect(parsed == second)
        #expect(Set([parsed, second, first, SuppressionList()]).count == 3)
        #expect(try SuppressionList(parsing: "# nobody\n") == SuppressionList())
    }

    @Test func tooManyRecipientsIsAClearReply() throws {
        let message = Fixture.message("Subject: x\n\nBody\n")
        let engine = try Fixture.engine()
        let many = (0..<100_001).map { "r\($0)@example.org" }
        #expect(throws: SMTPReply.self) {
            try engine.prepare(message: message, envelope: Envelope(sender: "", recipients: many))
        }
        let transmission = try engine.prepare(
            message: message, envelope: Envelope(sender: "", recipients: Array(many.dropLast())))
        #expect(transmission.copies.count == 100_000)
        #expect(
            try transmission.renderedBytes(transmission.copies[99_999]).text.hasPrefix(
                "Subject: x\nList-Unsubscribe: <https://t.example.net/u/"))
    }

    @Test func hugeHeaderIsRefusedNotHung() throws {
        var message = Array("Subject: ".utf8)
        message += [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20)
        message += Array("\n\nBody\n".utf8)
        #expect(throws: SMTPReply.self) {
            try Fixture.engine().prepare(
                message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
        }
    }

    @Test(arguments: [
        "Subject: no separator and no final newline",
        "Subject: x\r\nX-Weird: caf\u{E9}\r\nX-Nul: a\u{0}b\r\n\r\nbody with bare \r cr and bare \n lf\r\n",
        "Subject: x\nNot a header line\nTo: y\n\nBody\n",
    ])
    func oddMessagesGoThroughUnchanged(_ text: String) throws {
        let message = Array(text.utf8)
        let transmission = try Fixture.engine { $0.transactional = true }.prepare(
            message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
        #expect(try transmission.renderedBytes(transmission.copies[0]) == message)
    }

    @Test func ipPoolAndSandboxTravelWithTheCopy() throws {
        let message = Fixture.message(
            "From: x@sandbox.example\nX-MSYS-API: {\"options\": {\"ip_pool\": \"sp_shared\", \"sandbox\": true, \"transactional\": true}}\n\nBody\n"
        )
        let engine = try Fixture.engine { $0.sandboxDomain = "sandbox.example" }
        let transmission = try engine.prepare(
            message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
        #expect(
            try transmission.renderedBytes(transmission.copies[0]).text
                == "From: x@sandbox.example\nX-Linkstamp-IP-Pool: sp_shared\nX-Linkstamp-Sandbox: yes\n\nBody\n")
        let wrongFrom = Fixture.message(
            "From: x@elsewhere.example\nX-MSYS-API: {\"options\": {\"sandbox\": true}}\n\nBody\n")
        #expect(throws: SMTPReply.self) {
            try engine.prepare(message: wrongFrom, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
        }
    }
}
