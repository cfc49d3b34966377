import Testing

@testable import Tracking

/// Issue 11: the per-message token carries campaign, tags, metadata and options into every URL,
/// so the stateless endpoint can write SparkPost's engagement events.
@Suite struct MessageTokenTests {
    let ring: KeyRing
    let builder: TrackingURLBuilder

    init() throws {
        ring = try Support.ring()
        builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
    }

    static let message = MessageInfo(
        transmissionID: Support.link.transmissionID, injectionTime: Support.sentAt, campaignID: "spring-sale",
        tags: ["promo", "eu"], metadata: #"{"list":"42","name":"Jane \"J\" Doe"}"#, clickTracking: true,
        openTracking: true, initialPixel: false)

    private func decode(_ url: String) throws -> TrackedEvent {
        try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
    }

    @Test func everyKindCarriesTheMessage() throws {
        let click = try decode(
            builder.clickURL(link: Support.link, message: Self.message, recipient: Support.recipient))
        #expect(click.message == Self.message)
        #expect(click.targetLinkURL == Support.link.target)
        for kind in [URLKind.open, .initialOpen, .unsubscribe] {
            let event = try decode(builder.url(kind, message: Self.message, recipient: Support.recipient))
            #expect(event.message == Self.message, "\(kind)")
            #expect(event.rcptTo == Support.recipient.rcptTo)
        }
    }

    @Test func eventJSONHasTheNewFields() throws {
        let event = try decode(builder.url(.open, message: Self.message, recipient: Support.recipient))
        let json = event.json()
        #expect(
            json.contains(
                #""campaign_id":"spring-sale","rcpt_meta":{"list":"42","name":"Jane \"J\" Doe"},"rcpt_tags":["promo","eu"],"click_tracking":true,"open_tracking":true,"initial_pixel":false,"injection_time":"#
            ))
        let slim = try decode(builder.url(.unsubscribe, message: Self.message.slim, recipient: Support.recipient))
        #expect(slim.message?.isSlim == true)
        #expect(slim.message?.campaignID == "spring-sale")
        #expect(!slim.json().contains("rcpt_tags"))
    }

    @Test func oldShapesStillDecode() throws {
        let click = try decode(builder.clickURL(link: Support.link, recipient: Support.recipient))
        #expect(click.message == nil)
        #expect(click.targetLinkURL == Support.link.target)
        for kind in [URLKind.open, .initialOpen, .unsubscribe] {
            let event = try decode(builder.url(kind, recipient: Support.recipient))
            #expect(event.message == nil)
        }
        // A sublink named like a route keeps working in both shapes.
        var link = Support.link
        link.sublink = "f"
        #expect(try decode(builder.clickURL(link: link, recipient: Support.recipient)).targetLinkURL == link.target)
        #expect(
            try decode(builder.clickURL(link: link, message: Self.message, recipient: Support.recipient)).message != nil
        )
    }

    @Test func transmissionIDsMustAgree() throws {
        var other = Self.message
        other.transmissionID += 1
        let recipient = try builder.recipientToken(Support.recipient)
        let click =
            builder.clickURLPrefix(
                linkToken: try builder.linkToken(Support.link), messageToken: try builder.messageToken(other),
                sublink: nil)
            + recipient.string(.click)
        #expect(throws: TrackingError.self) { try decode(click) }
        for kind in [URLKind.open, .unsubscribe] {
            let url = builder.urlPrefix(kind, messageToken: try builder.messageToken(other)) + recipient.string(kind)
            let error = Support.error { () throws(TrackingError) in
                _ = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
            }
            #expect(error?.description == TrackingError.transmissionMismatch().description)
        }
    }

    @Test func messageTokenIsNotARecipientOrLinkToken() throws {
        let message = try builder.messageToken(Self.message)
        let recipient = try builder.recipientToken(Support.recipient)
        // The message token where the recipient segment belongs, and the reverse.
        let swapped = builder.unsubscribeURLPrefix + recipient.string(.unsubscribe) + "/" + message
        #expect(throws: TrackingError.self) { try decode(swapped) }
        let asLink =
            builder.clickURLPrefix(linkToken: message, messageToken: message, sublink: nil) + recipient.string(.click)
        #expect(throws: TrackingError.self) { try decode(asLink) }
    }

    /// A click URL of a typical message (a 15-character link name, a 60-character target, a
    /// 30-character address, two tags, a campaign) with the full 1000 bytes of metadata stays under
    /// 2,000 characters. (With every other field at its maximum too — 63-byte name, 64-byte campaign,
    /// ten tags, a 125-byte address, a 96-byte target — it is 2,164.)
    @Test func clickURLStaysUnder2000CharactersWith1000BytesOfMetadata() throws {
        var message = Self.message
        // Varied text, so nothing here depends on the metadata compressing well.
        var metadata = #"{"k":""#
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        while metadata.utf8.count < 998 {
            metadata.unicodeScalars.append(Unicode.Scalar(alphabet[Int(generator.next() % UInt64(alphabet.count))]))
        }
        metadata += #""}"#
        message.metadata = metadata
        #expect(message.metadata?.utf8.count == 1000)
        message.tags = ["spring", "newsletter"]
        message.campaignID = "spring-sale-2026"
        var link = Support.link
        link.target = "https://shop.example.com/spring/sale?utm_source=newsletter&a=1"
        link.name = "hero button top"
        var recipient = Support.recipient
        recipient.rcptTo = "jane.doe.reader@example-mail.org"
        let url = try builder.clickURL(link: link, message: message, recipient: recipient)
        #expect(url.utf8.count < 2000, "click URL is \(url.utf8.count) characters")
        #expect(try decode(url).message?.metadata == message.metadata)
        var tooBig = message
        tooBig.metadata = metadata + " "
        #expect(throws: TrackingError.self) { try builder.messageToken(tooBig) }
    }

    @Test func tamperedMessageTokenIsRefused() throws {
        let url = try builder.url(.open, message: Self.message, recipient: Support.recipient)
        var bytes = Array(url.utf8)
        let slash = try #require(bytes.lastIndex(of: UInt8(ascii: "/")))
        bytes[slash - 10] = bytes[slash - 10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: TrackingError.self) { try decode(String(decoding: bytes, as: UTF8.self)) }
    }
}
