import MailBytes
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
        // Built as bytes directly (no intermediate strings per member): this runs for every
        // click and open.
        let eventClass: StaticString =
            type == .list_unsubscribe || type == .link_unsubscribe ? "unsubscribe_event" : "track_event"
        var out = LineWriter()
        out.raw("{\"msys\":{\"")
        out.raw(eventClass)
        out.raw("\":{")
        out.member("type", type.rawValue)
        out.member("event_id", eventID)
        out.member("timestamp", String(timestamp))
        out.member("transmission_id", event.transmissionID)
        out.member("message_id", event.messageID)
        if let campaign = event.message?.campaignID { out.member("campaign_id", campaign) }
        out.member("rcpt_to", event.rcptTo)
        if let rcptType = event.rcptType { out.member("rcpt_type", rcptType.rawValue) }
        if let message = event.message, !message.isSlim {
            // Sealed by the filter from its own serializer of an object; authenticated.
            out.key("rcpt_meta")
            out.raw(message.metadata ?? "{}")
            out.key("rcpt_tags")
            out.strings(message.tags)
        }
        if let message = event.message {
            out.member("click_tracking", message.clickTracking)
            out.member("open_tracking", message.openTracking)
            out.member("initial_pixel", message.initialPixel)
            out.member("injection_time", TrackedEvent.iso8601Milliseconds(unixSeconds: message.injectionTime))
        }
        if type == .click || type == .link_unsubscribe {
            out.member("target_link_name", event.targetLinkName ?? "Raw URL")
            out.member("target_link_url", event.targetLinkURL ?? "")
        }
        out.member("ip_address", client.ipAddress)
        if let agent = client.userAgent { out.member("user_agent", agent) }
        if type == .link_unsubscribe, let language = client.acceptLanguage { out.member("accept_language", language) }
        if type == .list_unsubscribe { out.member("transactional", "0") }
        if let machine {
            out.key("machine")
            out.raw("{\"likely\":")
            out.raw(machine.likely ? "true" : "false")
            out.raw(",\"reasons\":")
            out.strings(machine.reasons)
            out.raw("}")
        }
        out.raw("}}}")
        return out.text
    }

    /// Writes one event object's members as JSON bytes, into storage of its own (a line is built
    /// for every click and open: appends here are a bounds check and a copy, where `[UInt8]`'s
    /// were several times that).
    struct LineWriter: ~Copyable {
        private var storage: UnsafeMutableRawPointer
        private var capacity: Int
        private(set) var count = 0
        var first = true

        init() {
            capacity = 1024
            storage = .allocate(byteCount: capacity, alignment: 1)
        }

        deinit { storage.deallocate() }

        /// The bytes written so far.
        var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: storage, count: count)) }

        /// The line as a string.
        var text: String {
            String(unsafeUninitializedCapacity: count) { out in
                guard let base = out.baseAddress else { return 0 }
                UnsafeMutableRawPointer(base).copyMemory(from: storage, byteCount: count)
                return count
            }
        }

        @inline(__always)
        private mutating func reserve(_ more: Int) {
            if count + more > capacity { grow(more) }
        }

        @inline(never)
        private mutating func grow(_ more: Int) {
            let grown = max(capacity * 2, count + more)
            let bigger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 1)
            bigger.copyMemory(from: storage, byteCount: count)
            storage.deallocate()
            storage = bigger
            capacity = grown
        }

        @inline(__always)
        mutating func append(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            reserve(bytes.count)
            (storage + count).copyMemory(from: base, byteCount: bytes.count)
            count += bytes.count
        }

        @inline(__always)
        mutating func append(_ byte: UInt8) {
            reserve(1)
            storage.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }

        @inline(__always)
        mutating func raw(_ text: StaticString) {
            text.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }
        }

        mutating func raw(_ text: String) {
            var text = text
            text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
        }

        /// `,"name":` (no comma before the first member).
        mutating func key(_ name: StaticString) {
            reserve(name.utf8CodeUnitCount + 4)
            if first { first = false } else { append(UInt8(ascii: ",")) }
            append(UInt8(ascii: "\""))
            raw(name)
            append(UInt8(ascii: "\""))
            append(UInt8(ascii: ":"))
        }

        mutating func member(_ name: StaticString, _ value: String) {
            key(name)
            string(value)
        }

        mutating func member(_ name: StaticString, _ flag: Bool) {
            key(name)
            raw(flag ? "true" : "false")
        }

        mutating func strings(_ values: [String]) {
            append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { append(UInt8(ascii: ",")) }
                string(value)
            }
            append(UInt8(ascii: "]"))
        }

        /// A JSON string, escaped exactly as `JSONValue.serialized()` does (", \\ and control
        /// characters; everything else as raw UTF-8).
        mutating func string(_ text: String) {
            var text = text
            text.withUTF8 { buffer in
                let raw = UnsafeRawBufferPointer(buffer)
                reserve(raw.count + 2)
                append(UInt8(ascii: "\""))
                // Most values need no escape: copied whole.
                if !Self.needsEscape(raw) {
                    append(raw)
                } else {
                    for byte in raw { escaped(byte) }
                }
                append(UInt8(ascii: "\""))
            }
        }

        private mutating func escaped(_ byte: UInt8) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                append(UInt8(ascii: "\\"))
                append(byte)
            case 0x08: escape(UInt8(ascii: "b"))
            case 0x09: escape(UInt8(ascii: "t"))
            case 0x0A: escape(UInt8(ascii: "n"))
            case 0x0C: escape(UInt8(ascii: "f"))
            case 0x0D: escape(UInt8(ascii: "r"))
            case 0x00..<0x20:
                raw("\\u00")
                append(Self.hex[Int(byte >> 4)])
                append(Self.hex[Int(byte & 0x0F)])
            default:
                append(byte)
            }
        }

        /// Some byte of `buffer` is `"`, `\\` or a control character.
        static func needsEscape(_ buffer: UnsafeRawBufferPointer) -> Bool {
            guard let base = buffer.baseAddress else { return false }
            let start = ByteWord.skip(base, from: 0, to: buffer.count) {
                !ByteWord.hasByte(below: 0x20, in: $0) && !ByteWord.hasByte(UInt8(ascii: "\""), in: $0)
                    && !ByteWord.hasByte(UInt8(ascii: "\\"), in: $0)
            }
            return buffer[start...].contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        }

        private mutating func escape(_ letter: UInt8) {
            append(UInt8(ascii: "\\"))
            append(letter)
        }

        private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
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
