import SMTPAPI
import Synchronization
import Tracking

/// The verdict on whether a person or a machine (image proxy, link scanner) made a request.
/// Written into events as `"machine": {"likely": …, "reasons": […]}` (our extension: SparkPost
/// has no such field, so a SparkPost consumer ignores it).
public struct MachineVerdict: Sendable, Hashable {
    /// Why the request looks automated; empty for a person.
    public var reasons: [String]
    /// True when any reason applies.
    public var likely: Bool { !reasons.isEmpty }
    /// A verdict from its reasons.
    public init(reasons: [String] = []) { self.reasons = reasons }
}

/// Builds the journal lines of engagement events in SparkPost's webhook shape.
public enum EngagementEvent {
    /// What the HTTP request tells about the client.
    public struct Client: Sendable, Hashable {
        /// The client address (`ip_address`).
        public var ipAddress: String
        /// `User-Agent`, if sent.
        public var userAgent: String?
        /// `Accept-Language`, if sent (link unsubscribes carry it).
        public var acceptLanguage: String?
        /// A client from its request's fields.
        public init(ipAddress: String, userAgent: String? = nil, acceptLanguage: String? = nil) {
            self.ipAddress = ipAddress
            self.userAgent = userAgent
            self.acceptLanguage = acceptLanguage
        }
    }

    /// `{"msys":{"track_event":{…}}}` for click, open and initial_open;
    /// `{"msys":{"unsubscribe_event":{…}}}` for list_unsubscribe and link_unsubscribe.
    /// `type` overrides the decoded event's (a link unsubscribe also writes a click).
    public static func line(
        _ event: TrackedEvent, type: TrackedEventType? = nil, eventID: String, timestamp: Int64, client: Client,
        machine: MachineVerdict?
    ) -> String {
        let type = type ?? event.type
        var out = ""
        func add(_ key: String, raw: String) {
            if !out.isEmpty { out += "," }
            out += quoted(key) + ":" + raw
        }
        func add(_ key: String, _ value: String) { add(key, raw: quoted(value)) }
        func add(_ key: String, _ flag: Bool) { add(key, raw: flag ? "true" : "false") }
        add("type", type.rawValue)
        add("event_id", eventID)
        add("timestamp", String(timestamp))
        add("transmission_id", event.transmissionID)
        add("message_id", event.messageID)
        if let campaign = event.message?.campaignID { add("campaign_id", campaign) }
        add("rcpt_to", event.rcptTo)
        if let rcptType = event.rcptType { add("rcpt_type", rcptType.rawValue) }
        if let message = event.message, !message.isSlim {
            // Sealed by the filter from its own serializer of an object; authenticated.
            add("rcpt_meta", raw: message.metadata ?? "{}")
            add("rcpt_tags", raw: "[" + message.tags.map(quoted).joined(separator: ",") + "]")
        }
        if let message = event.message {
            add("click_tracking", message.clickTracking)
            add("open_tracking", message.openTracking)
            add("initial_pixel", message.initialPixel)
            add("injection_time", TrackedEvent.iso8601Milliseconds(unixSeconds: message.injectionTime))
        }
        if type == .click || type == .link_unsubscribe {
            add("target_link_name", event.targetLinkName ?? "Raw URL")
            add("target_link_url", event.targetLinkURL ?? "")
        }
        add("ip_address", client.ipAddress)
        if let agent = client.userAgent { add("user_agent", agent) }
        if type == .link_unsubscribe, let language = client.acceptLanguage { add("accept_language", language) }
        if type == .list_unsubscribe { add("transactional", "0") }
        if let machine {
            add(
                "machine",
                raw: "{\"likely\":\(machine.likely),\"reasons\":[" + machine.reasons.map(quoted).joined(separator: ",")
                    + "]}")
        }
        let eventClass = type == .list_unsubscribe || type == .link_unsubscribe ? "unsubscribe_event" : "track_event"
        return "{\"msys\":{\"\(eventClass)\":{" + out + "}}}"
    }

    /// A JSON string (RFC 8259 escapes).
    static func quoted(_ text: String) -> String { JSONValue.string(text).serialized() }
}

/// Unique, time-ordered decimal event ids (≈ 18 digits): milliseconds since 2020-01-01 (41 bits),
/// 10 random bits drawn once per process, and a 12-bit counter within the millisecond.
public final class EventIDGenerator: Sendable {
    private struct State {
        var millisecond: UInt64 = 0
        var counter: UInt64 = 0
    }
    private let state = Mutex(State())
    private let node: UInt64

    /// A generator with a random node part.
    public init() {
        var random = SystemRandomNumberGenerator()
        node = random.next() & 0x3FF
    }

    /// The next id for an event at unix milliseconds `now`.
    public func next(nowMilliseconds now: UInt64) -> String {
        let epoch: UInt64 = 1_577_836_800_000
        let id = state.withLock { state -> UInt64 in
            var millisecond = now > epoch ? now - epoch : 0
            if millisecond <= state.millisecond {
                millisecond = state.millisecond
                state.counter += 1
                if state.counter > 0xFFF {
                    millisecond += 1
                    state.counter = 0
                }
            } else {
                state.counter = 0
            }
            state.millisecond = millisecond
            return (millisecond & 0x1FF_FFFF_FFFF) << 22 | node << 12 | state.counter
        }
        return String(id)
    }
}
