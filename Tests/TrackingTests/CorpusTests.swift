import Foundation
import Testing

@testable import Tracking

/// Every absolute link of the shared HTML corpus survives a click URL round trip byte for byte.
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

    @Test(.enabled(if: Support.hasCorpus, "shared corpus not found; set LINKSTAMP_CORPUS"))
    func corpusLinksRoundTrip() throws {
        let dir = Support.corpus.appendingPathComponent("html")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".html") }
            .sorted()
        #expect(!files.isEmpty, "corpus html folder is empty")
        let ring = try Support.ring()
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
        var links = 0
        for (messageIndex, file) in files.enumerated() {
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(file)))
            let recipient = RecipientInfo(
                transmissionID: UInt64(messageIndex), messageID: "<\(file)@corpus>",
                rcptTo: "r\(messageIndex)@example.org",
                rcptType: nil, expires: Support.expires)
            let recipientToken = try builder.recipientToken(recipient)
            for (index, href) in Self.hrefs(bytes).enumerated() where href.utf8.count <= 4096 {
                let link = LinkInfo(transmissionID: UInt64(messageIndex), index: index, target: href)
                let url = builder.clickURLPrefix(linkToken: try builder.linkToken(link), sublink: nil) + recipientToken.string(.click)
                let event = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
                #expect(Array((event.targetLinkURL ?? "").utf8) == Array(href.utf8), "\(file) link \(index)")
                #expect(event.messageID == recipient.messageID)
                links += 1
            }
        }
        #expect(links > 100)
    }
}
