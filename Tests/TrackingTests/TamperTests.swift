import MailBytes
import TestSupport
import Testing

@testable import Tracking

/// Forged, truncated, swapped, mixed, expired and re-keyed URLs are refused, never crash.
@Suite struct TamperTests {
    let ring: KeyRing
    let builder: TrackingURLBuilder
    let url: String

    init() throws {
        ring = try Support.ring()
        builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
        url = try builder.clickURL(link: Support.link, recipient: Support.recipient)
    }

    private func decodeError(_ url: String, ring: KeyRing? = nil, now: Int64 = Support.now) -> TrackingError? {
        let ring = ring ?? self.ring
        return Support.error { () throws(TrackingError) in
            _ = try TrackingDecoder.decode(url: url, keyRing: ring, now: now)
        }
    }

    /// Flips one bit in every byte of the decoded token, for both tokens: always refused, with
    /// the error the header byte calls for. The recipient segment ends in its 8-character kind
    /// tag: its 6 bytes are flipped too.
    @Test(arguments: [0, 1])
    func everyFlippedByteIsRefused(segmentFromEnd: Int) throws {
        let token = Support.segment(url, fromEnd: segmentFromEnd)
        let tokenRawCount = try #require(
            Base64.decode(ArraySlice(token.utf8.dropLast(segmentFromEnd == 0 ? 8 : 0)), alphabet: .url)
        ).count
        let raw = try #require(Base64.decode(ArraySlice(token.utf8), alphabet: .url))
        if segmentFromEnd == 0 { #expect(tokenRawCount % 3 == 0) }
        for position in raw.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var forged = raw
                forged[position] ^= mask
                let forgedToken = Base64.encodeToString(forged, alphabet: .url)
                let error = try #require(
                    decodeError(Support.replacingSegment(url, fromEnd: segmentFromEnd, with: forgedToken)))
                #expect(error.isRefusedToken, "byte \(position): \(error)")
                let offset =
                    url.utf8.count - token.utf8.count
                    - (segmentFromEnd == 1 ? Support.segment(url, fromEnd: 0).utf8.count + 1 : 0)
                if position >= tokenRawCount {
                    #expect(error == .wrongURLKind(offset: url.utf8.count - 8), "byte \(position): \(error)")
                    continue
                }
                #expect(error.offset == offset)
                switch position {
                case 0: #expect(error == .unsupportedVersion(forged[0], offset: offset))
                case 1, 2:
                    let id = UInt16(forged[1]) << 8 | UInt16(forged[2])
                    #expect(error == .unknownKeyID(id, offset: offset))
                default: #expect(error == .forged(offset: offset))
                }
            }
        }
    }

    /// Replaces every character of both tokens with every other base64url character.
    @Test func everyChangedCharacterIsRefused() throws {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var tried = 0
        for fromEnd in [0, 1] {
            let token = Array(Support.segment(url, fromEnd: fromEnd).utf8)
            for position in token.indices {
                // A sample of replacements keeps the test fast: neighbours and far symbols.
                for replacement in [
                    alphabet[(alphabet.firstIndex(of: token[position]) ?? 0) ^ 1], UInt8(ascii: "A"),
                    UInt8(ascii: "_"), UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "%"), 0xC3,
                ]
                where replacement != token[position] {
                    var changed = token
                    changed[position] = replacement
                    let forgedURL = Support.replacingSegment(
                        url, fromEnd: fromEnd, with: String(decoding: changed, as: UTF8.self))
                    let error = try #require(decodeError(forgedURL), "position \(position)")
                    #expect(error.isRefusedToken)
                    tried += 1
                }
            }
        }
        #expect(tried > 1000)
    }

    /// Every prefix of the URL and of each token is refused without crashing.
    @Test func everyTruncationIsRefused() throws {
        let bytes = Array(url.utf8)
        for end in 0..<bytes.count {
            #expect(decodeError(String(decoding: bytes[0..<end], as: UTF8.self)) != nil, "prefix \(end)")
        }
        for fromEnd in [0, 1] {
            let token = Support.segment(url, fromEnd: fromEnd)
            for end in 1..<token.utf8.count {
                let truncated = String(token.utf8.prefix(end)) ?? ""
                let error = decodeError(Support.replacingSegment(url, fromEnd: fromEnd, with: truncated))
                #expect(error?.isRefusedToken == true, "token \(fromEnd) prefix \(end): \(String(describing: error))")
            }
        }
        // Short tokens are "truncated or malformed", with the token's offset.
        let open = builder.openURLPrefix + "AQACAAAA"
        #expect(decodeError(open) == .malformedToken(offset: builder.openURLPrefix.utf8.count))
        #expect(decodeError(open)?.description == "token is truncated or malformed")
    }

    @Test func swappedTokensAreRefused() throws {
        let linkToken = Support.segment(url, fromEnd: 1)
        let recipientToken = Support.segment(url, fromEnd: 0)
        let swapped = builder.clickURLPrefix(linkToken: recipientToken, sublink: nil) + linkToken
        let error = try #require(decodeError(swapped))
        #expect(error.isRefusedToken)
        // A link token where an open pixel expects a recipient token (and its kind tag).
        #expect(decodeError(builder.openURLPrefix + linkToken)?.isRefusedToken == true)
        #expect(decodeError(builder.unsubscribeURLPrefix + linkToken)?.isRefusedToken == true)
    }

    @Test func tokensFromTwoTransmissionsAreRefused() throws {
        var other = Support.recipient
        other.transmissionID += 1
        let mixed =
            builder.clickURLPrefix(linkToken: Support.segment(url, fromEnd: 1), sublink: nil)
            + (try builder.recipientToken(other).string(.click))
        let error = try #require(decodeError(mixed))
        #expect(error.description == "link and recipient tokens belong to different transmissions")
        #expect(error.isRefusedToken)
    }

    @Test func expiredIsRefused() throws {
        let expires = Support.expires
        #expect(decodeError(url, now: expires - 1) == nil)
        let error = try #require(decodeError(url, now: expires))
        #expect(error == .expired(at: expires, offset: url.utf8.count - Support.segment(url, fromEnd: 0).utf8.count))
        // sentAt = 2026-11-18T10:06:40Z, plus 365 days.
        #expect(error.description == "token expired at 2027-11-18T10:06:40Z")
        let pixel = builder.openURLPrefix + (try builder.recipientToken(Support.recipient).string(.open))
        #expect(decodeError(pixel, now: expires + 86_400)?.description == "token expired at 2027-11-18T10:06:40Z")
    }

    @Test func rotationKeepsOldTokensWorking() throws {
        let old = KeyRing.generate()
        let oldURL = try TrackingURLBuilder(domain: "t.example", keyRing: old).clickURL(
            link: Support.link, recipient: Support.recipient)
        let rotated = old.rotated()
        #expect(rotated.keys.map(\.id) == [1, 2])
        #expect(rotated.keys.first == old.keys.first)
        #expect(rotated.activeKey != old.activeKey)
        let event = try TrackingDecoder.decode(url: oldURL, keyRing: rotated, now: Support.now)
        #expect(event.keyID == 1)
        // New tokens use the new key, and the old ring cannot read them.
        let newURL = try TrackingURLBuilder(domain: "t.example", keyRing: rotated).clickURL(
            link: Support.link, recipient: Support.recipient)
        #expect(try TrackingDecoder.decode(url: newURL, keyRing: rotated, now: Support.now).keyID == 2)
        #expect(decodeError(newURL, ring: old)?.description == "unknown key id 2")
    }

    @Test func tokenFromAKeyNotInTheRingIsRefused() throws {
        // Same id, different secret: a re-keyed or forged ring.
        let stranger = KeyRing(keys: [try Support.key(id: 2, seed: 200)])
        let foreignURL = try TrackingURLBuilder(domain: "t.example", keyRing: stranger).clickURL(
            link: Support.link, recipient: Support.recipient)
        let error = try #require(decodeError(foreignURL))
        #expect(error.description == "token was not signed by any key in the key ring (forged or re-keyed)")
        // Unknown id.
        let unknown = KeyRing(keys: [try Support.key(id: 9, seed: 1)])
        let unknownURL = try TrackingURLBuilder(domain: "t.example", keyRing: unknown).clickURL(
            link: Support.link, recipient: Support.recipient)
        #expect(decodeError(unknownURL)?.description == "unknown key id 9")
        // An empty ring decodes nothing.
        #expect(decodeError(url, ring: KeyRing(keys: []))?.description == "unknown key id 2")
    }

    @Test(arguments: [
        "", "/", "https://click.example.com/", "https://click.example.com/f/a/onlyone", "https://e.com/q/x/abc",
        "https://e.com/x/y", "mailto:someone@example.com", "https://e.com/f/bad!sub/AAAA/BBBB", "f",
    ])
    func notTrackingURLs(candidate: String) {
        #expect(decodeError(candidate)?.description == "not a Linkstamp tracking URL")
    }

    @Test func overlongURLIsRefused() {
        let long = url + "?" + String(repeating: "x", count: 16_384)
        #expect(decodeError(long)?.description == "URL is longer than 16384 bytes")
    }

    @Test func garbageNeverCrashes() {
        var generator = SeededGenerator(seed: 42)
        let alphabet =
            Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/=%?#:.".utf8) + [0, 0xFF, 0xC3]
        for _ in 0..<2000 {
            let length = Int(generator.next() % 200)
            let bytes = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            let candidate =
                "https://x/" + ["f/a/", "q/o/", "q/i/", "u/", ""][Int(generator.next() % 5)]
                + String(decoding: bytes, as: UTF8.self)
            #expect(decodeError(candidate) != nil)
        }
    }
}
