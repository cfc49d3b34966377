import Foundation
import Linkstamp
import SMTPAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What happens at the end of DATA: prepare the message with the library, render every copy,
/// hand them all to the relay, and decide the one reply the client gets.
///
/// - A message the engine refuses gets the engine's reply (`550 5.6.0 …`, `421 4.3.3 …`) and
///   nothing is relayed.
/// - `250 2.0.0 Ok: queued as <transmission id>` only when the relay accepted every copy.
/// - Otherwise `451 4.4.0` (some copy deferred or refused, or the relay unreachable), or the
///   first downstream refusal itself (5xx) when every copy was refused permanently. A retry
///   prepares the message afresh (a new transmission id) and relays every copy again, so copies
///   the relay had accepted before the failure arrive twice.
/// - Events (`injection` per copy, `policy_rejection` per suppressed recipient) are appended only
///   after a `250`, the way the filter writes them.
public struct MessageDelivery: Sendable {
    /// The engine that prepares every message.
    public let engine: Engine
    /// Where the copies go.
    public let relay: RelayClient
    /// The events file, if any.
    public let eventsPath: String?
    /// The shared suppression list (PostgreSQL with `database_url`), asked once per message
    /// about its recipients; when it cannot answer the client gets its `451 4.3.0`.
    public var suppressionLookup: (any SuppressionLookup)?
    /// Also receives the event lines after a `250` (the database's events table).
    public var eventJournal: (@Sendable ([String]) async throws -> Void)?
    /// The clock (tests fix it).
    public let now: @Sendable () -> Date
    /// Receives one line per message (its reply) and every problem with the events file.
    public let log: @Sendable (String) -> Void

    /// A delivery path.
    public init(
        engine: Engine, relay: RelayClient, eventsPath: String?, now: @escaping @Sendable () -> Date = { Date() },
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.engine = engine
        self.relay = relay
        self.eventsPath = eventsPath
        self.now = now
        self.log = log
    }

    /// Prepares, relays and returns the client's reply. `user` is the AUTH user, for the log line.
    public func deliver(message: [UInt8], envelope: Envelope, user: String? = nil) async -> SMTPReply {
        let reply = await prepareAndRelay(message: message, envelope: envelope)
        let who = user.map { " user=<\(MessageDelivery.sanitized(String($0.prefix(64))))>" } ?? ""
        log(
            "from=<\(MessageDelivery.sanitized(envelope.sender))> rcpts=\(envelope.recipients.count) "
                + "size=\(message.count)\(who): \(reply.description)")
        return reply
    }

    func prepareAndRelay(message: [UInt8], envelope: Envelope) async -> SMTPReply {
        let transmission: Transmission
        var items: [RelayClient.Item] = []
        do {
            let pending = try engine.begin(message: message, envelope: envelope, now: now())
            var suppression = SuppressionList()
            if let suppressionLookup, pending.needsSuppression {
                suppression = try await suppressionLookup.suppression(for: pending.recipientAddresses)
            }
            transmission = try engine.prepare(pending, suppression: suppression)
            items.reserveCapacity(transmission.copies.count)
            for copy in transmission.copies {
                items.append(
                    RelayClient.Item(
                        sender: envelope.sender, recipient: copy.address, content: try transmission.renderedBytes(copy))
                )
            }
        } catch {
            return error
        }
        let replies = await relay.deliver(items)
        let failed = zip(transmission.copies, replies).filter { $0.1.code / 100 != 2 }
        if let (copy, reply) = failed.first {
            let text =
                "\(failed.count) of \(items.count) copies not accepted by the relay; "
                + "<\(copy.address)>: \(reply.description)"
            if failed.count == items.count && failed.allSatisfy({ $0.1.isPermanent }) {
                return SMTPReply(
                    code: reply.code, enhancedStatus: reply.enhancedStatus, text: MessageDelivery.sanitized(text))
            }
            return SMTPReply(code: 451, enhancedStatus: "4.4.0", text: MessageDelivery.sanitized(text))
        }
        if eventsPath != nil || eventJournal != nil {
            var lines: [String] = []
            for (copy, item) in zip(transmission.copies, items) {
                lines.append(Events.injection(transmission, copy: copy, messageSize: item.content.count))
            }
            for copy in transmission.suppressed { lines.append(Events.policyRejection(transmission, copy: copy)) }
            // The copies are downstream already: a failed event write is logged, not a deferral
            // (a retry would send every copy twice).
            if let eventsPath, let problem = MessageDelivery.appendLines(lines, to: eventsPath) {
                log("events: \(problem)")
            }
            if let eventJournal {
                do { try await eventJournal(lines) } catch { log("events: \(error)") }
            }
        }
        return SMTPReply(code: 250, enhancedStatus: "2.0.0", text: "Ok: queued as \(transmission.transmissionIDString)")
    }

    /// Reply text on one line of printable ASCII, at most 400 bytes.
    static func sanitized(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.prefix(400).map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }

    /// Appends the lines with one `write` on an `O_APPEND` descriptor under an exclusive lock, as
    /// the filter does, so the door and filter processes can share one events file. Returns what
    /// went wrong, if anything.
    static func appendLines(_ lines: [String], to path: String) -> String? {
        guard !lines.isEmpty else { return nil }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { return "cannot open '\(path)': \(String(cString: strerror(errno)))" }
        defer { close(descriptor) }
        _ = flock(descriptor, LOCK_EX)
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return "cannot write '\(path)': \(String(cString: strerror(errno)))"
            }
            offset += written
        }
        return nil
    }
}
