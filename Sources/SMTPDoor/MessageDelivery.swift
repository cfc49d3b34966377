import Foundation
import Linkstamp
import NIOCore
import SMTPAPI

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
    /// The events file's descriptor, kept open between messages.
    let eventsFile: EventsFile?

    /// Prepare small messages on the client connection's event loop instead of in a task (see
    /// ``deliver(message:envelope:user:on:)``): no hop to Swift concurrency and back per message,
    /// and the copies go out over a relay connection of the same loop. On by default; it applies
    /// only without a suppression lookup or an event journal (PostgreSQL), which are awaited in
    /// a task. Issue 12, with one event loop per usable CPU, interleaved with the hop
    /// (`smtpd-cpu.sh`, 12:20Z, load 1.4-1.5, nothing else busy): 1 recipient 115-122 vs 125-130 us
    /// of CPU per message, 8,045-8,593 vs 7,638-7,814 msg/s; 10 recipients 365-370 vs 380-390 us,
    /// msg/s 2,087-2,178 vs 2,059-2,079; `smtpd-vs-sink.sh` 8,776 vs 8,007 and 2,201 vs 2,173
    /// msg/s. With other jobs' builds on both CPUs (12:14-12:16Z) 10-recipient rounds often ran
    /// slower with it (1,075-1,766 vs 1,434-1,864 msg/s, for less CPU): the one busy thread waits
    /// out other jobs' time slices at its many wake-ups, where the handing-over threads do not.
    public var prepareOnEventLoop = true

    /// Messages whose size times recipient count is at most this are prepared on the client
    /// connection's event loop when `prepareOnEventLoop` is set (a few hundred microseconds for a
    /// 4 KB message with 10 copies); larger ones are prepared off it, so one big fan-out does not
    /// stall the loop's other connections.
    static let inlineWorkLimit = 1 << 20

    /// A delivery path.
    public init(
        engine: Engine, relay: RelayClient, eventsPath: String?, now: @escaping @Sendable () -> Date = { Date() },
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.engine = engine
        self.relay = relay
        self.eventsPath = eventsPath
        self.eventsFile = eventsPath.map { EventsFile(path: $0) }
        self.now = now
        self.log = log
    }

    /// Prepares, relays and returns the client's reply. `user` is the AUTH user, for the log line.
    public func deliver(message: [UInt8], envelope: Envelope, user: String? = nil) async -> SMTPReply {
        let reply = await prepareAndRelay(message: message, envelope: envelope)
        logLine(message: message, envelope: envelope, user: user, reply: reply)
        return reply
    }

    /// The same, as a future completed on `loop` (the client connection's). With
    /// `prepareOnEventLoop` and without a suppression lookup or an event journal (nothing to
    /// wait for but the relay), a message of at most `inlineWorkLimit` is prepared right here on
    /// the loop and its copies handed to a relay connection of the same loop, with no hop to
    /// Swift concurrency and back; otherwise this is ``deliver(message:envelope:user:)`` run as
    /// a task.
    public func deliver(message: [UInt8], envelope: Envelope, user: String?, on loop: any EventLoop)
        -> EventLoopFuture<SMTPReply>
    {
        guard prepareOnEventLoop, suppressionLookup == nil, eventJournal == nil,
            message.count.multipliedReportingOverflow(by: max(1, envelope.recipients.count)).partialValue
                <= MessageDelivery.inlineWorkLimit
        else {
            return loop.makeFutureWithTask { await self.deliver(message: message, envelope: envelope, user: user) }
        }
        let prepared: (Transmission, [RelayClient.Item])
        do {
            let pending = try engine.begin(message: message, envelope: envelope, now: now())
            prepared = try render(engine.prepare(pending, suppression: SuppressionList()), envelope: envelope)
        } catch {
            logLine(message: message, envelope: envelope, user: user, reply: error)
            // Completed on a later turn of the loop, as a relayed message's reply is: the client's
            // pipelined input goes on from there, not from a call nested in this one.
            return loop.submit { error }
        }
        let (transmission, items) = prepared
        let relayed = items.isEmpty ? loop.submit { [SMTPReply]() } : relay.deliver(items, on: loop)
        return relayed.map { replies in
            let reply = self.conclude(transmission, items: items, replies: replies)
            if reply.code == 250 { _ = self.writeEvents(transmission, items: items) }
            self.logLine(message: message, envelope: envelope, user: user, reply: reply)
            return reply
        }
    }

    func logLine(message: [UInt8], envelope: Envelope, user: String?, reply: SMTPReply) {
        let who = user.map { " user=<\(MessageDelivery.sanitized(String($0.prefix(64))))>" } ?? ""
        log(
            "from=<\(MessageDelivery.sanitized(envelope.sender))> rcpts=\(envelope.recipients.count) "
                + "size=\(message.count)\(who): \(reply.description)")
    }

    func prepareAndRelay(message: [UInt8], envelope: Envelope) async -> SMTPReply {
        let prepared: (Transmission, [RelayClient.Item])
        do {
            let pending = try engine.begin(message: message, envelope: envelope, now: now())
            var suppression = SuppressionList()
            if let suppressionLookup, pending.needsSuppression {
                suppression = try await suppressionLookup.suppression(for: pending.recipientAddresses)
            }
            prepared = try render(engine.prepare(pending, suppression: suppression), envelope: envelope)
        } catch {
            return error
        }
        let (transmission, items) = prepared
        let replies = await relay.deliver(items)
        let reply = conclude(transmission, items: items, replies: replies)
        if reply.code == 250, let lines = writeEvents(transmission, items: items), let eventJournal {
            do { try await eventJournal(lines) } catch { log("events: \(error)") }
        }
        return reply
    }

    /// The transmission and its rendered copies, one relay item each.
    func render(_ transmission: Transmission, envelope: Envelope) throws(SMTPReply) -> (
        Transmission, [RelayClient.Item]
    ) {
        var items: [RelayClient.Item] = []
        items.reserveCapacity(transmission.copies.count)
        for copy in transmission.copies {
            items.append(
                RelayClient.Item(
                    sender: envelope.sender, recipient: copy.address, content: try transmission.renderedBytes(copy)))
        }
        return (transmission, items)
    }

    /// The client's reply once the relay answered for every copy.
    func conclude(_ transmission: Transmission, items: [RelayClient.Item], replies: [SMTPReply]) -> SMTPReply {
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
        return SMTPReply(code: 250, enhancedStatus: "2.0.0", text: "Ok: queued as \(transmission.transmissionIDString)")
    }

    /// Appends the events of an accepted transmission to the events file; returns them as lines
    /// when there is an event journal to give them to too.
    func writeEvents(_ transmission: Transmission, items: [RelayClient.Item]) -> [String]? {
        guard eventsFile != nil || eventJournal != nil else { return nil }
        let writer = Events.Writer(transmission)
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for (copy, item) in zip(transmission.copies, items) {
            writer.appendInjection(copy, messageSize: item.content.count, to: &bytes)
            ends.append(bytes.count)
            bytes.append(0x0A)
        }
        for copy in transmission.suppressed {
            writer.appendPolicyRejection(copy, to: &bytes)
            ends.append(bytes.count)
            bytes.append(0x0A)
        }
        // The copies are downstream already: a failed event write is logged, not a deferral
        // (a retry would send every copy twice).
        if let eventsFile, let problem = eventsFile.append(bytes) {
            log("events: \(problem)")
        }
        guard eventJournal != nil else { return nil }
        var lines: [String] = []
        var start = 0
        for end in ends {
            lines.append(String(decoding: bytes[start..<end], as: UTF8.self))
            start = end + 1
        }
        return lines
    }

    /// Reply text on one line of printable ASCII, at most 400 bytes.
    static func sanitized(_ text: String) -> String {
        // Already one line of printable ASCII, at most 400 bytes: as it is.
        if text.utf8.count <= 400 && text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        return String(
            String.UnicodeScalarView(
                text.unicodeScalars.prefix(400).map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }
}
