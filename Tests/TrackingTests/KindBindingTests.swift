import Testing

@testable import Tracking

/// Issue 9 item 10: a recipient token is bound to the kind of URL it was written into, so the
/// segment of a click or an open pixel cannot be moved under `/u/` to unsubscribe someone.
@Suite struct KindBindingTests {
    let ring: KeyRing
    let builder: TrackingURLBuilder
    let token: RecipientToken

    init() throws {
        ring = try Support.ring()
        builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
        token = try builder.recipientToken(Support.recipient)
    }

    private func url(_ kind: URLKind, segment: String) throws -> String {
        switch kind {
        case .click:
            return builder.clickURLPrefix(linkToken: try builder.linkToken(Support.link), sublink: nil) + segment
        case .open: return builder.openURLPrefix + segment
        case .initialOpen: return builder.initialOpenURLPrefix + segment
        case .unsubscribe: return builder.unsubscribeURLPrefix + segment
        }
    }

    private func decodeError(_ url: String) -> TrackingError? {
        Support.error { () throws(TrackingError) in
            _ = try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now)
        }
    }

    /// Every (taken from, used as) pair of kinds: only the same kind decodes.
    @Test(arguments: URLKind.allCases)
    func aSegmentWorksOnlyUnderItsOwnKind(from: URLKind) throws {
        let segment = token.string(from)
        for to in URLKind.allCases {
            let target = try url(to, segment: segment)
            if to == from {
                let event = try TrackingDecoder.decode(url: target, keyRing: ring, now: Support.now)
                #expect(event.isKindBound)
                #expect(event.rcptTo == Support.recipient.rcptTo)
            } else {
                let error = try #require(decodeError(target), "\(from) segment accepted as \(to)")
                #expect(error == .wrongURLKind(offset: target.utf8.count - 8))
                #expect(error.isRefusedToken)
            }
        }
    }

    /// The attack of the issue: an open pixel's URL turned into a one-click unsubscribe.
    @Test func openPixelCannotBecomeUnsubscribe() throws {
        let pixel = try builder.url(.open, recipient: Support.recipient)
        let segment = String(decoding: pixel.utf8.suffix(token.segmentLength), as: UTF8.self)
        #expect(decodeError(builder.unsubscribeURLPrefix + segment) != nil)
        // The bare token (no tag), and the token with a tag guessed from the other kinds, fail too.
        #expect(decodeError(builder.unsubscribeURLPrefix + String(decoding: token.base, as: UTF8.self)) != nil)
        for kind in URLKind.allCases where kind != .unsubscribe {
            #expect(decodeError(builder.unsubscribeURLPrefix + token.string(kind)) != nil)
        }
    }

    /// The four tags differ from each other and from another copy's tags.
    @Test func tagsAreDistinctAndPerToken() throws {
        let tags = Set(URLKind.allCases.map { Array(token.tag($0)) })
        #expect(tags.count == 4)
        #expect(tags.allSatisfy { $0.count == 8 })
        let other = try builder.recipientToken(Support.recipient)
        #expect(other.kindTags != token.kindTags)
    }

    /// Changing any character of the tag is refused.
    @Test func everyChangedTagCharacterIsRefused() throws {
        let segment = Array(token.segment(.unsubscribe))
        for position in segment.count - 8..<segment.count {
            for replacement in Array("Aa0-_Zz9".utf8) where replacement != segment[position] {
                var changed = segment
                changed[position] = replacement
                #expect(decodeError(builder.unsubscribeURLPrefix + String(decoding: changed, as: UTF8.self)) != nil)
            }
        }
    }
}
