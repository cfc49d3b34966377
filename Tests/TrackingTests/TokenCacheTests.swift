import Testing

@testable import Tracking

/// `TokenCache`: opened link and message tokens reused by their text; a hit decodes exactly as
/// opening the token again would, and nothing that fails to open is ever reused.
@Suite struct TokenCacheTests {
    let ring: KeyRing
    let builder: TrackingURLBuilder

    init() throws {
        ring = try Support.ring()
        builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
    }

    private func decode(_ url: String, cache: TokenCache?, now: Int64 = Support.now) throws(TrackingError)
        -> TrackedEvent
    {
        try TrackingDecoder.decode(url: url, keyRing: ring, now: now, limits: .default, cache: cache)
    }

    @Test func hitsDecodeAsMisses() throws {
        let cache = TokenCache()
        let click = try builder.clickURL(
            link: Support.link, message: MessageTokenTests.message, recipient: Support.recipient)
        let open = try builder.url(.open, message: MessageTokenTests.message, recipient: Support.recipient)
        for url in [click, open] {
            let plain = try decode(url, cache: nil)
            #expect(try decode(url, cache: cache) == plain)
            #expect(try decode(url, cache: cache) == plain)  // from the cache
        }
        // The same link and message tokens with another recipient's segment.
        var other = Support.recipient
        other.rcptTo = "other@example.org"
        let otherClick = try builder.clickURL(link: Support.link, message: MessageTokenTests.message, recipient: other)
        let otherSegment = Support.segment(otherClick, fromEnd: 0)
        let mixed = Support.replacingSegment(click, fromEnd: 0, with: otherSegment)
        #expect(try decode(mixed, cache: cache).rcptTo == "other@example.org")
    }

    @Test func rejectionsStayWithAWarmCache() throws {
        let cache = TokenCache()
        let click = try builder.clickURL(
            link: Support.link, message: MessageTokenTests.message, recipient: Support.recipient)
        _ = try decode(click, cache: cache)
        // Recipient tokens are not cached: a tampered, expired or wrong-kind one is still refused.
        let recipient = Support.segment(click, fromEnd: 0)
        var tampered = Array(recipient.utf8)
        tampered[30] = tampered[30] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forged = Support.replacingSegment(click, fromEnd: 0, with: String(decoding: tampered, as: UTF8.self))
        #expect(Support.error { () throws(TrackingError) in _ = try decode(forged, cache: cache) } != nil)
        #expect(
            Support.error { () throws(TrackingError) in _ = try decode(click, cache: cache, now: Int64.max) }?.isExpired
                == true)
        let open = try builder.url(.open, message: MessageTokenTests.message, recipient: Support.recipient)
        let wrongKind = Support.replacingSegment(open, fromEnd: 0, with: recipient)
        #expect(Support.error { () throws(TrackingError) in _ = try decode(wrongKind, cache: cache) } != nil)
        // A cached message token in the link token's place is still the wrong kind of token.
        let message = Support.segment(click, fromEnd: 1)
        let swapped = Support.replacingSegment(click, fromEnd: 2, with: message)
        #expect(Support.error { () throws(TrackingError) in _ = try decode(swapped, cache: cache) } != nil)
        // A forged link token is never stored: refused every time.
        var link = Array(Support.segment(click, fromEnd: 2).utf8)
        link[40] = link[40] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forgedLink = Support.replacingSegment(click, fromEnd: 2, with: String(decoding: link, as: UTF8.self))
        for _ in 0..<2 {
            #expect(Support.error { () throws(TrackingError) in _ = try decode(forgedLink, cache: cache) } != nil)
        }
        #expect(try decode(click, cache: cache) == decode(click, cache: nil))
    }
}
