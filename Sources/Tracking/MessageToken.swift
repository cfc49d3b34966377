/// What a message token carries: everything an engagement event needs from the message that is
/// the same for every copy (SparkPost's `campaign_id`, `rcpt_meta`, `rcpt_tags`, tracking
/// options and the injection time). Sealed once per message and written into every URL of every
/// copy, so the endpoint stays stateless and the per-recipient work does not grow.
///
/// Plaintext (see ``TokenFormat``):
///
///     message = %x03 transmissionID:varint injectionTime:zigzag-varint flags:1
///               [campaignLength:varint campaign]          ; flags bit 3
///               [tagCount:varint (tagLength:varint tag)*] ; unless flags bit 4 (slim)
///               metadata:rest                             ; compact JSON object, or empty
///     flags   = bit 0 click_tracking, bit 1 open_tracking, bit 2 initial_pixel,
///               bit 3 campaign present, bit 4 slim (tags and metadata left out)
///
/// The slim form goes where a line must stay short (the `List-Unsubscribe` field); its events
/// carry campaign and options but no tags or metadata (``isSlim``).
public struct MessageInfo: Sendable, Hashable {
    /// The message's transmission id (docs/SPEC.md §3.3).
    public var transmissionID: UInt64
    /// When the message was injected (unix seconds).
    public var injectionTime: Int64
    /// `campaign_id`, if the message named one.
    public var campaignID: String?
    /// `tags` (SparkPost's `rcpt_tags`).
    public var tags: [String]
    /// `metadata` as compact JSON (an object), at most ``TrackingLimits/maxMetadataBytes``; nil
    /// for none.
    public var metadata: String?
    /// Click tracking was on for the message.
    public var clickTracking: Bool
    /// Open tracking was on for the message.
    public var openTracking: Bool
    /// The initial-open pixel was inserted.
    public var initialPixel: Bool
    /// Tags and metadata were left out of this token (the slim form).
    public var isSlim: Bool

    /// A message's token fields.
    public init(
        transmissionID: UInt64, injectionTime: Int64, campaignID: String? = nil, tags: [String] = [],
        metadata: String? = nil, clickTracking: Bool = true, openTracking: Bool = true, initialPixel: Bool = true,
        isSlim: Bool = false
    ) {
        self.transmissionID = transmissionID
        self.injectionTime = injectionTime
        self.campaignID = campaignID
        self.tags = tags
        self.metadata = metadata
        self.clickTracking = clickTracking
        self.openTracking = openTracking
        self.initialPixel = initialPixel
        self.isSlim = isSlim
    }

    /// The same message without tags and metadata.
    public var slim: MessageInfo {
        var copy = self
        copy.tags = []
        copy.metadata = nil
        copy.isSlim = true
        return copy
    }
}

extension TokenFormat {
    static let flagClick: UInt8 = 0x01
    static let flagOpen: UInt8 = 0x02
    static let flagInitialPixel: UInt8 = 0x04
    static let flagCampaign: UInt8 = 0x08
    static let flagSlim: UInt8 = 0x10
    static let messageFlags: UInt8 = 0x1F

    /// The shortest a sealed token's text can be (base64url of the smallest raw token); shorter
    /// path segments are never tokens.
    static let minimumTokenCharacters = (minimumRawCount * 4 + 2) / 3
}

extension TrackingURLBuilder {
    /// The message token (ASCII, base64url): once per message, in every URL of every copy.
    public func messageToken(_ message: MessageInfo) throws(TrackingError) -> String {
        String(decoding: try messageTokenBytes(message), as: UTF8.self)
    }

    /// The message token as ASCII bytes.
    public func messageTokenBytes(_ message: MessageInfo) throws(TrackingError) -> [UInt8] {
        guard let key = keyRing.activeKey else { throw .emptyKeyRing }
        return try TokenFormat.seal(try messagePlaintext(message), key: key)
    }

    /// The message token's plaintext (see ``MessageInfo``).
    func messagePlaintext(_ message: MessageInfo) throws(TrackingError) -> [UInt8] {
        var plain: [UInt8] = [TokenKind.message.rawValue]
        Varint.append(message.transmissionID, to: &plain)
        Varint.append(Varint.zigzag(message.injectionTime), to: &plain)
        var flags: UInt8 = 0
        if message.clickTracking { flags |= TokenFormat.flagClick }
        if message.openTracking { flags |= TokenFormat.flagOpen }
        if message.initialPixel { flags |= TokenFormat.flagInitialPixel }
        if message.campaignID != nil { flags |= TokenFormat.flagCampaign }
        if message.isSlim { flags |= TokenFormat.flagSlim }
        plain.append(flags)
        if let campaign = message.campaignID {
            guard campaign.utf8.count <= limits.maxFieldBytes else {
                throw .fieldTooLong("campaign_id", bytes: campaign.utf8.count, limit: limits.maxFieldBytes)
            }
            Varint.append(UInt64(campaign.utf8.count), to: &plain)
            plain.append(contentsOf: campaign.utf8)
        }
        if !message.isSlim {
            Varint.append(UInt64(message.tags.count), to: &plain)
            for tag in message.tags {
                guard tag.utf8.count <= limits.maxFieldBytes else {
                    throw .fieldTooLong("tag", bytes: tag.utf8.count, limit: limits.maxFieldBytes)
                }
                Varint.append(UInt64(tag.utf8.count), to: &plain)
                plain.append(contentsOf: tag.utf8)
            }
            if let metadata = message.metadata {
                guard metadata.utf8.count <= limits.maxMetadataBytes else {
                    throw .fieldTooLong("metadata", bytes: metadata.utf8.count, limit: limits.maxMetadataBytes)
                }
                plain.append(contentsOf: metadata.utf8)
            }
        }
        return plain
    }

    /// `https://<domain>/f/<sublink|a>/<linkToken>/<messageToken>/`: the once-per-message click
    /// prefix; the recipient segment is appended per copy.
    public func clickURLPrefix(linkToken: String, messageToken: String, sublink: String?) -> String {
        clickURLPrefix(linkToken: linkToken, sublink: sublink) + messageToken + "/"
    }

    /// The once-per-message prefix of an open, initial-open or unsubscribe URL:
    /// `https://<domain>/q/o/<messageToken>/` and so on.
    public func urlPrefix(_ kind: URLKind, messageToken: String) -> String {
        let base: String
        switch kind {
        case .open: base = openURLPrefix
        case .initialOpen: base = initialOpenURLPrefix
        case .unsubscribe: base = unsubscribeURLPrefix
        case .click: base = "https://\(domain)/f/a/"
        }
        return base + messageToken + "/"
    }

    /// A complete click URL with a message token (convenience; the pipeline splices prefixes).
    public func clickURL(link: LinkInfo, message: MessageInfo, recipient: RecipientInfo) throws(TrackingError) -> String
    {
        let segment = try recipientToken(recipient).segment(.click)
        return clickURLPrefix(
            linkToken: try linkToken(link), messageToken: try messageToken(message), sublink: link.sublink)
            + String(decoding: segment, as: UTF8.self)
    }

    /// A complete open, initial-open or unsubscribe URL with a message token (convenience).
    public func url(_ kind: URLKind, message: MessageInfo, recipient: RecipientInfo) throws(TrackingError) -> String {
        guard kind != .click else {
            throw .invalidField("URL kind", reason: "click URLs need a link: use clickURL(link:message:recipient:)")
        }
        return urlPrefix(kind, messageToken: try messageToken(message))
            + String(decoding: try recipientToken(recipient).segment(kind), as: UTF8.self)
    }
}

extension TrackingDecoder {
    /// Opens a message token found at `range` of `url`, or takes it from `cache`.
    static func decodeMessage(
        _ url: [UInt8], _ range: Range<Int>, keyRing: KeyRing, cache: TokenCache? = nil
    ) throws(TrackingError) -> MessageInfo {
        if let cache, case .message(let message)? = cache.value(url[range]) { return message }
        let message = try openMessage(url, range, keyRing: keyRing)
        cache?.store(url[range], .message(message))
        return message
    }

    private static func openMessage(_ url: [UInt8], _ range: Range<Int>, keyRing: KeyRing) throws(TrackingError)
        -> MessageInfo
    {
        var (reader, _) = try TokenFormat.open(
            url[range], expecting: .message, keyRing: keyRing, offset: range.lowerBound)
        guard let transmissionID = reader.readVarint(), let zigzag = reader.readVarint(), let flags = reader.readByte(),
            flags & ~TokenFormat.messageFlags == 0
        else { throw .malformedToken(offset: range.lowerBound) }
        var message = MessageInfo(
            transmissionID: transmissionID, injectionTime: Varint.unzigzag(zigzag),
            clickTracking: flags & TokenFormat.flagClick != 0, openTracking: flags & TokenFormat.flagOpen != 0,
            initialPixel: flags & TokenFormat.flagInitialPixel != 0, isSlim: flags & TokenFormat.flagSlim != 0)
        if flags & TokenFormat.flagCampaign != 0 {
            guard let campaign = reader.readLengthPrefixed() else { throw .malformedToken(offset: range.lowerBound) }
            message.campaignID = String(decoding: campaign, as: UTF8.self)
        }
        if !message.isSlim {
            guard let count = reader.readVarint(), count <= 1024 else {
                throw .malformedToken(offset: range.lowerBound)
            }
            for _ in 0..<count {
                guard let tag = reader.readLengthPrefixed() else { throw .malformedToken(offset: range.lowerBound) }
                message.tags.append(String(decoding: tag, as: UTF8.self))
            }
            let rest = reader.readRest()
            if !rest.isEmpty { message.metadata = String(decoding: rest, as: UTF8.self) }
        }
        return message
    }
}
