import MailBytes
import Testing

@testable import Tracking

/// Known-answer tests pinning the token wire format. `Fixtures/tokens-kat.txt` was computed
/// independently from the format description in `Token.swift` (Python: hmac, hashlib and
/// cryptography's ChaCha20Poly1305), not by this implementation.
@Suite struct TokenFormatTests {
    static let nonce: (UInt64, UInt64) = (0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F)

    /// Version 1 (before URL kinds were bound): still decodes, for every kind, until it expires.
    @Test func knownAnswerTokens() throws {
        let key = try Support.key(id: 1, seed: 10)
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: KeyRing(keys: [key]))
        let link = LinkInfo(
            transmissionID: Support.link.transmissionID, index: 3, target: "https://example.com/a?b=1&c=2",
            name: "Footer", isUnsubscribe: true)
        let recipientToken = try TokenFormat.seal(
            try builder.recipientPlaintext(Support.recipient), key: key, fixedNonce: Self.nonce, sealVersion: 1)
        let linkToken = try TokenFormat.seal(
            try builder.linkPlaintext(link), key: key, fixedNonce: Self.nonce, sealVersion: 1)
        let text = String(decoding: recipientToken + [0x0A] + linkToken + [0x0A], as: UTF8.self)
        Support.expectGolden(text, "tokens-kat.txt")

        let url =
            builder.clickURLPrefix(linkToken: String(decoding: linkToken, as: UTF8.self), sublink: nil)
            + String(decoding: recipientToken, as: UTF8.self)
        let event = try TrackingDecoder.decode(url: url, keyRing: try Support.ring(), now: Support.now)
        #expect(
            event
                == TrackedEvent(
                    type: .link_unsubscribe, transmissionID: "7123456789012345678",
                    messageID: "<0001.abc@relay.example>",
                    rcptTo: "Jane.Doe@example.org", rcptType: nil, targetLinkURL: "https://example.com/a?b=1&c=2",
                    targetLinkName: "Footer", expires: Support.expires, keyID: 1, isKindBound: false))
        for prefix in [builder.openURLPrefix, builder.initialOpenURLPrefix, builder.unsubscribeURLPrefix] {
            let old = try TrackingDecoder.decode(
                url: prefix + String(decoding: recipientToken, as: UTF8.self), keyRing: try Support.ring(),
                now: Support.now)
            #expect(old.isKindBound == false)
            #expect(old.rcptTo == "Jane.Doe@example.org")
        }
    }

    /// Version 2: the token and its four kind tags, computed independently (Python: hmac,
    /// hashlib, cryptography's ChaCha20Poly1305) from the format description in `Token.swift`.
    @Test func knownAnswerTokensWithKindTags() throws {
        let key = try Support.key(id: 1, seed: 10)
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: KeyRing(keys: [key]))
        let link = LinkInfo(
            transmissionID: Support.link.transmissionID, index: 3, target: "https://example.com/a?b=1&c=2",
            name: "Footer", isUnsubscribe: true)
        let sealed = try TokenFormat.sealReturningKey(
            try builder.recipientPlaintext(Support.recipient), key: key, fixedNonce: Self.nonce)
        let tags = TokenFormat.kindTags(sealed.tokenKey)
        let linkToken = try TokenFormat.seal(try builder.linkPlaintext(link), key: key, fixedNonce: Self.nonce)
        Support.expectGolden(
            String(decoding: sealed.token + [0x0A] + tags + [0x0A] + linkToken + [0x0A], as: UTF8.self),
            "tokens-kat-v2.txt")
        let token = RecipientToken(base: sealed.token, kindTags: tags)
        let event = try TrackingDecoder.decode(
            url: builder.clickURLPrefix(linkToken: String(decoding: linkToken, as: UTF8.self), sublink: nil)
                + token.string(.click),
            keyRing: try Support.ring(), now: Support.now)
        #expect(event.isKindBound)
        #expect(event.type == .link_unsubscribe)
    }

    @Test func headerIsVersionKeyIDAndNonceInClear() throws {
        let key = try Support.key(id: 0x1234, seed: 1)
        let token = try TokenFormat.seal([2, 0], key: key, fixedNonce: Self.nonce)
        let raw = try #require(Base64.decode(ArraySlice(token), alphabet: .url))
        #expect(Array(raw.prefix(19)) == [2, 0x12, 0x34] + (0..<16).map { UInt8($0) })
        #expect(raw.count == 19 + 2 + 16)
    }

    @Test func plaintextNeverAppearsInTheToken() throws {
        let builder = TrackingURLBuilder(domain: "t", keyRing: try Support.ring())
        let recipient = RecipientInfo(
            transmissionID: 1, messageID: "m", rcptTo: String(repeating: "secret", count: 20), rcptType: nil,
            expires: Support.expires)
        let raw = try #require(Base64.decode(ArraySlice(try builder.recipientToken(recipient).base), alphabet: .url))
        let needle = Array("secret".utf8)
        #expect(!(0...(raw.count - needle.count)).contains { Array(raw[$0..<$0 + needle.count]) == needle })
    }
}
