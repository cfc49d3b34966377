import Foundation
import TestSupport
import Testing

@testable import Tracking

/// Every absolute link of the HTML corpora (the project's own, and the shared one when present)
/// survives a click URL round trip byte for byte.
@Suite struct CorpusTests {
    /// `href` values starting with http(s), as written in the file (quotes stripped).
    private static func hrefs(_ bytes: [UInt8]) -> [String] {
        var found: [String] = []
        let needle = Array("href=".utf8)
        var i = 0
        while i + needle.count < bytes.count {
            defer { i += 1 }
            guard
                zip(needle, bytes[i..<i + needle.count]).allSatisfy({
                    $0 == ($1 | ($1 >= 0x41 && $1 <= 0x5A ? 0x20 : 0))
                })
            else { continue }
            var start = i + needle.count
            guard start < bytes.count else { break }
            let quote = bytes[start]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { continue }
            start += 1
            guard let end = bytes[start...].firstIndex(of: quote) else { break }
            let value = String(decoding: bytes[start..<end], as: UTF8.self)
            if value.lowercased().hasPrefix("http://") || value.lowercased().hasPrefix("https://") {
                found.append(value)
            }
        }
        return found
    }

    @Test(arguments: Corpora.sources)
    func corpusLinksRoundTrip(_ source: CorpusSource) throws {
        let files = try Corpora.files(source, .html, suffix: ".html")
        let ring = try Support.ring()
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
        var links = 0
        for (messageIndex, url) in files.enumerated() {
            let file = url.lastPathComponent
            let bytes = [UInt8](try Data(contentsOf: url))
            let recipient = RecipientInfo(
                transmissionID: UInt64(messageIndex), messageID: "<\(file)@corpus>",
                rcptTo: "r\(messageIndex)@example.org",
                rcptType: nil, expires: Support.expires)
            let recipientToken = try builder.recipientToken(recipient)
            for (index, href) in Self.hrefs(bytes).enumerated() where href.utf8.count <= 4096 {
                let link = LinkInfo(transmissionID: UInt64(messageIndex), index: index, target: href)
                let url =
                    builder.clickURLPrefix(linkToken: try builder.linkToken(link), sublink: nil)
                    + recipientToken.string(.click)
                let event = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
                #expect(Array((event.targetLinkURL ?? "").utf8) == Array(href.utf8), "\(file) link \(index)")
                #expect(event.messageID == recipient.messageID)
                links += 1
            }
        }
        #expect(links > source.pick(own: 100, shared: 100), "only \(links) links")
    }
}
