import Tracking

/// `token`: `TrackingDecoder` on arbitrary bytes, against a ring holding one fixed key. The first
/// byte picks the mode:
/// - even: the rest is a URL. When it decodes, the event must be one of those the fixed key
///   sealed (`sealedEvents`): nothing else can carry a valid tag.
/// - odd: bytes 1–4 pick one of the URLs sealed in this process, a position inside its tokens and
///   a non-zero XOR mask; that URL must decode, and with the one byte changed must be refused.
public enum TokenCheck {
    /// Tokens are checked at this instant (2027-01-15); every sealed token expires after it.
    static let now: Int64 = 1_800_000_000
    static let expires: Int64 = now + 10 * 365 * 86_400
    static let transmissions: [UInt64] = [7_000_000_001, 7_000_000_002]

    static let ring: KeyRing = {
        let secret = (0..<UInt8(TrackingKey.secretByteCount)).map { $0 &* 37 &+ 11 }
        guard let key = try? TrackingKey(id: 0x2A, secret: secret) else {
            invariantBroken("the fixed key cannot be built")
        }
        return KeyRing(keys: [key])
    }()

    static let links: [LinkInfo] = [
        LinkInfo(transmissionID: transmissions[0], index: 0, target: "https://example.com/a?b=c&d=e"),
        LinkInfo(
            transmissionID: transmissions[0], index: 1, target: "http://example.org/", name: "Footer link",
            sublink: "promo_1"),
        LinkInfo(
            transmissionID: transmissions[1], index: 0, target: "https://example.net/unsubscribe",
            isUnsubscribe: true),
    ]

    static let recipients: [RecipientInfo] = [
        RecipientInfo(
            transmissionID: transmissions[0], messageID: "000000001a13b8600000000", rcptTo: "reader@example.org",
            rcptType: nil, expires: expires),
        RecipientInfo(
            transmissionID: transmissions[0], messageID: "000000001a13b8600000001", rcptTo: "copy@example.org",
            rcptType: .cc, expires: expires),
        RecipientInfo(
            transmissionID: transmissions[1], messageID: "000000001a13b8610000000", rcptTo: "other@example.net",
            rcptType: .archive, expires: expires),
    ]

    /// URLs sealed in this process, with the range of their token bytes and the event each gives.
    static let sealed: [(url: [UInt8], tokens: Range<Int>, event: TrackedEvent)] = {
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: ring)
        var out: [(url: [UInt8], tokens: Range<Int>, event: TrackedEvent)] = []
        do {
            for recipient in recipients {
                let token = try builder.recipientToken(recipient)
                for (prefix, type, kind) in [
                    (builder.openURLPrefix, TrackedEventType.open, URLKind.open),
                    (builder.initialOpenURLPrefix, .initial_open, .initialOpen),
                    (builder.unsubscribeURLPrefix, .list_unsubscribe, .unsubscribe),
                ] {
                    let segment = token.string(kind)
                    let url = Array((prefix + segment).utf8)
                    out.append((url, (url.count - segment.utf8.count)..<url.count, event(type, recipient)))
                }
                for link in links where link.transmissionID == recipient.transmissionID {
                    let linkToken = try builder.linkToken(link)
                    let prefix = builder.clickURLPrefix(linkToken: linkToken, sublink: link.sublink)
                    let url = Array((prefix + token.string(.click)).utf8)
                    let type: TrackedEventType = link.isUnsubscribe ? .link_unsubscribe : .click
                    out.append(
                        (url, (prefix.utf8.count - linkToken.utf8.count - 1)..<url.count, event(type, recipient, link)))
                }
            }
        } catch {
            invariantBroken("sealing the fixed tokens failed: \(error)")
        }
        return out
    }()

    /// Every event a token sealed with the fixed key and the fields above can give.
    static let sealedEvents: Set<TrackedEvent> = Set(sealed.map(\.event))

    static func event(_ type: TrackedEventType, _ recipient: RecipientInfo, _ link: LinkInfo? = nil) -> TrackedEvent {
        TrackedEvent(
            type: type, transmissionID: String(recipient.transmissionID), messageID: recipient.messageID,
            rcptTo: recipient.rcptTo, rcptType: recipient.rcptType, targetLinkURL: link?.target,
            targetLinkName: link?.name, expires: recipient.expires, keyID: 0x2A)
    }

    public static func check(_ data: UnsafeRawBufferPointer) {
        guard let mode = data.first else { return }
        if mode % 2 == 0 {
            let url = String(decoding: data.dropFirst(), as: UTF8.self)
            do {
                let accepted = try TrackingDecoder.decode(url: url, keyRing: ring, now: now)
                require(sealedEvents.contains(accepted), "accepted a token it never sealed: \(url) -> \(accepted)")
            } catch {
                require(!error.description.isEmpty, "error without description")
            }
            return
        }
        guard data.count >= 5 else { return }
        let (url, tokens, expected) = sealed[Int(data[1]) % sealed.count]
        let position = tokens.lowerBound + (Int(data[2]) << 8 | Int(data[3])) % tokens.count
        let mask = data[4] == 0 ? 1 : data[4]
        do {
            let decoded = try TrackingDecoder.decode(url: String(decoding: url, as: UTF8.self), keyRing: ring, now: now)
            require(decoded == expected, "sealed URL decodes to \(decoded), expected \(expected)")
        } catch {
            invariantBroken("a URL sealed with the ring is refused: \(error)")
        }
        var mutated = url
        mutated[position] ^= mask
        let text = String(decoding: mutated, as: UTF8.self)
        if let accepted = try? TrackingDecoder.decode(url: text, keyRing: ring, now: now) {
            invariantBroken("token byte \(position) xor \(mask) still accepted: \(show(mutated)) -> \(accepted)")
        }
    }

    /// Seed inputs for the fuzzer: every sealed URL in the URL mode (they decode with the fixed
    /// key in any process) and one input of the mutation mode per URL.
    public static func seeds() -> [[UInt8]] {
        sealed.map { [0] + $0.url } + sealed.indices.map { [1, UInt8($0), 0, UInt8($0 * 7), 0x20] }
    }
}
