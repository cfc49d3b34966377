import MailBytes

/// Builds tokens and tracked URL prefixes for one tracking domain with one key ring.
///
/// URL shapes (`<R:kind>` is the recipient token followed by the kind's 8-character tag, `<M>`
/// the message token, see ``MessageInfo``):
/// - click: `https://<domain>/f/<sublink or "a">/<linkToken>/<M>/<R:click>`
/// - open pixel: `https://<domain>/q/o/<M>/<R:open>`
/// - initial-open pixel: `https://<domain>/q/i/<M>/<R:initialOpen>`
/// - one-click list unsubscribe: `https://<domain>/u/<M>/<R:unsubscribe>`
/// (The shapes without `<M>`, from before message tokens, still decode.)
///
/// Link and message tokens are made once per message, recipient tokens once per recipient; the
/// per-recipient work is one ``recipientToken(_:)`` call (one AEAD seal and one SHA-256).
public struct TrackingURLBuilder: Sendable {
    /// The tracking host (optionally with a port or path), without scheme or trailing `/`.
    public let domain: String
    /// The ring whose last key seals new tokens.
    public let keyRing: KeyRing
    /// Limits applied when encoding.
    public let limits: TrackingLimits
    private let activeKey: TrackingKey?

    /// `domain` is the tracking host, e.g. `click.example.com`; a leading `https://` and
    /// trailing `/` are dropped.
    public init(domain: String, keyRing: KeyRing) {
        self.init(domain: domain, keyRing: keyRing, limits: .default)
    }

    /// Same, with explicit limits.
    public init(domain: String, keyRing: KeyRing, limits: TrackingLimits) {
        var host = Substring(domain)
        if host.utf8.count >= 8, host.prefix(8).lowercased() == "https://" { host = host.dropFirst(8) }
        while host.hasSuffix("/") { host = host.dropLast() }
        self.domain = String(host)
        self.keyRing = keyRing
        self.limits = limits
        self.activeKey = keyRing.activeKey
        self.openURLPrefix = "https://\(self.domain)/q/o/"
        self.initialOpenURLPrefix = "https://\(self.domain)/q/i/"
        self.unsubscribeURLPrefix = "https://\(self.domain)/u/"
    }

    /// Checks a configured tracking domain: it must be a host name, dot-separated labels of 1–63
    /// letters, digits and hyphens, at most 253 bytes in all (docs/SPEC.md, `tracking_domain`),
    /// so the URLs it starts can be spliced into HTML attributes and header fields unescaped.
    /// No scheme, port or path. The one rule for a tracking domain: `Configuration` applies it
    /// to `tracking_domain`; the builder itself never refuses a domain.
    public static func validateDomain(_ domain: String) throws(TrackingError) {
        let bytes = Array(domain.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else {
            throw .invalidField("tracking domain", reason: "must be a host name of 1 to 253 bytes")
        }
        var labelStart = 0
        for (offset, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                continue
            case UInt8(ascii: "."):
                guard offset > labelStart, offset - labelStart <= 63 else {
                    throw .invalidField(
                        "tracking domain", reason: "has an empty or over-long label at byte \(labelStart)")
                }
                labelStart = offset + 1
            default:
                throw .invalidField("tracking domain", reason: "has a character not allowed at byte \(offset)")
            }
        }
        guard bytes.count > labelStart, bytes.count - labelStart <= 63 else {
            throw .invalidField("tracking domain", reason: "has an empty or over-long label at byte \(labelStart)")
        }
    }

    /// `https://<domain>/q/o/`: append a recipient token for the open pixel.
    public let openURLPrefix: String
    /// `https://<domain>/q/i/`: append a recipient token for the initial-open pixel.
    public let initialOpenURLPrefix: String
    /// `https://<domain>/u/`: append a recipient token for one-click list unsubscribe.
    public let unsubscribeURLPrefix: String

    /// The link token for one link of one message (ASCII, base64url).
    public func linkToken(_ link: LinkInfo) throws(TrackingError) -> String {
        String(decoding: try linkTokenBytes(link), as: UTF8.self)
    }

    /// The link token as ASCII bytes.
    public func linkTokenBytes(_ link: LinkInfo) throws(TrackingError) -> [UInt8] {
        guard let key = activeKey else { throw .emptyKeyRing }
        return try TokenFormat.seal(try linkPlaintext(link), key: key)
    }

    /// The link token's plaintext (see ``TokenFormat``).
    func linkPlaintext(_ link: LinkInfo) throws(TrackingError) -> [UInt8] {
        guard link.index >= 0 else { throw .invalidField("link index", reason: "must not be negative") }
        let targetCount = link.target.utf8.count
        guard targetCount <= limits.maxTargetBytes else {
            throw .fieldTooLong("target URL", bytes: targetCount, limit: limits.maxTargetBytes)
        }
        let named = link.name != TokenFormat.defaultLinkName
        let name = named ? UTF8Prefix.cut(Array(link.name.utf8), maxBytes: limits.maxLinkNameBytes) : []
        var plain = [UInt8]()
        plain.reserveCapacity(24 + name.count + targetCount)
        plain.append(TokenKind.link.rawValue)
        Varint.append(link.transmissionID, to: &plain)
        Varint.append(UInt64(link.index), to: &plain)
        plain.append(
            (link.isUnsubscribe ? TokenFormat.flagUnsubscribe : 0) | (named ? TokenFormat.flagNamed : 0)
                | (link.isTrap ? TokenFormat.flagTrap : 0))
        if named {
            Varint.append(UInt64(name.count), to: &plain)
            plain.append(contentsOf: name)
        }
        plain.append(contentsOf: link.target.utf8)
        return plain
    }

    /// The recipient token of one copy, with the tags that bind it to each kind of URL.
    public func recipientToken(_ recipient: RecipientInfo) throws(TrackingError) -> RecipientToken {
        guard let key = activeKey else { throw .emptyKeyRing }
        let sealed = try TokenFormat.sealToken(try recipientPlaintext(recipient), key: key)
        return RecipientToken(base: sealed.token, kindTags: TokenFormat.kindTags(digest: sealed.tokenKey))
    }

    /// The recipient token's plaintext (see ``TokenFormat``).
    func recipientPlaintext(_ recipient: RecipientInfo) throws(TrackingError) -> [UInt8] {
        let messageIDCount = recipient.messageID.utf8.count
        guard messageIDCount <= limits.maxFieldBytes else {
            throw .fieldTooLong("message id", bytes: messageIDCount, limit: limits.maxFieldBytes)
        }
        let rcptCount = recipient.rcptTo.utf8.count
        guard rcptCount <= limits.maxFieldBytes else {
            throw .fieldTooLong("rcpt_to", bytes: rcptCount, limit: limits.maxFieldBytes)
        }
        var plain = [UInt8]()
        plain.reserveCapacity(32 + messageIDCount + rcptCount)
        plain.append(TokenKind.recipient.rawValue)
        Varint.append(recipient.transmissionID, to: &plain)
        plain.append(recipient.rcptType?.wireValue ?? 0)
        Varint.append(Varint.zigzag(recipient.expires), to: &plain)
        Varint.append(UInt64(messageIDCount), to: &plain)
        plain.append(contentsOf: recipient.messageID.utf8)
        plain.append(contentsOf: recipient.rcptTo.utf8)
        return plain
    }

    /// "https://<domain>/f/<sublink|a>/<linkToken>/" — the once-per-message prefix; the
    /// recipient token is appended per recipient. Invalid sublink (not [A-Za-z0-9_-]{1,32}) -> "a".
    public func clickURLPrefix(linkToken: String, sublink: String?) -> String {
        let segment = sublink.flatMap { Self.isValidSublink(Substring($0)) ? $0 : nil } ?? "a"
        return "https://\(domain)/f/\(segment)/\(linkToken)/"
    }

    /// A complete click URL for one link and one recipient (convenience; the pipeline splices
    /// ``clickURLPrefix(linkToken:sublink:)`` and the recipient token itself).
    public func clickURL(link: LinkInfo, recipient: RecipientInfo) throws(TrackingError) -> String {
        let segment = try recipientToken(recipient).segment(.click)
        return clickURLPrefix(linkToken: try linkToken(link), sublink: link.sublink)
            + String(decoding: segment, as: UTF8.self)
    }

    /// A complete open, initial-open or unsubscribe URL for one recipient (convenience).
    public func url(_ kind: URLKind, recipient: RecipientInfo) throws(TrackingError) -> String {
        let prefix: String
        switch kind {
        case .open: prefix = openURLPrefix
        case .initialOpen: prefix = initialOpenURLPrefix
        case .unsubscribe: prefix = unsubscribeURLPrefix
        case .click: throw .invalidField("URL kind", reason: "click URLs need a link: use clickURL(link:recipient:)")
        }
        return prefix + String(decoding: try recipientToken(recipient).segment(kind), as: UTF8.self)
    }

    /// True for `[A-Za-z0-9_-]{1,32}`.
    public static func isValidSublink(_ sublink: Substring) -> Bool {
        let bytes = sublink.utf8
        guard !bytes.isEmpty, bytes.count <= 32 else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }
}
