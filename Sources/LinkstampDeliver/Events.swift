import Foundation
import LinkstampPipeline
import SMTPAPI

/// Events in SparkPost's webhook shape, one JSON object per line:
/// `{"msys":{"message_event":{"type":"injection",…}}}`.
public enum Events {
    /// The injection event of one delivered copy. `messageSize` is the copy's size in bytes.
    public static func injection(_ transmission: Transmission, copy: Copy, messageSize: Int) -> String {
        var out: [UInt8] = []
        Writer(transmission).appendInjection(copy, messageSize: messageSize, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The `policy_rejection` event of a recipient left out by the suppression list.
    public static func policyRejection(_ transmission: Transmission, copy: Copy) -> String {
        var out: [UInt8] = []
        Writer(transmission).appendPolicyRejection(copy, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes the events of one transmission's copies as bytes. What every copy of the
    /// transmission shares (campaign, metadata, tags, options, subject, times) is serialized once,
    /// when the writer is made; each event then only adds its copy's own fields.
    ///
    /// An event has its fields in this order: `type`, `transmission_id`, `message_id`,
    /// `rcpt_to`, `raw_rcpt_to`, `rcpt_type` (when set), the shared fields (`campaign_id` when
    /// set, `rcpt_meta`, `rcpt_tags`, `ip_pool` when set, `click_tracking`, `open_tracking`,
    /// `initial_pixel`, `transactional`, `sandbox`, `msg_from`, `tracking_domain_configured`,
    /// `subject` when set, `timestamp`, `injection_time`), then the type's own: `msg_size`,
    /// `untracked_parts` and `inline_css_skipped` (when set) for `injection`; `error_code`,
    /// `reason`, `raw_reason` for `policy_rejection`.
    public struct Writer: Sendable {
        /// `","transmission_id":"<id>"`.
        let transmissionID: [UInt8]
        /// `,"campaign_id":…,"injection_time":"…"`.
        let shared: [UInt8]
        /// `,"untracked_parts":[…],"inline_css_skipped":"…"` when set, then `}}}`.
        let injectionEnd: [UInt8]

        /// A writer for the events of `transmission`.
        public init(_ transmission: Transmission) {
            transmissionID = Array("\",\"transmission_id\":\"\(transmission.transmissionIDString)\"".utf8)
            shared = Writer.members(Writer.sharedFields(transmission))
            var end: [(String, JSONValue)] = []
            // Only when a body part asked to be tracked went out as it came (see `UntrackedPart`).
            if !transmission.untrackedParts.isEmpty {
                end.append(
                    (
                        "untracked_parts",
                        .array(
                            transmission.untrackedParts.map {
                                .object([
                                    JSONMember(key: "part", value: .number(String($0.part))),
                                    JSONMember(key: "reason", value: .string($0.reason)),
                                ])
                            })
                    ))
            }
            // Only when `inline_css` was asked for and the HTML went out without it (never a bounce).
            if let skipped = transmission.cssInlineSkipped {
                end.append(("inline_css_skipped", .string(skipped.rawValue)))
            }
            injectionEnd = Writer.members(end) + Array("}}}".utf8)
        }

        /// Appends the injection event of `copy` (no line end). `messageSize`: the copy's size in
        /// bytes.
        public func appendInjection(_ copy: Copy, messageSize: Int, to out: inout [UInt8]) {
            appendStart(type: "injection", copy: copy, to: &out)
            out.append(contentsOf: ",\"msg_size\":\"".utf8)
            out.append(contentsOf: String(messageSize).utf8)
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: injectionEnd)
        }

        /// Appends the `policy_rejection` event of `copy`, a recipient left out by the
        /// suppression list (no line end).
        public func appendPolicyRejection(_ copy: Copy, to out: inout [UInt8]) {
            appendStart(type: "policy_rejection", copy: copy, to: &out)
            out.append(contentsOf: Writer.policyRejectionEnd)
        }

        static let policyRejectionEnd = Array(
            (",\"error_code\":\"554\""
                + ",\"reason\":\"554 5.7.1 recipient address was suppressed due to customer policy\""
                + ",\"raw_reason\":\"554 5.7.1 recipient address was suppressed due to customer policy\"}}}").utf8)

        /// From `{"msys":` to the last shared field.
        func appendStart(type: StaticString, copy: Copy, to out: inout [UInt8]) {
            out.reserveCapacity(out.count + shared.count + injectionEnd.count + 400)
            out.append(contentsOf: "{\"msys\":{\"message_event\":{\"type\":\"".utf8)
            type.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: transmissionID)
            out.append(contentsOf: ",\"message_id\":".utf8)
            JSONSerializer.writeString(copy.messageID, into: &out)
            out.append(contentsOf: ",\"rcpt_to\":".utf8)
            JSONSerializer.writeString(copy.normalizedAddress, into: &out)
            out.append(contentsOf: ",\"raw_rcpt_to\":".utf8)
            JSONSerializer.writeString(copy.address, into: &out)
            if let rcptType = copy.rcptType {
                out.append(contentsOf: ",\"rcpt_type\":".utf8)
                JSONSerializer.writeString(rcptType.rawValue, into: &out)
            }
            out.append(contentsOf: shared)
        }

        /// The fields after the copy's own, the same in every event of the transmission.
        static func sharedFields(_ transmission: Transmission) -> [(String, JSONValue)] {
            let options = transmission.options
            let api = transmission.api
            let seconds = Int64(transmission.injectionTime.timeIntervalSince1970)
            var fields: [(String, JSONValue)] = []
            if let campaign = api.campaignID { fields.append(("campaign_id", .string(campaign))) }
            fields.append(("rcpt_meta", .object(api.metadata ?? [])))
            fields.append(("rcpt_tags", .array(api.tags.map { .string($0) })))
            if let pool = options.ipPool { fields.append(("ip_pool", .string(pool))) }
            fields += [
                ("click_tracking", .bool(options.clickTracking)),
                ("open_tracking", .bool(options.openTracking)),
                ("initial_pixel", .bool(options.initialPixel)),
                ("transactional", .string(options.transactional ? "1" : "0")),
                ("sandbox", .bool(options.sandbox)),
                ("msg_from", .string(transmission.envelope.sender)),
                // false while the tracking host is the placeholder: its links go nowhere.
                ("tracking_domain_configured", .bool(transmission.trackingDomainConfigured)),
            ]
            if let subject = transmission.subject { fields.append(("subject", .string(subject))) }
            fields.append(("timestamp", .string(String(seconds))))
            fields.append(("injection_time", .string(iso8601(transmission.injectionTime))))
            return fields
        }

        /// `,"key":value` for each field: the members of a serialized object without its braces.
        static func members(_ fields: [(String, JSONValue)]) -> [UInt8] {
            guard !fields.isEmpty else { return [] }
            var object: [UInt8] = []
            JSONSerializer.write(.object(fields.map { JSONMember(key: $0.0, value: $0.1) }), into: &object)
            // `{…}` → `,…`
            object[0] = UInt8(ascii: ",")
            object.removeLast()
            return object
        }
    }

    /// `2026-11-26T17:30:00.000Z`.
    /// Milliseconds are rounded to the nearest, as Foundation's `ISO8601DateFormatter` does.
    static func iso8601(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        return fraction < 0
            ? ISO8601.format(unixSeconds: seconds - 1, milliseconds: Int(fraction + 1000))
            : ISO8601.format(unixSeconds: seconds, milliseconds: Int(fraction))
    }
}
