/// How a recipient was added: through the X-MSYS-API `cc`, `bcc` or `archive` lists.
/// Envelope (RCPT TO) recipients have no type (`nil`).
public enum RecipientType: String, Sendable, Hashable {
    /// Listed in the header's `cc` array.
    case cc
    /// Listed in the header's `bcc` array.
    case bcc
    /// Listed in the header's `archive` array.
    case archive

    var wireValue: UInt8 {
        switch self {
        case .cc: return 1
        case .bcc: return 2
        case .archive: return 3
        }
    }

    /// nil for 0 (envelope recipient); `.some(nil)` never; unknown values fail.
    static func fromWire(_ byte: UInt8) -> RecipientType?? {
        switch byte {
        case 0: return .some(nil)
        case 1: return .cc
        case 2: return .bcc
        case 3: return .archive
        default: return nil
        }
    }
}

/// What a link token carries: everything about one tracked link that is the same for every
/// recipient of a message.
public struct LinkInfo: Sendable, Hashable {
    /// The message's transmission id (docs/SPEC.md §3.3).
    public var transmissionID: UInt64
    /// The link's position among the message's tracked links, from 0.
    public var index: Int
    /// The URL a click redirects to, exactly as found (entities decoded).
    public var target: String
    /// `data-msys-linkname`, default `Raw URL`; longer than
    /// ``TrackingLimits/maxLinkNameBytes`` (63) it is truncated when encoded.
    public var name: String
    /// `data-msys-unsubscribe="1"`: a click is a `link_unsubscribe` event.
    public var isUnsubscribe: Bool
    /// `data-msys-sublink`: the path segment after `/f/`; not part of the token.
    public var sublink: String?
    /// The filter's invisible scanner-trap link (`scanner_trap_link`): no person clicks it.
    public var isTrap: Bool = false

    /// A tracked link.
    public init(
        transmissionID: UInt64, index: Int, target: String, name: String = "Raw URL",
        isUnsubscribe: Bool = false, sublink: String? = nil
    ) {
        self.transmissionID = transmissionID
        self.index = index
        self.target = target
        self.name = name
        self.isUnsubscribe = isUnsubscribe
        self.sublink = sublink
    }
}

/// What a recipient token carries: who received one copy of a message, and until when its
/// tracked URLs work.
public struct RecipientInfo: Sendable, Hashable {
    /// The message's transmission id, shared by every copy.
    public var transmissionID: UInt64
    /// This copy's message id.
    public var messageID: String
    /// The recipient address, as it should appear in events.
    public var rcptTo: String
    /// nil for an envelope recipient.
    public var rcptType: RecipientType?
    /// Unix seconds after which the recipient's URLs are refused; see ``expiry(sentAt:limits:)``.
    public var expires: Int64

    /// One recipient of one copy.
    public init(transmissionID: UInt64, messageID: String, rcptTo: String, rcptType: RecipientType?, expires: Int64) {
        self.transmissionID = transmissionID
        self.messageID = messageID
        self.rcptTo = rcptTo
        self.rcptType = rcptType
        self.expires = expires
    }

    /// The default expiry for a message sent at `sentAt` (unix seconds): send time plus
    /// ``TrackingLimits/tokenLifetime`` (365 days), saturating instead of overflowing.
    public static func expiry(sentAt: Int64, limits: TrackingLimits = .default) -> Int64 {
        let (sum, overflow) = sentAt.addingReportingOverflow(limits.tokenLifetime)
        return overflow ? (limits.tokenLifetime > 0 ? Int64.max : Int64.min) : sum
    }
}

/// The four kinds of tracked URL. Each recipient token in a URL is bound to its kind, so a token
/// lifted from one kind of URL is refused under another (see ``TrackingDecoder``).
public enum URLKind: UInt8, Sendable, Hashable, CaseIterable {
    /// `/f/…`: a tracked link.
    case click = 0
    /// `/q/o/…`: the open pixel.
    case open = 1
    /// `/q/i/…`: the initial-open pixel.
    case initialOpen = 2
    /// `/u/…`: one-click list unsubscribe.
    case unsubscribe = 3
}

/// One copy's recipient token: sealed once per copy, written into each URL followed by the
/// 8-character tag of that URL's kind.
public struct RecipientToken: Sendable, Hashable {
    /// The sealed token (base64url ASCII), the same in every URL of the copy.
    public let base: [UInt8]
    /// The four kind tags, 8 characters each, in ``URLKind`` order; empty for test placeholders.
    public let kindTags: [UInt8]

    /// A token from its parts. `kindTags` must be empty or 32 bytes.
    package init(base: [UInt8], kindTags: [UInt8]) {
        self.base = base
        self.kindTags = kindTags.count == 4 * TokenFormat.kindTagCount ? kindTags : []
    }

    /// The tag that follows ``base`` in a URL of `kind` (empty for test placeholders).
    public func tag(_ kind: URLKind) -> ArraySlice<UInt8> {
        guard !kindTags.isEmpty else { return [] }
        let start = Int(kind.rawValue) * TokenFormat.kindTagCount
        return kindTags[start..<start + TokenFormat.kindTagCount]
    }

    /// The URL segment for `kind`: the token and its kind tag.
    public func segment(_ kind: URLKind) -> [UInt8] { base + tag(kind) }

    /// The URL segment for `kind` as text.
    public func string(_ kind: URLKind) -> String { String(decoding: segment(kind), as: UTF8.self) }

    /// Length of a segment of any kind.
    public var segmentLength: Int { base.count + (kindTags.isEmpty ? 0 : TokenFormat.kindTagCount) }
}
