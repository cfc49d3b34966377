import Testing

@testable import Tracking

/// The JSON of decoded events, compared byte for byte with golden files in Fixtures/.
@Suite struct EventJSONTests {
    let ring: KeyRing
    let builder: TrackingURLBuilder

    init() throws {
        ring = try Support.ring()
        builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
    }

    private func decode(_ url: String) throws -> TrackedEvent {
        try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
    }

    @Test func clickGolden() throws {
        var link = Support.link
        link.name = "Buy \"now\" \\ café"
        link.target = "https://example.com/p?a=1&b=\u{2028}\t"
        let event = try decode(try builder.clickURL(link: link, recipient: Support.recipient))
        Support.expectGolden(event.json() + "\n", "event-click.json")
    }

    @Test func linkUnsubscribeGolden() throws {
        let link = LinkInfo(
            transmissionID: Support.link.transmissionID, index: 9, target: "https://example.com/unsub?u=1",
            isUnsubscribe: true, sublink: "u")
        var recipient = Support.recipient
        recipient.rcptType = .cc
        let event = try decode(try builder.clickURL(link: link, recipient: recipient))
        Support.expectGolden(event.json() + "\n", "event-link-unsubscribe.json")
    }

    @Test func openKindsGolden() throws {
        var recipient = Support.recipient
        recipient.rcptType = .bcc
        recipient.rcptTo = "bcc\u{1}@example.org"
        let token = try builder.recipientToken(recipient)
        let lines = try [
            builder.openURLPrefix + token.string(.open), builder.initialOpenURLPrefix + token.string(.initialOpen),
            builder.unsubscribeURLPrefix + token.string(.unsubscribe),
        ].map { try decode($0).json() }
        Support.expectGolden(lines.joined(separator: "\n") + "\n", "event-opens.json")
    }

    @Test func constructedEventWithNilName() {
        let event = TrackedEvent(
            type: .click, transmissionID: "1", messageID: "m", rcptTo: "r", rcptType: .archive,
            targetLinkURL: "https://x/", targetLinkName: nil, expires: 0, keyID: 1)
        let expected =
            #"{"type":"click","transmission_id":"1","message_id":"m","rcpt_to":"r","rcpt_type":"archive","target_link_url":"https://x/","target_link_name":null,"expires":"1970-01-01T00:00:00Z"}"#
        #expect(Array(event.json().utf8) == Array(expected.utf8))
    }
}
