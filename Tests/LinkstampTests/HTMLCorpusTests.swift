import Foundation
import LinkScan
import MIME
import TestSupport
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Every document of the HTML corpora (the project's own, and the shared one when present),
/// wrapped in MIME three ways (quoted-printable, base64, 8bit) and three structures
/// (alternative, related, mixed with an attachment): every eligible link is tracked and decodes
/// back to its target, and undoing the rewrite (tracked URLs back to the original values,
/// pixels out) gives the document back byte for byte.
@Suite struct HTMLCorpusTests {
    static let now: Int64 = 1_795_680_000

    enum Encoding: String, CaseIterable {
        case quotedPrintable = "quoted-printable"
        case base64
        case eightBit = "8bit"
    }
    enum Structure: CaseIterable { case alternative, related, mixedWithAttachment }

    static func wrap(_ html: [UInt8], encoding: Encoding, structure: Structure) -> [UInt8] {
        let body: [UInt8]
        switch encoding {
        case .quotedPrintable:
            var encoder = QuotedPrintableEncoder(lineEnding: .crlf)
            encoder.append(html[...])
            encoder.finish()
            body = encoder.output
        case .base64: body = Base64.encode(html[...], lineEnding: .crlf)
        case .eightBit: body = html
        }
        var htmlPart = Array(
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: \(encoding.rawValue)\r\n\r\n".utf8)
        htmlPart += body
        let text = Array("Content-Type: text/plain; charset=utf-8\r\n\r\nPlain version.\r\n".utf8)
        func multipart(_ type: String, _ boundary: String, _ parts: [[UInt8]]) -> [UInt8] {
            var out = Array("Content-Type: multipart/\(type); boundary=\"\(boundary)\"\r\n\r\n".utf8)
            for part in parts { out += Array("--\(boundary)\r\n".utf8) + part + Array("\r\n".utf8) }
            out += Array("--\(boundary)--\r\n".utf8)
            return out
        }
        let inner: [UInt8]
        switch structure {
        case .alternative: inner = multipart("alternative", "alt-b", [text, htmlPart])
        case .related:
            let image = Array(
                "Content-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
                    .utf8)
            inner = multipart("related", "rel-b", [htmlPart, image])
        case .mixedWithAttachment:
            let attachment = Array(
                "Content-Type: text/html; name=\"copy.html\"\r\nContent-Disposition: attachment; filename=\"copy.html\"\r\n\r\n<a href=\"https://attachment.example/\">x</a>\r\n"
                    .utf8)
            inner = multipart("mixed", "mix-b", [multipart("alternative", "alt-b", [text, htmlPart]), attachment])
        }
        let header =
            "From: s@example.com\r\nTo: r@example.org\r\nSubject: corpus\r\nMIME-Version: 1.0\r\nX-MSYS-API: {\"options\": {\"open_tracking\": true, \"click_tracking\": true, \"transactional\": true}}\r\n"
        return Array(header.utf8) + inner
    }

    /// The decoded HTML part of a copy with tracked URLs put back and the pixels removed.
    static func undo(_ decoded: [UInt8], originalValues: [ArraySlice<UInt8>]) throws -> (
        restored: [UInt8], urls: [String]
    ) {
        let initialHead = BodyRewriter.initialPixelHead
        let initialTail = BodyRewriter.initialPixelTail
        let openHead = BodyRewriter.openPixelHead
        let openTail = BodyRewriter.openPixelTail
        let click = Array("https://t.example.net/f/".utf8)
        let tokenBytes = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/".utf8)
        var out: [UInt8] = []
        var urls: [String] = []
        var index = 0
        var link = 0
        func matches(_ needle: [UInt8], at position: Int) -> Bool {
            position + needle.count <= decoded.count && Array(decoded[position..<(position + needle.count)]) == needle
        }
        func skipPixel(_ head: [UInt8], _ tail: [UInt8]) -> Bool {
            guard matches(head, at: index) else { return false }
            var end = index + head.count
            while end < decoded.count,
                tokenBytes.contains(decoded[end]) || decoded[end] == UInt8(ascii: ":")
                    || decoded[end] == UInt8(ascii: ".")
            { end += 1 }
            guard matches(tail, at: end) else { return false }
            urls.append(String(decoding: decoded[(index + head.count)..<end], as: UTF8.self))
            index = end + tail.count
            return true
        }
        while index < decoded.count {
            if skipPixel(initialHead, initialTail) || skipPixel(openHead, openTail) { continue }
            if matches(click, at: index) {
                var end = index + click.count
                while end < decoded.count, tokenBytes.contains(decoded[end]) { end += 1 }
                urls.append(String(decoding: decoded[index..<end], as: UTF8.self))
                guard link < originalValues.count else { throw CocoaError(.coderInvalidValue) }
                out += originalValues[link]
                link += 1
                index = end
                continue
            }
            out.append(decoded[index])
            index += 1
        }
        return (out, urls)
    }

    static func lf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for (index, byte) in bytes.enumerated()
        where !(byte == 0x0D && index + 1 < bytes.count && bytes[index + 1] == 0x0A) {
            out.append(byte)
        }
        return out
    }

    @Test(arguments: Corpora.sources)
    func corpusIsThere(_ source: CorpusSource) throws {
        let count = try Corpora.files(source, .html, suffix: ".html").count
        #expect(count > source.pick(own: 8, shared: 80), "the \(source) HTML corpus has only \(count) documents")
    }

    @Test(arguments: Corpora.sources, Encoding.allCases)
    func everyLinkTrackedAndNothingElseChanged(_ source: CorpusSource, _ encoding: Encoding) throws {
        let engine = try Fixture.engine()
        var links = 0
        for (position, url) in try Corpora.files(source, .html, suffix: ".html").enumerated() {
            let name = url.lastPathComponent
            let html = Array(try Data(contentsOf: url))
            let structure = Structure.allCases[position % Structure.allCases.count]
            let message = Self.wrap(html, encoding: encoding, structure: structure)
            let transmission = try engine.prepare(
                message: message, envelope: Envelope(sender: "s@example.com", recipients: ["r@example.org"]))
            let output = try transmission.renderedBytes(transmission.copies[0])
            for line in output.split(separator: 0x0A, omittingEmptySubsequences: false) where line.count > 999 {
                Issue.record("\(name) \(encoding): a line of \(line.count) octets")
            }
            let after = try MessageStructure.parse(output)
            guard let htmlIndex = after.trackableBodyParts().html else {
                Issue.record("\(name): no HTML part in the copy")
                continue
            }
            let part = after.parts[htmlIndex]
            let decoded = TransferCoding.decode(output[part.bodyRange], part.transferEncoding)
            let expected = HTMLLinkScanner.scan(html)
            let (restored, urls) = try Self.undo(decoded, originalValues: expected.links.map { html[$0.replaceRange] })
            // Quoted-printable and base64 carry text in canonical form (RFC 2045 §6.7): a line
            // break decodes as CRLF, so those compare with line ends normalised.
            let same = part.transferEncoding != .quotedPrintable ? restored == html : Self.lf(restored) == Self.lf(html)
            if !same {
                Issue.record("\(name) \(encoding) \(structure): undoing the rewrite does not give the document back")
            }
            var targets: [String] = []
            for tracked in urls {
                let event = try TrackingDecoder.decode(url: tracked, keyRing: Fixture.keyRing, now: Self.now)
                #expect(event.rcptTo == "r@example.org")
                if let target = event.targetLinkURL { targets.append(target) }
            }
            #expect(targets == expected.links.map(\.target), "\(name)")
            #expect(urls.count == expected.links.count + 1 + (expected.initialPixelOffset == nil ? 0 : 1), "\(name)")
            links += targets.count
            // Every other part keeps its bytes.
            let before = try MessageStructure.parse(message)
            for index in before.parts.indices where index != htmlIndex && before.parts[index].children.isEmpty {
                #expect(
                    Array(message[before.parts[index].bodyRange]) == Array(output[after.parts[index].bodyRange]),
                    "\(name) part \(index)")
            }
        }
        #expect(links > 150, "too few links tracked across the corpus")
    }
}
