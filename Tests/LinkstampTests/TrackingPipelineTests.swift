import Foundation
import MIME
import SMTPAPI
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Decodes the tracked body parts of a rendered copy and returns their tracked URLs in order.
func trackedURLs(in copy: [UInt8], domain: String = "t.example.net") throws -> (
    html: [String], text: [String], htmlBody: [UInt8]
) {
    let structure = try MessageStructure.parse(copy)
    let (htmlIndex, textIndex) = structure.trackableBodyParts()
    func urls(_ index: Int?) -> ([String], [UInt8]) {
        guard let index else { return ([], []) }
        let part = structure.parts[index]
        let body = TransferCoding.decode(copy[part.bodyRange], part.transferEncoding)
        var found: [String] = []
        let prefix = Array("https://\(domain)/".utf8)
        let tokenBytes = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/".utf8)
        for range in body.ranges(of: prefix) {
            var end = range.upperBound
            while end < body.count, tokenBytes.contains(body[end]) { end += 1 }
            found.append(String(decoding: body[range.lowerBound..<end], as: UTF8.self))
        }
        return (found, body)
    }
    let html = urls(htmlIndex)
    return (html.0, urls(textIndex).0, html.1)
}

@Suite struct TrackingPipelineTests {
    let now: Int64 = 1_795_680_000

    func newsletter() throws -> Transmission {
        try Fixture.engine().prepare(
            message: Corpus.bundled("newsletter.eml"),
            envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]),
            now: Fixture.now)
    }

    @Test func everyCopyHasItsOwnLinksAndPixels() throws {
        let transmission = try newsletter()
        #expect(transmission.copies.map { $0.rcptType?.rawValue ?? "rcpt" } == ["rcpt", "cc", "bcc", "archive"])
        var bodies: [String: [String]] = [:]
        for copy in transmission.copies {
            let output = try transmission.renderedBytes(copy)
            let urls = try trackedURLs(in: output)
            // html: initial pixel, story, shop, vml shop, unsubscribe link, open pixel
            #expect(urls.html.count == 6, "\(urls.html)")
            #expect(urls.text.count == 3, "\(urls.text)")
            bodies[copy.rcptType?.rawValue ?? "rcpt"] = urls.html + urls.text
            let linkOwner = copy.rcptType == .archive ? transmission.copies[0] : copy
            var targets: [String] = []
            for url in urls.html + urls.text {
                let event = try TrackingDecoder.decode(url: url, keyRing: Fixture.keyRing, now: now)
                #expect(event.rcptTo == linkOwner.normalizedAddress)
                #expect(event.messageID == linkOwner.messageID)
                #expect(event.transmissionID == transmission.transmissionIDString)
                if let target = event.targetLinkURL {
                    targets.append("\(event.type.rawValue) \(target) \(event.targetLinkName ?? "")")
                } else {
                    targets.append(event.type.rawValue)
                }
            }
            #expect(
                targets == [
                    "initial_open",
                    "click https://acme.example/news/2026-11?utm_source=email&utm_medium=html story",
                    "click https://acme.example/shop Raw URL",
                    "click https://acme.example/shop Raw URL",
                    "link_unsubscribe https://acme.example/unsubscribe Raw URL",
                    "open",
                    "click https://acme.example/news/2026-11?utm_source=email Raw URL",
                    "click https://acme.example/menu Raw URL",
                    "click https://acme.example/prefs Raw URL",
                ])
            let html = urls.htmlBody.text
            #expect(html.contains("<a href=\"mailto:help@acme.example\">"))
            #expect(html.contains("<a href=\"#faq\">"))
            #expect(html.contains("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\""))
            #expect(html.contains("<BODY bgcolor=\"#f4f4f4\"><div style=\"color:transparent;"))
            #expect(
                html.contains("\" alt=\"\"></BODY>") || html.contains("\">\r\n</BODY>") || html.contains("\"></BODY>"))
        }
        #expect(bodies["archive"] == bodies["rcpt"], "archive links are the RCPT TO copy's, byte for byte")
        #expect(bodies["cc"] != bodies["rcpt"])
        #expect(bodies["bcc"] != bodies["rcpt"])
        #expect(bodies["bcc"] != bodies["cc"])
    }

    @Test func rewrittenPartsKeepLineLimitsAndOtherBytes() throws {
        let transmission = try newsletter()
        let input = try Corpus.bundled("newsletter.eml")
        for copy in transmission.copies {
            let output = try transmission.renderedBytes(copy)
            let structure = try MessageStructure.parse(output)
            for part in structure.parts where part.transferEncoding == .quotedPrintable {
                for line in output[part.bodyRange].split(separator: 0x0A) {
                    #expect(line.count <= 77, "quoted-printable line of \(line.count) octets")
                }
            }
            for line in output.split(separator: 0x0A) { #expect(line.count <= 999) }
            // The preamble and boundaries are the input's.
            let preamble = Array("This is a multi-part message in MIME format.\r\n\r\n--=_alt_7f3a\r\n".utf8)
            #expect(!output.ranges(of: preamble).isEmpty)
            #expect(!input.ranges(of: preamble).isEmpty)
        }
    }

    @Test func archiveCopyDiffersOnlyInItsOwnHeaderFields() throws {
        let transmission = try newsletter()
        let first = try transmission.renderedBytes(transmission.copies[0]).text
        let archive = try transmission.renderedBytes(transmission.copies[3]).text
        let firstBody = first.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        let archiveBody = archive.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        #expect(firstBody == archiveBody)
        #expect(first != archive, "List-Unsubscribe is the archive recipient's own")
    }

    @Test func base64HTMLBecomesQuotedPrintableWithCharsetKept() throws {
        let html =
            "<html><body><p>Gr\u{FC}\u{DF}e <a href=\"https://example.com/a?b=1&amp;c=2\">x</a></p></body></html>\r\n"
        let encoded = Data(html.utf8).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed,
        ])
        let message = Fixture.crlf(
            """
            Subject: b64
            MIME-Version: 1.0
            X-MSYS-API: {"options": {"click_tracking": true, "open_tracking": true, "transactional": true}}
            Content-Type: text/html; charset="utf-8"
            Content-Transfer-Encoding: base64

            \(encoded)

            """)
        let transmission = try Fixture.engine().prepare(
            message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
        let output = try transmission.renderedBytes(transmission.copies[0])
        #expect(
            output.contains(
                "Content-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"))
        let urls = try trackedURLs(in: output)
        #expect(urls.html.count == 3)
        let click = try TrackingDecoder.decode(url: urls.html[1], keyRing: Fixture.keyRing, now: now)
        #expect(click.targetLinkURL == "https://example.com/a?b=1&c=2")
        #expect(urls.htmlBody.text.hasPrefix("<html><body><div style="))
        #expect(urls.htmlBody.text.contains("<p>Gr\u{FC}\u{DF}e <a href=\"https://t.example.net/f/a/"))
    }

    @Test func trackingOffLeavesBodiesAlone() throws {
        let input = try Corpus.bundled("newsletter.eml")
        let text = input.text.replacingOccurrences(
            of: "\"open_tracking\": true, \"click_tracking\": true, \"inline_css\": true",
            with: "\"transactional\": true")
        let message = Array(text.utf8)
        let transmission = try Fixture.engine().prepare(
            message: message, envelope: Envelope(sender: "", recipients: ["reader@example.org"]))
        let output = try transmission.renderedBytes(transmission.copies[0])
        let body = Array(message[message.ranges(of: Array("\r\n\r\n".utf8))[0].upperBound...])
        #expect(!output.ranges(of: body).isEmpty, "the body is the input's, byte for byte")
    }
}
