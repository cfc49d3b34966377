import Foundation
import SMTPAPI
import Testing

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// `Events.Writer` builds the event lines as bytes, the shared fields serialized once per
/// transmission; its lines must be byte for byte what the whole-`JSONValue` construction (the
/// reference below, the code before the writer) gives.
@Suite struct EventsWriterTests {
    /// The events as they were built before `Events.Writer`: one `JSONValue` per event.
    enum Reference {
        static func injection(_ transmission: Transmission, copy: Copy, messageSize: Int) -> String {
            var fields = common(transmission, copy: copy, type: "injection")
            fields.append(("msg_size", .string(String(messageSize))))
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
            if let skipped = transmission.cssInlineSkipped {
                fields.append(("inline_css_skipped", .string(skipped.rawValue)))
            }
            return wrap(fields)
        }

        static func policyRejection(_ transmission: Transmission, copy: Copy) -> String {
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
                ("tracking_domain_configured", .bool(transmission.trackingDomainConfigured)),
            ]
            if let subject = transmission.subject { fields.append(("subject", .string(subject))) }
            fields.append(("timestamp", .string(String(seconds))))
            fields.append(("injection_time", .string(Events.iso8601(transmission.injectionTime))))
            return fields
        }

        static func wrap(_ fields: [(String, JSONValue)]) -> String {
            let event = JSONValue.object(fields.map { JSONMember(key: $0.0, value: $0.1) })
            return JSONValue.object([
                JSONMember(key: "msys", value: .object([JSONMember(key: "message_event", value: event)]))
            ]).serialized()
        }
    }

    /// Every transmission shape the event fields vary with.
    static func transmissions() throws -> [Transmission] {
        var result: [Transmission] = []
        let newsletter = try Corpus.bundled("newsletter.eml")
        result.append(
            try Fixture.engine().prepare(
                message: newsletter,
                envelope: Envelope(sender: "news@acme.example", recipients: ["Reader@Example.org", "b@example.org"]),
                now: Fixture.now))
        // Escapes in the metadata, the subject, the sender and the campaign; untracked parts; no tags.
        let odd = Fixture.message(
            "From: a@example.com\nSubject: \"quoted\" \\ back\tslash\n"
                + #"X-MSYS-API: {"campaign_id":"c\"1\\","metadata":{"k\"":"v\u0001\n","n":[1,2.5,{"x":null}]},"#
                + #""options":{"click_tracking":true,"transactional":true,"ip_pool":"p\"ool"}}"#
                + "\nContent-Transfer-Encoding: 8bits\n\nHi http://example.com/x\n")
        result.append(
            try Fixture.engine().prepare(
                message: odd, envelope: Envelope(sender: "", recipients: ["r@example.org"]),
                now: Date(timeIntervalSince1970: 1_795_680_000.9996)))
        // No X-MSYS-API at all, no subject, the placeholder tracking domain.
        var configuration = Configuration()
        configuration.trackingDomain = Configuration.placeholderTrackingDomain
        let plain = try Engine(configuration: configuration, keyRing: Fixture.keyRing)
        result.append(
            try plain.prepare(
                message: Fixture.message("From: a@example.com\n\nHi\n"),
                envelope: Envelope(sender: "s@example.com", recipients: ["r@example.org"]), now: Fixture.now))
        // A suppressed recipient (a policy_rejection event).
        var suppression = SuppressionList()
        suppression.insert("gone@example.org", kind: .both)
        let suppressing = try Engine(
            configuration: try Fixture.engine().configuration, keyRing: Fixture.keyRing, suppressionList: suppression)
        result.append(
            try suppressing.prepare(
                message: Fixture.message("From: a@example.com\nSubject: x\n\nHi http://example.com/\n"),
                envelope: Envelope(sender: "s@example.com", recipients: ["kept@example.org", "Gone@example.org"]),
                now: Fixture.now))
        return result
    }

    @Test func writerLinesAreTheReferenceLinesByteForByte() throws {
        let transmissions = try EventsWriterTests.transmissions()
        #expect(transmissions.contains { !$0.untrackedParts.isEmpty })
        #expect(transmissions.contains { !$0.suppressed.isEmpty })
        #expect(transmissions.contains { $0.copies.contains { $0.rcptType != nil } })
        for transmission in transmissions {
            let writer = Events.Writer(transmission)
            for (index, copy) in transmission.copies.enumerated() {
                let expected = Reference.injection(transmission, copy: copy, messageSize: 1000 + index)
                var bytes: [UInt8] = [0x0A]  // appends, keeping what is there
                writer.appendInjection(copy, messageSize: 1000 + index, to: &bytes)
                #expect(bytes == [0x0A] + Array(expected.utf8))
                #expect(Events.injection(transmission, copy: copy, messageSize: 1000 + index) == expected)
            }
            for copy in transmission.suppressed {
                let expected = Reference.policyRejection(transmission, copy: copy)
                var bytes: [UInt8] = []
                writer.appendPolicyRejection(copy, to: &bytes)
                #expect(bytes == Array(expected.utf8))
                #expect(Events.policyRejection(transmission, copy: copy) == expected)
            }
        }
    }
}
