import MailBytes

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns a tracked URL back into the event it records, refusing anything forged, tampered with,
/// expired or inconsistent. Needs only the key ring: a click server holds no state.
public enum TrackingDecoder {
    /// Accepts a full URL (any host; path decides) or just the path. now = unix seconds.
    ///
    /// The path's last segments decide: `f/<sublink>/<link>/<message>/<recipient>`,
    /// `q/o/<message>/<recipient>`, `q/i/<message>/<recipient>` or `u/<message>/<recipient>`
    /// (and the shapes before message tokens, without `<message>`); the message, link and
    /// recipient tokens must carry the same transmission id; segments before them (a path prefix, or a bare host
    /// when no scheme is given) are ignored, as are the query, the fragment, empty segments and
    /// surrounding whitespace. A recipient token is refused from its expiry second on, and when
    /// its kind tag is not the one of the URL's kind (``TrackingError/wrongURLKind(offset:)``).
    /// Tokens sealed before kinds were bound (version 1, no tag) decode for every kind until they
    /// expire; their event has ``TrackedEvent/isKindBound`` false.
    public static func decode(url: String, keyRing: KeyRing, now: Int64) throws(TrackingError) -> TrackedEvent {
        try decode(url: url, keyRing: keyRing, now: now, limits: .default)
    }

    /// Same, with explicit limits, and a cache of opened link and message tokens (see
    /// ``TokenCache``: it must only ever be used with `keyRing`).
    public static func decode(
        url: String, keyRing: KeyRing, now: Int64, limits: TrackingLimits, cache: TokenCache? = nil
    ) throws(TrackingError) -> TrackedEvent {
        let bytes = Array(url.utf8)
        guard bytes.count <= limits.maxURLBytes else { throw .urlTooLong(limit: limits.maxURLBytes) }
        let segments = pathSegments(bytes)
        let n = segments.count
        func segment(_ i: Int) -> ArraySlice<UInt8> { bytes[segments[i]] }
        func isSegment(_ i: Int, _ text: StaticString) -> Bool {
            guard i >= 0 else { return false }
            return text.withUTF8Buffer { segment(i).elementsEqual($0) }
        }

        // A path segment that can hold a token (sublinks, route names and prefixes are shorter).
        func isTokenLike(_ i: Int) -> Bool { i >= 0 && segments[i].count >= TokenFormat.minimumTokenCharacters }

        // Current shapes carry the message token before the recipient segment; the shapes before
        // message tokens (one segment fewer) keep decoding until their tokens expire.
        let clickWithMessage =
            n >= 5 && isSegment(n - 5, "f") && !isTokenLike(n - 4) && isTokenLike(n - 3)
            && isTokenLike(n - 2)
        if clickWithMessage || (n >= 4 && isSegment(n - 4, "f")) {
            let base = clickWithMessage ? n - 5 : n - 4
            let sublink = segment(base + 1)
            guard TrackingURLBuilder.isValidSublink(Substring(decoding: sublink, as: UTF8.self)) else {
                throw .notTrackingURL(offset: segments[base + 1].lowerBound)
            }
            let link = try decodeLink(bytes, segments[base + 2], keyRing: keyRing, cache: cache)
            let message =
                clickWithMessage ? try decodeMessage(bytes, segments[n - 2], keyRing: keyRing, cache: cache) : nil
            let recipient = try decodeRecipient(bytes, segments[n - 1], kind: .click, keyRing: keyRing, now: now)
            guard link.transmissionID == recipient.transmissionID else {
                throw .transmissionMismatch(offset: segments[base + 2].lowerBound)
            }
            if let message, message.transmissionID != recipient.transmissionID {
                throw .transmissionMismatch(offset: segments[n - 2].lowerBound)
            }
            var event = TrackedEvent(
                type: link.isUnsubscribe ? .link_unsubscribe : .click, transmissionID: String(recipient.transmissionID),
                messageID: recipient.messageID, rcptTo: recipient.rcptTo, rcptType: recipient.rcptType,
                targetLinkURL: link.target, targetLinkName: link.name, expires: recipient.expires,
                keyID: recipient.keyID, isKindBound: recipient.kindBound, message: message)
            event.isTrapLink = link.isTrap
            return event
        }
        let type: TrackedEventType
        let kind: URLKind
        var routeEnd = n - 1
        if n >= 4 && isSegment(n - 4, "q") && isSegment(n - 3, "o") && isTokenLike(n - 2) {
            (type, kind, routeEnd) = (.open, .open, n - 2)
        } else if n >= 4 && isSegment(n - 4, "q") && isSegment(n - 3, "i") && isTokenLike(n - 2) {
            (type, kind, routeEnd) = (.initial_open, .initialOpen, n - 2)
        } else if n >= 3 && isSegment(n - 3, "u") && isTokenLike(n - 2) {
            (type, kind, routeEnd) = (.list_unsubscribe, .unsubscribe, n - 2)
        } else if n >= 3 && isSegment(n - 3, "q") && isSegment(n - 2, "o") {
            (type, kind) = (.open, .open)
        } else if n >= 3 && isSegment(n - 3, "q") && isSegment(n - 2, "i") {
            (type, kind) = (.initial_open, .initialOpen)
        } else if n >= 2 && isSegment(n - 2, "u") {
            (type, kind) = (.list_unsubscribe, .unsubscribe)
        } else {
            throw .notTrackingURL(offset: segments.last?.lowerBound)
        }
        let message =
            routeEnd == n - 2 ? try decodeMessage(bytes, segments[n - 2], keyRing: keyRing, cache: cache) : nil
        let recipient = try decodeRecipient(bytes, segments[n - 1], kind: kind, keyRing: keyRing, now: now)
        if let message, message.transmissionID != recipient.transmissionID {
            throw .transmissionMismatch(offset: segments[n - 2].lowerBound)
        }
        return TrackedEvent(
            type: type, transmissionID: String(recipient.transmissionID), messageID: recipient.messageID,
            rcptTo: recipient.rcptTo, rcptType: recipient.rcptType, expires: recipient.expires,
            keyID: recipient.keyID, isKindBound: recipient.kindBound, message: message)
    }

    /// Non-empty path segments: after `scheme://authority` when present, before `?` or `#`,
    /// with surrounding ASCII whitespace trimmed.
    static func pathSegments(_ bytes: [UInt8]) -> [Range<Int>] {
        bytes.withUnsafeBufferPointer { bytes -> [Range<Int>] in
            var start = 0
            var end = bytes.count
            while start < end && isWhitespace(bytes[start]) { start += 1 }
            while end > start && isWhitespace(bytes[end - 1]) { end -= 1 }
            // `?` or `#` ends the path: eight bytes at a time (a click URL is ~400 token bytes).
            var i = start
            if let base = bytes.baseAddress {
                i = ByteWord.skip(UnsafeRawPointer(base), from: i, to: end) {
                    !ByteWord.hasByte(UInt8(ascii: "?"), in: $0) && !ByteWord.hasByte(UInt8(ascii: "#"), in: $0)
                }
            }
            while i < end {
                if bytes[i] == UInt8(ascii: "?") || bytes[i] == UInt8(ascii: "#") {
                    end = i
                    break
                }
                i += 1
            }
            if let authorityStart = schemeEnd(bytes, from: start, to: end) {
                start = authorityStart
                while start < end && bytes[start] != UInt8(ascii: "/") { start += 1 }
            }
            var segments: [Range<Int>] = []
            segments.reserveCapacity(6)
            i = start
            while i < end {
                while i < end && bytes[i] == UInt8(ascii: "/") { i += 1 }
                let segmentStart = i
                if let base = bytes.baseAddress,
                    let slash = memchr(base + i, Int32(UInt8(ascii: "/")), end - i)
                {
                    i = base.distance(to: slash.assumingMemoryBound(to: UInt8.self))
                } else {
                    i = end
                }
                if segmentStart < i { segments.append(segmentStart..<i) }
            }
            return segments
        }
    }

    /// For `scheme://…` (RFC 3986 scheme), the offset just after `://`.
    private static func schemeEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int? {
        var i = start
        guard i < end, isAlpha(bytes[i]) else { return nil }
        while i < end,
            isAlpha(bytes[i]) || isDigit(bytes[i]) || bytes[i] == UInt8(ascii: "+")
                || bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: ".")
        {
            i += 1
        }
        guard i + 3 <= end, bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == UInt8(ascii: "/"),
            bytes[i + 2] == UInt8(ascii: "/")
        else { return nil }
        return i + 3
    }

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    private static func isAlpha(_ b: UInt8) -> Bool {
        (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z")
    }
    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    struct DecodedLink {
        var transmissionID: UInt64
        var index: UInt64
        var name: String
        var target: String
        var isUnsubscribe: Bool
        var isTrap: Bool
    }

    private struct DecodedRecipient {
        var transmissionID: UInt64
        var messageID: String
        var rcptTo: String
        var rcptType: RecipientType?
        var expires: Int64
        var keyID: UInt16
        var kindBound: Bool
    }

    private static func decodeLink(
        _ url: [UInt8], _ range: Range<Int>, keyRing: KeyRing, cache: TokenCache?
    ) throws(TrackingError) -> DecodedLink {
        if let cache, case .link(let link)? = cache.value(url[range]) { return link }
        let link = try openLink(url, range, keyRing: keyRing)
        cache?.store(url[range], .link(link))
        return link
    }

    private static func openLink(_ url: [UInt8], _ range: Range<Int>, keyRing: KeyRing) throws(TrackingError)
        -> DecodedLink
    {
        var (reader, _) = try TokenFormat.open(url[range], expecting: .link, keyRing: keyRing, offset: range.lowerBound)
        guard let transmissionID = reader.readVarint(), let index = reader.readVarint(),
            let flags = reader.readByte(),
            flags & ~(TokenFormat.flagUnsubscribe | TokenFormat.flagNamed | TokenFormat.flagTrap) == 0
        else { throw .malformedToken(offset: range.lowerBound) }
        var name = TokenFormat.defaultLinkName
        if flags & TokenFormat.flagNamed != 0 {
            guard let nameBytes = reader.readLengthPrefixed() else { throw .malformedToken(offset: range.lowerBound) }
            name = String(decoding: nameBytes, as: UTF8.self)
        }
        let target = String(decoding: reader.readRest(), as: UTF8.self)
        return DecodedLink(
            transmissionID: transmissionID, index: index, name: name, target: target,
            isUnsubscribe: flags & TokenFormat.flagUnsubscribe != 0, isTrap: flags & TokenFormat.flagTrap != 0)
    }

    private static func decodeRecipient(
        _ url: [UInt8], _ range: Range<Int>, kind: URLKind, keyRing: KeyRing, now: Int64
    ) throws(TrackingError) -> DecodedRecipient {
        var (reader, keyID, kindBound) = try TokenFormat.open(
            url[range], expecting: .recipient, urlKind: kind, keyRing: keyRing, offset: range.lowerBound)
        guard let transmissionID = reader.readVarint(), let typeByte = reader.readByte(),
            let rcptType = RecipientType.fromWire(typeByte), let zigzag = reader.readVarint(),
            let messageID = reader.readLengthPrefixed()
        else { throw .malformedToken(offset: range.lowerBound) }
        let expires = Varint.unzigzag(zigzag)
        guard now < expires else { throw .expired(at: expires, offset: range.lowerBound) }
        return DecodedRecipient(
            transmissionID: transmissionID, messageID: String(decoding: messageID, as: UTF8.self),
            rcptTo: String(decoding: reader.readRest(), as: UTF8.self), rcptType: rcptType, expires: expires,
            keyID: keyID, kindBound: kindBound)
    }
}
