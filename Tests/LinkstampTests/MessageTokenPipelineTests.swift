import Foundation
import MIME
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Issue 11 item 1 on the filter side: every URL of every copy carries the one message token.
@Suite struct MessageTokenPipelineTests {
    static func message(metadataBytes: Int) -> [UInt8] {
        var metadata = #"{"k":""#
        metadata += String(repeating: "m", count: max(0, metadataBytes - metadata.utf8.count - 2)) + #""}"#
        return Fixture.crlf(
            """
            From: news@acme.example
            To: a@example.org
            Subject: x
            X-MSYS-API: {"campaign_id":"c-1","metadata":\(metadata),"tags":["t1","t2"],"options":{"click_tracking":true,"open_tracking":true}}
            Content-Type: text/html

            <html><body><a href="https://shop.example.com/a">a</a> <a href="https://shop.example.com/b">b</a></body></html>

            """)
    }

    /// The `List-Unsubscribe` https URL of a copy (folds joined) and the longest header line.
    static func listUnsubscribe(_ copy: [UInt8]) throws -> (url: String, longestLine: Int) {
        let structure = try MessageStructure.parse(copy)
        let header = try #require(structure.parts.first).header
        let text = String(decoding: copy[header.range], as: UTF8.self)
        let longest = text.components(separatedBy: "\r\n").map(\.utf8.count).max() ?? 0
        let unfolded = text.replacingOccurrences(of: "\r\n ", with: " ")
        let start = try #require(unfolded.range(of: "<https://t.example.net/u/"))
        let end = try #require(unfolded[start.upperBound...].firstIndex(of: ">"))
        return (String(unfolded[unfolded.index(after: start.lowerBound)..<end]), longest)
    }

    @Test func everyURLOfEveryCopyCarriesTheSameMessageToken() throws {
        let transmission = try Fixture.engine().prepare(
            message: Self.message(metadataBytes: 200),
            envelope: Envelope(sender: "news@acme.example", recipients: ["a@example.org", "b@example.org"]),
            now: Fixture.now)
        var messageSegments = Set<String>()
        var recipientSegments = Set<String>()
        for copy in transmission.copies {
            let output = try transmission.renderedBytes(copy)
            let urls = try trackedURLs(in: output).html
            #expect(urls.count == 4, "\(urls)")  // initial pixel, two links, open pixel
            for url in urls {
                let event = try TrackingDecoder.decode(
                    url: url, keyRing: Fixture.keyRing, now: Int64(Fixture.now.timeIntervalSince1970))
                let message = try #require(event.message)
                #expect(message.campaignID == "c-1")
                #expect(message.tags == ["t1", "t2"])
                #expect(message.metadata?.utf8.count == 200)
                #expect(message.injectionTime == Int64(Fixture.now.timeIntervalSince1970))
                let parts = url.split(separator: "/")
                messageSegments.insert(String(parts[parts.count - 2]))
                recipientSegments.insert(String(parts[parts.count - 1].dropLast(8)))
            }
            // Small metadata: the full message token fits the List-Unsubscribe line.
            let (unsubscribe, longest) = try Self.listUnsubscribe(output)
            #expect(longest <= 998)
            let event = try TrackingDecoder.decode(
                url: unsubscribe, keyRing: Fixture.keyRing, now: Int64(Fixture.now.timeIntervalSince1970))
            #expect(event.message?.isSlim == false)
            #expect(event.message?.tags == ["t1", "t2"])
        }
        // One message token (sealed once, template bytes), one recipient token per copy.
        #expect(messageSegments.count == 1)
        #expect(recipientSegments.count == 2)
    }

    @Test func listUnsubscribeTakesTheSlimTokenWhenTheFullOneIsTooLong() throws {
        let transmission = try Fixture.engine().prepare(
            message: Self.message(metadataBytes: 1000),
            envelope: Envelope(
                sender: "news@acme.example", recipients: [String(repeating: "a", count: 64) + "@example.org"]),
            now: Fixture.now)
        let output = try transmission.renderedBytes(try #require(transmission.copies.first))
        let (unsubscribe, longest) = try Self.listUnsubscribe(output)
        #expect(longest <= 998, "longest header line \(longest)")
        let event = try TrackingDecoder.decode(
            url: unsubscribe, keyRing: Fixture.keyRing, now: Int64(Fixture.now.timeIntervalSince1970))
        #expect(event.message?.isSlim == true)
        #expect(event.message?.campaignID == "c-1")
        #expect(event.message?.metadata == nil)
        // The body's URLs still carry everything.
        let click = try #require(try trackedURLs(in: output).html.first { $0.contains("/f/") })
        let clickEvent = try TrackingDecoder.decode(
            url: click, keyRing: Fixture.keyRing, now: Int64(Fixture.now.timeIntervalSince1970))
        #expect(clickEvent.message?.metadata?.utf8.count == 1000)
    }
}
