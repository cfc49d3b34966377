import Foundation
import MIME
import SMTPAPI
import TestSupport
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Messages of odd shape (issue 9 items 7, 8, 11): where added header fields go, what has no
/// header, and what a copy says about the parts it left untracked.
@Suite struct MessageShapeTests {
    static let envelope = Envelope(sender: "s@example.com", recipients: ["r@example.org"])

    func copy(_ message: [UInt8], engine: Engine? = nil) throws -> [UInt8] {
        let transmission = try (engine ?? Fixture.engine()).prepare(
            message: message, envelope: Self.envelope, now: Fixture.now)
        return try transmission.renderedBytes(transmission.copies[0])
    }

    func lines(_ bytes: [UInt8]) -> [String] { bytes.text.components(separatedBy: "\n") }

    // MARK: - Item 7: added fields stay in the header block

    /// The issue's repro, byte for byte: the header ends at a line without a colon, tracking
    /// rewrites the body, and List-Unsubscribe used to be appended after the body.
    @Test func fieldsGoBeforeALineWithoutAColonThatEndsTheHeader() throws {
        let message = Fixture.message(
            "X-MSYS-API: {\"options\":{\"click_tracking\":true}}\nno colon here\nFrom: a@example.com\n\nHi http://example.com/x\n"
        )
        let output = lines(try copy(message))
        try #require(output.count == 7)
        #expect(output[0].hasPrefix("List-Unsubscribe: <https://t.example.net/u/"))
        #expect(output[1] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        #expect(Array(output[2...4]) == ["no colon here", "From: a@example.com", ""])
        #expect(output[5].hasPrefix("Hi https://t.example.net/f/"))
        #expect(!output[5].contains("example.com/x"))
        #expect(output[6] == "")
    }

    /// The same with a stray word after ordinary fields and a CRLF message: every byte before
    /// the stray line, then the added fields, then the rest.
    @Test func strayWordAfterFieldsKeepsEveryOriginalByteAroundTheAddedFields() throws {
        let head = "From: a@example.com\r\nX-MSYS-API: {\"options\":{\"click_tracking\":true}}\r\nSubject: s\r\n"
        let rest = "stray\r\nTo: r@example.org\r\n\r\nSee http://example.com/x today\r\n"
        let output = try copy(Fixture.message(head + rest)).text
        let kept = "From: a@example.com\r\nSubject: s\r\n"
        #expect(output.hasPrefix(kept + "List-Unsubscribe: <https://t.example.net/u/"))
        let afterFields = output.components(separatedBy: "List-Unsubscribe=One-Click\r\n")
        #expect(afterFields.count == 2)
        #expect(afterFields.last?.hasPrefix("stray\r\nTo: r@example.org\r\n\r\nSee https://t.example.net/f/") == true)
        #expect(afterFields.last?.hasSuffix(" today\r\n") == true)
    }

    /// A body part whose header ends at a line that is not a field, re-encoded quoted-printable
    /// (a line too long once tracked): its new Content-Transfer-Encoding goes before the body,
    /// and the empty line the header lacked is added so re-encoded lines cannot read as fields.
    @Test func partFieldGoesBeforeTheBodyOfAPartWithoutSeparator() throws {
        let filler = String(repeating: "w", count: 990)
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true,\"transactional\":true}}\n"
                + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n"
                + "stray line\n\(filler) http://example.com/x\n--b--\n")
        let output = try copy(message).text
        let part = output.components(separatedBy: "--b\n")
        #expect(part.count == 2)
        #expect(
            part.last?.hasPrefix(
                "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nstray line\n") == true)
        #expect(output.hasSuffix("\n--b--\n"))
    }

    /// A header of fields only (no empty line, no body) with an HTML pixel to add: the fields
    /// come before the body the pixel starts.
    @Test func fieldsGoBeforeAnInsertedBodyWhenThereWasNone() throws {
        let message = Fixture.message(
            "X-MSYS-API: {\"options\":{\"open_tracking\":true}}\nContent-Type: text/html\nFrom: a@example.com\n")
        let output = lines(try copy(message))
        try #require(output.count == 6)
        #expect(Array(output[0...1]) == ["Content-Type: text/html", "From: a@example.com"])
        #expect(output[2].hasPrefix("List-Unsubscribe: <https://t.example.net/u/"))
        #expect(output[3] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        // The body that now exists starts after an empty line.
        #expect(output[4] == "")
        #expect(output[5].hasPrefix("<img "))
        // The same without a final line break and without added fields.
        let bare = try copy(
            Fixture.message(
                "X-MSYS-API: {\"options\":{\"open_tracking\":true,\"transactional\":true}}\nContent-Type: text/html"),
            engine: Fixture.engine()
        ).text
        #expect(bare.hasPrefix("Content-Type: text/html\n\n<img "))
    }

    /// The last field of a header of fields only (no final line break) is removed or rewritten:
    /// what precedes the added fields already ends a line, and no empty line may come between.
    @Test(arguments: [
        ("Subject: x\nX-MSYS-API: {\"options\":{\"click_tracking\":true}}", "Subject: x\n"),
        ("Subject: x\nX-MSYS-API: {\"options\":{\"ip_pool\":\"p\"}}", "Subject: x\nX-Linkstamp-IP-Pool: p\n"),
        ("X-MSYS-API: {\"cc\":[\"d@e.example\"]}\nCc: a@b.example", "Cc: a@b.example,\n d@e.example\n"),
        ("Subject: x\nBcc: h@example.org", "Subject: x\n"),
        ("Subject: x", "Subject: x\n"),
    ])
    func fieldsFollowALastFieldWithoutLineBreak(_ input: String, _ head: String) throws {
        // (A message without any line break gets CRLF ones.)
        let output = try copy(Fixture.message(input)).text.replacingOccurrences(of: "\r\n", with: "\n")
        #expect(output.hasPrefix(head + "List-Unsubscribe: <https://t.example.net/u/"))
        #expect(output.hasSuffix(">\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n"))
        #expect(!output.contains("\n\n"))
    }

    /// An empty HTML part gaining an open pixel keeps its delimiter on a line of its own, with or
    /// without the part's empty line.
    @Test(arguments: ["Content-Type: text/html\n\n", "Content-Type: text/html\n"])
    func anEmptyPartGainingAPixelKeepsTheDelimiterOnItsOwnLine(_ partHeader: String) throws {
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"open_tracking\":true,\"transactional\":true}}\n"
                + "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nHi\n--b\n"
                + partHeader + "--b--\n")
        let output = try copy(message)
        let structure = try MessageStructure.parse(output)
        #expect(structure.parts.count == 3)
        let html = structure.parts.last
        #expect(html?.contentType.subtype == "html")
        let body = html.map { Array(output[$0.bodyRange]).text } ?? ""
        #expect(body.hasPrefix("<img ") && body.hasSuffix("\">"))
        #expect(output.text.hasSuffix("\">\n--b--\n"))
        #expect(output.text.contains("--b\nContent-Type: text/html\n\n<img "))
    }

    /// Seeded header and body shapes (stray line, missing empty line, missing final line break,
    /// last field removed or rewritten, empty parts without separator, LF or CRLF) with click and
    /// open tracking: every copy parses into as many MIME parts as its input, keeps every field
    /// it has no reason to touch in its header block, and has List-Unsubscribe there too.
    @Test func addedFieldsLandInTheHeaderWhateverItsShape() throws {
        var generator = SeededGenerator(seed: 0x9_0007)
        let engine = try Fixture.engine()
        for round in 0..<400 {
            let le = Bool.random(using: &generator) ? "\r\n" : "\n"
            let multipart = Bool.random(using: &generator)
            var fields = [
                "From: a@example.com", "Subject: s", "Bcc: h@example.org", "Cc: c@example.org", "MIME-Version: 1.0",
            ]
            .filter { _ in Bool.random(using: &generator) }
            fields.append(
                [
                    "X-MSYS-API: {\"options\":{\"click_tracking\":true,\"open_tracking\":true}}",
                    "X-MSYS-API: {\"cc\":[\"d@e.example\"],\"options\":{\"click_tracking\":true,\"ip_pool\":\"p\"}}",
                ]
                .randomElement(using: &generator) ?? "")
            fields.append(multipart ? "Content-Type: multipart/alternative; boundary=b" : "Content-Type: text/html")
            fields.shuffle(using: &generator)
            var header = fields.joined(separator: le)
            let ending = Int.random(in: 0..<3, using: &generator)
            var body = ""
            if multipart {
                func part(_ type: String) -> String {
                    let content = Bool.random(using: &generator) ? "Hi http://example.com/\(type)" : ""
                    let separator = Bool.random(using: &generator) ? le : ""
                    return "Content-Type: text/\(type)" + le + separator + content + (content.isEmpty ? "" : le)
                }
                body = "--b" + le + part("plain") + "--b" + le + part("html") + "--b--" + le
            } else if Bool.random(using: &generator) {
                body = "<p>Hi <a href=\"http://example.com/x\">x</a></p>" + le
            }
            switch ending {
            case 0: header += le + le  // the empty line
            case 1: header += le + "stray words" + le  // a line that is not a field
            default: header += body.isEmpty && Bool.random(using: &generator) ? "" : le  // no empty line
            }
            let message = Fixture.message(header + body)
            let transmission = try engine.prepare(message: message, envelope: Self.envelope, now: Fixture.now)
            let output = try transmission.renderedBytes(transmission.copies[0])
            let before = try MessageStructure.parse(message)
            let after = try MessageStructure.parse(output)
            let context = "round \(round): \(message.text.debugDescription) -> \(output.text.debugDescription)"
            #expect(after.parts.count == before.parts.count, "\(context)")
            let top = try #require(after.parts.first).header
            #expect(top.first("list-unsubscribe", in: output) != nil, "\(context)")
            let kept = Set(top.fields.map { Array(output[$0.range]).text.trimmingCharacters(in: .newlines) })
            for field in fields where !["X-MSYS-API", "Bcc", "Cc"].contains(where: { field.hasPrefix($0) }) {
                #expect(kept.contains(field), "\(field) left the header: \(context)")
            }
        }
    }

    // MARK: - Item 8: no header block, no copy

    @Test(arguments: [
        "",
        "\n",
        "\r\n",
        "\r\nBody only, empty header\r\n",
        "\n\nHi http://example.com/x\n",
        "Not a header line at all\nSubject: x\n\nBody\n",
        "Hi http://example.com/x\n",
        "From someone@example.com Mon Jan  1 00:00:00 2026\n\nBody\n",
        " a continuation with nothing to continue\n\nBody\n",
        "\u{FEFF}\nFrom: a@example.com\n\nBody\n",
    ])
    func aMessageWithoutHeaderIsRefused(_ text: String) throws {
        #expect(throws: SMTPReply(code: 554, enhancedStatus: "5.6.0", text: "message has no header")) {
            _ = try Fixture.engine().prepare(message: Fixture.message(text), envelope: Self.envelope, now: Fixture.now)
        }
        #expect(SMTPReply.noHeader.description == "554 5.6.0 message has no header")
        #expect(SMTPReply.noHeader.isPermanent)
    }

    /// The filter's front door: empty stdin and a headerless message exit 65 with the reply
    /// and write nothing; the issue's item 7 repro exits 0 with the fields in the header.
    @Test func theFilterRefusesAHeaderlessMessageWith65() throws {
        for input in ["", "Hi http://example.com/x\n"] {
            let result = try filter(Array(input.utf8))
            #expect(result.status == 65)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("5.6.0 message has no header"))
        }
        let repro = try filter(
            Fixture.message(
                "X-MSYS-API: {\"options\":{\"click_tracking\":true}}\nno colon here\nFrom: a@example.com\n\nHi http://example.com/x\n"
            ))
        #expect(repro.status == 0)
        let data = repro.stdout.text.components(separatedBy: "\r\nDATA\r\n").last ?? ""
        #expect(data.hasPrefix("List-Unsubscribe: <https://"))
        #expect(data.contains("List-Unsubscribe=One-Click\r\nno colon here\r\nFrom: a@example.com\r\n\r\nHi https://"))
        #expect(data.hasSuffix("\r\n.\r\nQUIT\r\n"))
    }

    func filter(_ stdin: [UInt8]) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        let home = NSTemporaryDirectory() + "linkstamp-shape-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try CommandTests().run(
            ["filter", "-f", "s@example.com", "--", "r@example.org"], stdin: stdin, configHome: home)
        return (result.status, result.stdout, result.stderr)
    }

    @Test(arguments: [
        "Subject: fields only, no line break",
        "From someone@example.com Mon Jan  1 00:00:00 2026\nSubject: x\n\nBody\n",
        " stray continuation\nSubject: x\n\nBody\n",
        "\u{FEFF}From: a@example.com\n\nBody\n",
        "Subject: x\nno colon\n\nBody\n",
    ])
    func oneFieldIsAHeader(_ text: String) throws {
        let message = Fixture.message(text)
        let output = try copy(message, engine: Fixture.engine { $0.transactional = true })
        #expect(output == message)
    }

    // MARK: - Item 11: parts left untracked say so

    /// RFC 2045: an unknown transfer encoding is opaque, so the part goes out as it came, and
    /// the transmission records it instead of claiming the part was tracked.
    @Test func anUnknownTransferEncodingIsRecordedAsUntracked() throws {
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true,\"transactional\":true}}\n"
                + "Content-Transfer-Encoding: 8bits\n\nHi http://example.com/x\n")
        let transmission = try Fixture.engine().prepare(message: message, envelope: Self.envelope, now: Fixture.now)
        #expect(transmission.untrackedParts == [UntrackedPart(part: 0, reason: "unknown transfer encoding 8bits")])
        #expect(try transmission.renderedBytes(transmission.copies[0]) == removingField("X-MSYS-API", from: message))
    }

    @Test func everyReasonAPartIsLeftAloneIsRecorded() throws {
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true,\"open_tracking\":true}}\n"
                + "Content-Type: multipart/alternative; boundary=b\n\n"
                + "--b\nContent-Type: text/plain; charset=utf-16\n\nHi\n"
                + "--b\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n!!not base64!!\n--b--\n")
        let transmission = try Fixture.engine().prepare(message: message, envelope: Self.envelope, now: Fixture.now)
        #expect(
            transmission.untrackedParts == [
                UntrackedPart(part: 1, reason: "charset utf-16 is not ASCII-compatible"),
                UntrackedPart(part: 2, reason: "body is not valid base64"),
            ])
        // A name from the message is cut and cleaned before it goes into a reason.
        let long = String(repeating: "x", count: 100)
        let odd = Fixture.message(
            "X-MSYS-API: {\"options\":{\"click_tracking\":true}}\nContent-Transfer-Encoding: \(long)\n\nhttp://example.com/\n"
        )
        let reason = try Fixture.engine().prepare(message: odd, envelope: Self.envelope, now: Fixture.now)
            .untrackedParts.first?.reason
        #expect(reason == "unknown transfer encoding " + String(repeating: "x", count: 64) + "...")
    }

    @Test func partsNobodyAskedToTrackAreNotRecorded() throws {
        // Tracking off, or the part tracked: nothing to report.
        let opaque = Fixture.message(
            "From: a@example.com\nContent-Transfer-Encoding: 8bits\n\nHi http://example.com/x\n")
        #expect(
            try Fixture.engine().prepare(message: opaque, envelope: Self.envelope, now: Fixture.now).untrackedParts
                .isEmpty)
        let tracked = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true}}\n\nHi http://example.com/x\n")
        #expect(
            try Fixture.engine().prepare(message: tracked, envelope: Self.envelope, now: Fixture.now).untrackedParts
                .isEmpty)
    }

    @Test func theInjectionEventListsUntrackedParts() throws {
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true}}\n"
                + "Content-Transfer-Encoding: 8bits\n\nHi http://example.com/x\n")
        let transmission = try Fixture.engine().prepare(message: message, envelope: Self.envelope, now: Fixture.now)
        let event = Events.injection(transmission, copy: transmission.copies[0], messageSize: 1)
        #expect(event.contains(#""click_tracking":true"#))
        #expect(event.contains(#","untracked_parts":[{"part":0,"reason":"unknown transfer encoding 8bits"}]"#))
        let tracked = try Fixture.engine().prepare(
            message: Fixture.message(
                "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true}}\n\nHi http://example.com/x\n"),
            envelope: Self.envelope, now: Fixture.now)
        #expect(!Events.injection(tracked, copy: tracked.copies[0], messageSize: 1).contains("untracked_parts"))
    }

    /// `http://ex\xFFample.com/` in a text part used to be tracked as `http://ex`.
    @Test func aURLWhoseHostIsCutGoesOutUntracked() throws {
        let message =
            Fixture.message(
                "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true,\"transactional\":true}}\n"
                    + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nHi http://ex")
            + [0xFF] + Fixture.message("ample.com/ and http://example.com/y\n")
        let output = try copy(message)
        #expect(
            output.ranges(
                of: Fixture.message("Hi http://ex") + [0xFF]
                    + Fixture.message("ample.com/ and https://t.example.net/f/")
            ).count == 1)
        #expect(!output.contains("http://example.com/y"))
    }
}

/// Issue 9 item 1, the Linkstamp side: past CSSInline's work limit the message goes out without
/// inlining (never a bounce) and the injection event says so.
@Suite struct CSSInlineSkipEventTests {
    static let envelope = Envelope(sender: "s@example.com", recipients: ["r@example.org"])

    @Test func workLimitSendsTheHTMLAsItCameAndTheEventSaysWhy() throws {
        let html =
            "<html><head><style>p ~ p ~ p{color:red}</style></head><body>"
            + String(repeating: "<p>x</p>", count: 50) + "</body></html>\n"
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"inline_css\":true}}\nContent-Type: text/html\n\n" + html)
        var limits = Limits()
        limits.css.maxMatchWork = 10
        var configuration = Configuration()
        configuration.trackingDomain = "t.example.net"
        let tight = try Engine(configuration: configuration, keyRing: Fixture.keyRing, limits: limits)
        let transmission = try tight.prepare(message: message, envelope: Self.envelope, now: Fixture.now)
        #expect(transmission.cssInlineSkipped == .workLimit)
        let copy = try transmission.renderedBytes(transmission.copies[0])
        #expect(String(decoding: copy, as: UTF8.self).contains(html))
        let event = Events.injection(transmission, copy: transmission.copies[0], messageSize: copy.count)
        #expect(event.contains(#""inline_css_skipped":"work_limit""#))
        // With the default limit the same message is inlined and the event has no such field.
        let normal = try Fixture.engine().prepare(message: message, envelope: Self.envelope, now: Fixture.now)
        #expect(normal.cssInlineSkipped == nil)
        #expect(!Events.injection(normal, copy: normal.copies[0], messageSize: 1).contains("inline_css_skipped"))
    }
}

/// Found by the transmission fuzz target: a header that ends at an invalid field line
/// (`Date\0\0: …`), body re-encoded quoted-printable. Without an empty line the encoded
/// `Date=00=00: …` is a valid field, so the header would run on into the body.
@Suite struct ReencodedBodyKeepsItsBoundaryTests {
    @Test func quotedPrintableBodyAfterAnInvalidFieldLineStaysTheBody() throws {
        let filler = String(repeating: "w", count: 990)
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true,\"transactional\":true}}\n"
                + "Date\u{0}\u{0}: Wed, 9 Jan 2002\nContent-Type: x\n\(filler) http://example.com/x\n")
        let transmission = try Fixture.engine().prepare(
            message: message, envelope: Envelope(sender: "s@example.com", recipients: ["r@example.org"]),
            now: Fixture.now)
        let output = try transmission.renderedBytes(transmission.copies[0])
        let structure = try MessageStructure.parse(output)
        let top = try #require(structure.parts.first)
        // The re-parsed header ends where the input's did: nothing from the body became a field.
        #expect(top.header.first("content-type", in: output) == nil)
        #expect(top.header.separatorRange != nil)
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.contains("Content-Transfer-Encoding: quoted-printable\n\nDate=00=00: Wed"))
    }
}
