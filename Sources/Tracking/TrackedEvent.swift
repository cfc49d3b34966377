import MailBytes

/// What a tracked URL records when it is followed. The cases are spelled as SparkPost spells the
/// event `type` (their raw values are what events carry), hence the snake case.
// swift-format-ignore: AlwaysUseLowerCamelCase
public enum TrackedEventType: String, Sendable {
    /// A tracked link was clicked.
    case click
    /// The open pixel (before `</body>`) was loaded.
    case open
    /// The initial-open pixel (after `<body>`) was loaded.
    case initial_open
    /// A link marked `data-msys-unsubscribe="1"` was clicked.
    case link_unsubscribe
    /// The one-click `List-Unsubscribe` URL was used.
    case list_unsubscribe
}

/// A decoded tracked URL: what a click server needs to redirect and to emit a `track_event`.
public struct TrackedEvent: Sendable, Hashable {
    /// The kind of event.
    public var type: TrackedEventType
    /// The transmission id, decimal.
    public var transmissionID: String
    /// The copy's message id.
    public var messageID: String
    /// The recipient address.
    public var rcptTo: String
    /// nil for an envelope recipient.
    public var rcptType: RecipientType?
    /// The redirect target; clicks (and link unsubscribes) only.
    public var targetLinkURL: String?
    /// The link name; clicks (and link unsubscribes) only.
    public var targetLinkName: String?
    /// Unix seconds after which the URL is refused.
    public var expires: Int64
    /// The id of the key that sealed the recipient token.
    public var keyID: UInt16
    /// False for a token sealed before URL kinds were bound (version 1): it decodes under any
    /// kind of URL, so a server may treat its unsubscribe with more care (ask, not act).
    public var isKindBound: Bool
    /// What the URL's message token carries (campaign, tags, metadata, options, injection
    /// time); nil for URLs of the shape before message tokens.
    public var message: MessageInfo?
    /// The link is the filter's invisible scanner trap (no person sees it).
    public var isTrapLink: Bool = false

    /// An event from its fields.
    public init(
        type: TrackedEventType, transmissionID: String, messageID: String, rcptTo: String,
        rcptType: RecipientType?, targetLinkURL: String? = nil, targetLinkName: String? = nil,
        expires: Int64, keyID: UInt16, isKindBound: Bool = true, message: MessageInfo? = nil
    ) {
        self.message = message
        self.type = type
        self.transmissionID = transmissionID
        self.messageID = messageID
        self.rcptTo = rcptTo
        self.rcptType = rcptType
        self.targetLinkURL = targetLinkURL
        self.targetLinkName = targetLinkName
        self.expires = expires
        self.keyID = keyID
        self.isKindBound = isKindBound
    }

    /// One JSON object, keys: type, transmission_id, message_id, rcpt_to, rcpt_type (null for
    /// envelope recipients), target_link_url, target_link_name (omitted or null for opens),
    /// with a message token also campaign_id (when set), rcpt_meta and rcpt_tags (not in the
    /// slim form), click_tracking, open_tracking, initial_pixel, injection_time; trap_link for
    /// the scanner trap; expires (ISO 8601 UTC). Stable key order.
    ///
    /// The target keys are written when the event has a target (clicks and link unsubscribes)
    /// and omitted otherwise. No whitespace; strings escaped per RFC 8259.
    public func json() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(160 + (targetLinkURL?.utf8.count ?? 0))
        func key(_ name: String, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            JSON.appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
        }
        out.append(UInt8(ascii: "{"))
        key("type", first: true)
        JSON.appendString(type.rawValue, to: &out)
        key("transmission_id")
        JSON.appendString(transmissionID, to: &out)
        key("message_id")
        JSON.appendString(messageID, to: &out)
        key("rcpt_to")
        JSON.appendString(rcptTo, to: &out)
        key("rcpt_type")
        if let rcptType { JSON.appendString(rcptType.rawValue, to: &out) } else { out.append(contentsOf: "null".utf8) }
        if targetLinkURL != nil || targetLinkName != nil {
            key("target_link_url")
            if let targetLinkURL {
                JSON.appendString(targetLinkURL, to: &out)
            } else {
                out.append(contentsOf: "null".utf8)
            }
            key("target_link_name")
            if let targetLinkName {
                JSON.appendString(targetLinkName, to: &out)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        }
        if let message {
            if let campaign = message.campaignID {
                key("campaign_id")
                JSON.appendString(campaign, to: &out)
            }
            if !message.isSlim {
                key("rcpt_meta")
                // Sealed by the filter from its own serializer: a JSON object.
                out.append(contentsOf: (message.metadata ?? "{}").utf8)
                key("rcpt_tags")
                out.append(UInt8(ascii: "["))
                for (index, tag) in message.tags.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    JSON.appendString(tag, to: &out)
                }
                out.append(UInt8(ascii: "]"))
            }
            key("click_tracking")
            out.append(contentsOf: (message.clickTracking ? "true" : "false").utf8)
            key("open_tracking")
            out.append(contentsOf: (message.openTracking ? "true" : "false").utf8)
            key("initial_pixel")
            out.append(contentsOf: (message.initialPixel ? "true" : "false").utf8)
            key("injection_time")
            JSON.appendString(ISO8601.format(unixSeconds: message.injectionTime), to: &out)
        }
        if isTrapLink {
            key("trap_link")
            out.append(contentsOf: "true".utf8)
        }
        key("expires")
        JSON.appendString(ISO8601.format(unixSeconds: expires), to: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension TrackedEvent {
    /// `2026-11-26T17:30:00.000Z` (SparkPost's `injection_time` shape) from unix seconds.
    public static func iso8601Milliseconds(unixSeconds: Int64) -> String {
        ISO8601.format(unixSeconds: unixSeconds, milliseconds: 0)
    }
}

/// RFC 8259 string writing.
enum JSON {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `"value"`, escaping `"`, `\` and control characters (U+0000...U+001F, U+007F),
    /// and U+2028/U+2029 so the output is also safe inside JavaScript.
    static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let bytes = Array(value.utf8)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20, 0x7F:
                appendUnicodeEscape(UInt16(byte), to: &out)
            case 0xE2
            where i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                appendUnicodeEscape(bytes[i + 2] == 0xA8 ? 0x2028 : 0x2029, to: &out)
                i += 2
            default:
                out.append(byte)
            }
            i += 1
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendUnicodeEscape(_ scalar: UInt16, to out: inout [UInt8]) {
        out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u")])
        out.append(hex[Int(scalar >> 12 & 0xF)])
        out.append(hex[Int(scalar >> 8 & 0xF)])
        out.append(hex[Int(scalar >> 4 & 0xF)])
        out.append(hex[Int(scalar & 0xF)])
    }
}
