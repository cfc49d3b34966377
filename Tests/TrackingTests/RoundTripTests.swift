import Testing

@testable import Tracking

@Suite struct RoundTripTests {
    let ring: KeyRing
    let builder: TrackingURLBuilder

    init() throws {
        ring = try Support.ring()
        builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
    }

    private func click(_ link: LinkInfo, _ recipient: RecipientInfo = Support.recipient) throws -> TrackedEvent {
        let url = try builder.clickURL(link: link, recipient: recipient)
        return try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
    }

    @Test func clickCarriesEveryField() throws {
        let event = try click(Support.link)
        #expect(
            event
                == TrackedEvent(
                    type: .click, transmissionID: "7123456789012345678", messageID: "<0001.abc@relay.example>",
                    rcptTo: "Jane.Doe@example.org", rcptType: nil, targetLinkURL: "https://example.com/a?b=1&c=2",
                    targetLinkName: "Raw URL", expires: Support.expires, keyID: 2))
    }

    @Test func clickURLShape() throws {
        let linkToken = try builder.linkToken(Support.link)
        let recipientToken = try builder.recipientToken(Support.recipient).string(.click)
        let url = builder.clickURLPrefix(linkToken: linkToken, sublink: nil) + recipientToken
        #expect(url == "https://click.example.com/f/a/\(linkToken)/\(recipientToken)")
        #expect(
            builder.clickURLPrefix(linkToken: "T", sublink: "promo_2-x") == "https://click.example.com/f/promo_2-x/T/")
        #expect(builder.clickURLPrefix(linkToken: "T", sublink: "bad/one") == "https://click.example.com/f/a/T/")
        #expect(builder.clickURLPrefix(linkToken: "T", sublink: "") == "https://click.example.com/f/a/T/")
        #expect(
            builder.clickURLPrefix(linkToken: "T", sublink: String(repeating: "s", count: 33))
                == "https://click.example.com/f/a/T/")
        #expect(builder.openURLPrefix == "https://click.example.com/q/o/")
        #expect(builder.initialOpenURLPrefix == "https://click.example.com/q/i/")
        #expect(builder.unsubscribeURLPrefix == "https://click.example.com/u/")
        let tokenBytes = Array((linkToken + recipientToken).utf8)
        #expect(tokenBytes.allSatisfy { base64URLAlphabet.contains($0) })
    }

    @Test func domainIsNormalized() throws {
        let b = TrackingURLBuilder(domain: "HTTPS://t.example.net//", keyRing: ring)
        #expect(b.openURLPrefix == "https://t.example.net/q/o/")
    }

    @Test func domainValidation() throws {
        let longest = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".")
            .prefix(253)
        for good in ["click.example.com", "T.Example.NET", "xn--bcher-kva.example", "localhost", String(longest)] {
            #expect(Support.error { () throws(TrackingError) in try TrackingURLBuilder.validateDomain(good) } == nil)
        }
        let bad: [(String, String)] = [
            ("", "tracking domain must be a host name of 1 to 253 bytes"),
            (String(longest) + "a", "tracking domain must be a host name of 1 to 253 bytes"),
            ("https://t.example", "tracking domain has a character not allowed at byte 5"),
            ("t.example:8443", "tracking domain has a character not allowed at byte 9"),
            ("[::1]", "tracking domain has a character not allowed at byte 0"),
            ("t.example/path", "tracking domain has a character not allowed at byte 9"),
            ("t.example\"><script>", "tracking domain has a character not allowed at byte 9"),
            ("t example", "tracking domain has a character not allowed at byte 1"),
            ("bücher.example", "tracking domain has a character not allowed at byte 1"),
            ("t..example", "tracking domain has an empty or over-long label at byte 2"),
            (".example", "tracking domain has an empty or over-long label at byte 0"),
            ("example.", "tracking domain has an empty or over-long label at byte 8"),
            (
                String(repeating: "a", count: 64) + ".example",
                "tracking domain has an empty or over-long label at byte 0"
            ),
        ]
        for (domain, message) in bad {
            let error = Support.error { () throws(TrackingError) in try TrackingURLBuilder.validateDomain(domain) }
            #expect(error?.description == message, "\(domain)")
        }
    }

    @Test func clickWithSublink() throws {
        var link = Support.link
        link.sublink = "promo"
        link.name = "Header logo"
        let url = try builder.clickURL(link: link, recipient: Support.recipient)
        #expect(url.hasPrefix("https://click.example.com/f/promo/"))
        let event = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
        #expect(event.type == .click)
        #expect(event.targetLinkName == "Header logo")
        #expect(event.targetLinkURL == link.target)
    }

    @Test func unsubscribeFlaggedLink() throws {
        var link = Support.link
        link.isUnsubscribe = true
        link.name = "Unsubscribe"
        let event = try click(link)
        #expect(event.type == .link_unsubscribe)
        #expect(event.targetLinkName == "Unsubscribe")
    }

    @Test(arguments: [
        (TrackedEventType.open, "q/o/", URLKind.open), (.initial_open, "q/i/", .initialOpen),
        (.list_unsubscribe, "u/", .unsubscribe),
    ])
    func recipientOnlyURLs(type: TrackedEventType, path: String, kind: URLKind) throws {
        let token = try builder.recipientToken(Support.recipient).string(kind)
        let url = "https://click.example.com/" + path + token
        let event = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
        #expect(
            event
                == TrackedEvent(
                    type: type, transmissionID: "7123456789012345678", messageID: "<0001.abc@relay.example>",
                    rcptTo: "Jane.Doe@example.org", rcptType: nil, expires: Support.expires, keyID: 2))
        // The builder's prefixes produce exactly these URLs.
        let prefix = [
            TrackedEventType.open: builder.openURLPrefix, .initial_open: builder.initialOpenURLPrefix,
            .list_unsubscribe: builder.unsubscribeURLPrefix,
        ][type]
        #expect(prefix.map { $0 + token } == url)
    }

    @Test(arguments: [RecipientType?.none, .cc, .bcc, .archive])
    func recipientTypes(type: RecipientType?) throws {
        var recipient = Support.recipient
        recipient.rcptType = type
        let event = try click(Support.link, recipient)
        #expect(event.rcptType == type)
    }

    @Test(arguments: [
        "https://example.com/?a=1&b=2&amp;c=3",
        "https://例子.测试/路径?q=café&emoji=😀",
        "HTTP://EXAMPLE.COM/%E2%82%AC#frag/with/slashes",
        "https://example.com/" + String(repeating: "x", count: 4096 - 20),
        "",
        "https://example.com/a\"b\\c\u{0}\u{7F}\n",
    ])
    func targetsRoundTrip(target: String) throws {
        let event = try click(LinkInfo(transmissionID: 7_123_456_789_012_345_678, index: 0, target: target))
        #expect(Array((event.targetLinkURL ?? "-").utf8) == Array(target.utf8))
    }

    @Test func targetOf4096BytesIsAcceptedAnd4097Refused() throws {
        let exact = "https://example.com/" + String(repeating: "é", count: (4096 - 20) / 2)
        #expect(exact.utf8.count == 4096)
        let event = try click(LinkInfo(transmissionID: Support.link.transmissionID, index: 1, target: exact))
        #expect(event.targetLinkURL == exact)
        let tooLong = LinkInfo(transmissionID: 1, index: 1, target: exact + "x")
        #expect(
            Support.error { () throws(TrackingError) in _ = try builder.linkToken(tooLong) }
                == .fieldTooLong("target URL", bytes: 4097, limit: 4096))
    }

    @Test func unicodeRecipientAndMessageID() throws {
        let recipient = RecipientInfo(
            transmissionID: 0, messageID: "<ü@relay>", rcptTo: "δοκιμή@παράδειγμα.δοκιμή", rcptType: .bcc,
            expires: Support.expires)
        let event = try click(LinkInfo(transmissionID: 0, index: 0, target: "https://x.example/"), recipient)
        #expect(event.rcptTo == "δοκιμή@παράδειγμα.δοκιμή")
        #expect(event.messageID == "<ü@relay>")
        #expect(event.transmissionID == "0")
    }

    @Test func longLinkNameIsTruncatedAtScalarBoundary() throws {
        let name = String(repeating: "a", count: 62) + "é" + "tail"  // é straddles byte 63
        let event = try click(
            LinkInfo(transmissionID: Support.link.transmissionID, index: 0, target: "https://x/", name: name))
        #expect(event.targetLinkName == String(repeating: "a", count: 62))
        let fits = String(repeating: "b", count: 63)
        let event2 = try click(
            LinkInfo(transmissionID: Support.link.transmissionID, index: 0, target: "https://x/", name: fits))
        #expect(event2.targetLinkName == fits)
    }

    @Test func decoderAcceptsPathsAndIgnoresQueryAndPrefix() throws {
        let url = try builder.clickURL(link: Support.link, recipient: Support.recipient)
        let path = String(url.dropFirst("https://click.example.com".count))
        let expected = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
        for variant in [
            path, String(path.dropFirst()), "  " + url + "\r\n", url + "?utm=1#x", "http://other.host:8080" + path,
            "https://click.example.com/track" + path, "click.example.com" + path, url + "/",
        ] {
            #expect(try TrackingDecoder.decode(url: variant, keyRing: ring, now: Support.now) == expected, "\(variant)")
        }
    }

    @Test func tokensAreFreshAndRecipientTokenIsShared() throws {
        // Random nonces: the same input never produces the same token twice.
        #expect(try builder.recipientToken(Support.recipient) != builder.recipientToken(Support.recipient))
        // One recipient token serves every link, the pixels and the unsubscribe URL.
        let rt = try builder.recipientToken(Support.recipient).string(.click)
        for index in 0..<5 {
            let link = LinkInfo(
                transmissionID: Support.link.transmissionID, index: index, target: "https://e.x/\(index)")
            let url = builder.clickURLPrefix(linkToken: try builder.linkToken(link), sublink: nil) + rt
            #expect(try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now).targetLinkURL == link.target)
        }
        #expect(try builder.recipientToken(Support.recipient).segmentLength == rt.utf8.count)
    }

    @Test func encodingLimits() throws {
        var recipient = Support.recipient
        recipient.rcptTo = String(repeating: "r", count: 999)
        #expect(
            Support.error { () throws(TrackingError) in _ = try builder.recipientToken(recipient) }
                == .fieldTooLong("rcpt_to", bytes: 999, limit: 998))
        recipient = Support.recipient
        recipient.messageID = String(repeating: "m", count: 1000)
        #expect(
            Support.error { () throws(TrackingError) in _ = try builder.recipientToken(recipient) }
                == .fieldTooLong("message id", bytes: 1000, limit: 998))
        var link = Support.link
        link.index = -1
        #expect(
            Support.error { () throws(TrackingError) in _ = try builder.linkToken(link) }?.description
                == "link index must not be negative")
        let empty = TrackingURLBuilder(domain: "x", keyRing: KeyRing(keys: []))
        #expect(Support.error { () throws(TrackingError) in _ = try empty.linkToken(Support.link) } == .emptyKeyRing)
        #expect(
            Support.error { () throws(TrackingError) in _ = try empty.recipientToken(Support.recipient) }
                == .emptyKeyRing)
    }

    @Test func extremeValuesRoundTrip() throws {
        for (tid, expires) in [
            (UInt64.max, Int64.max), (0, Int64(Support.now + 1)), (1 << 63, Int64(Support.now + 86_400)),
        ] {
            let recipient = RecipientInfo(
                transmissionID: tid, messageID: "", rcptTo: "", rcptType: .archive, expires: expires)
            let link = LinkInfo(transmissionID: tid, index: Int.max, target: "https://x/", isUnsubscribe: true)
            let event = try click(link, recipient)
            #expect(event.transmissionID == String(tid))
            #expect(event.expires == expires)
            #expect(event.type == .link_unsubscribe)
        }
    }

    @Test func tokensAreCompact() throws {
        // 19 bytes of prefix + plaintext + 16 of tag, base64url: 4 characters per 3 bytes.
        // Recipient plaintext: kind 1 + transmission id 9 + type 1 + expiry 5 + 1 + 24 + 20 = 61.
        // A URL segment adds the 8-character kind tag.
        #expect(try builder.recipientToken(Support.recipient).base.count == (19 + 61 + 16) / 3 * 4)
        #expect(try builder.recipientToken(Support.recipient).segmentLength == (19 + 61 + 16) / 3 * 4 + 8)
        // Link plaintext: kind 1 + transmission id 1 + index 1 + flags 1 + "https://e.x/" 12 = 16.
        let linkToken = try builder.linkToken(LinkInfo(transmissionID: 1, index: 0, target: "https://e.x/"))
        #expect(linkToken.utf8.count == (19 + 16 + 16) / 3 * 4)
    }
}

let base64URLAlphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
