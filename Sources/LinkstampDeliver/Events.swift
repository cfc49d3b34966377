import Foundation
import LinkstampPipeline
import SMTPAPI

/// Events in SparkPost's webhook shape, one JSON object per line:
/// `{"msys":{"message_event":{"type":"injection",…}}}`.
public enum Events {
    /// The injection event of one delivered copy. `messageSize` is the copy's size in bytes.
    public static func injection(_ transmission: Transmission, copy: Copy, messageSize: Int) -> String {
        var fields = common(transmission, copy: copy, type: "injection")
        fields.append(("msg_size", .string(String(messageSize))))
        // Only when a body part asked to be tracked went out as it came (see `UntrackedPart`).
        if !transmission.untrackedParts.isEmpty {
            fields.append(
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
            fields.append(("inline_css_skipped", .string(skipped.rawValue)))
        }
        return wrap(fields)
    }

    /// The `policy_rejection` event of a recipient left out by the suppression list.
    public static func policyRejection(_ transmission: Transmission, copy: Copy) -> String {
        var fields = common(transmission, copy: copy, type: "policy_rejection")
        fields.append(("error_code", .string("554")))
        fields.append(("reason", .string("554 5.7.1 recipient address was suppressed due to customer policy")))
        fields.append(("raw_reason", .string("554 5.7.1 recipient address was suppressed due to customer policy")))
        return wrap(fields)
    }

    static func common(_ transmission: Transmission, copy: Copy, type: String) -> [(String, JSONValue)] {
        let options = transmission.options
        let api = transmission.api
        let seconds = Int64(transmission.injectionTime.timeIntervalSince1970)
        var fields: [(String, JSONValue)] = [
            ("type", .string(type)),
            ("transmission_id", .string(transmission.transmissionIDString)),
            ("message_id", .string(copy.messageID)),
            ("rcpt_to", .string(copy.normalizedAddress)),
            ("raw_rcpt_to", .string(copy.address)),
        ]
        if let rcptType = copy.rcptType { fields.append(("rcpt_type", .string(rcptType.rawValue))) }
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

    static func wrap(_ fields: [(String, JSONValue)]) -> String {
        let event = JSONValue.object(fields.map { JSONMember(key: $0.0, value: $0.1) })
        let envelope = JSONValue.object([
            JSONMember(key: "msys", value: .object([JSONMember(key: "message_event", value: event)]))
        ])
        return envelope.serialized()
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
