import Foundation
import Linkstamp
import Logging
import ServiceLifecycle
import Testing

@testable import TrackingServer

/// A delivery running in its own service group, as `linkstamp serve` runs it.
final class RunningDelivery: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ delivery: WebhookDelivery) {
        let group = ServiceGroup(configuration: .init(services: [delivery], logger: Support.quietLogger))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Graceful shutdown, as on SIGTERM; waits until delivery has stopped.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// Issue 11, webhook delivery: the journal read back from its committed offset and POSTed in
/// SparkPost's batch shape, through real sockets to a receiver on loopback.
@Suite(.serialized) struct WebhookTests {
    /// A journal in a fresh directory.
    struct Journal {
        let directory: String
        let path: String
        init() throws {
            directory = try Support.temporaryDirectory()
            path = directory + "/events.jsonl"
        }
        var statePath: String { path + ".webhook.offset" }
        var size: UInt64 {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
        }
        /// The committed offset in the state file.
        var committed: UInt64? {
            guard let data = FileManager.default.contents(atPath: statePath) else { return nil }
            return String(decoding: data, as: UTF8.self).split(separator: " ").first.flatMap { UInt64($0) }
        }
        func append(_ text: String) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        }
        func append(events ids: ClosedRange<Int>) throws {
            try FileEventJournal(path: path).append(ids.map(WebhookTests.event))
        }
        func delivery(to url: String, batchSize: Int = 100, authorization: String? = nil) -> WebhookDelivery {
            WebhookDelivery(
                feed: FileEventFeed(journalPath: path, logger: Support.quietLogger),
                settings: .init(
                    url: url, authorization: authorization, batchSize: batchSize, timeout: .seconds(5),
                    pollInterval: .milliseconds(20), backoffBase: .milliseconds(20), backoffCap: .milliseconds(200)),
                logger: Support.quietLogger)
        }
    }

    /// An event line in the journal's shape.
    static func event(_ id: Int) -> String {
        #"{"msys":{"track_event":{"type":"click","event_id":"\#(id)","timestamp":"\#(timestamp)","rcpt_to":"r\#(id)@example.org","target_link_url":"https://shop.example.com/\#(id)"}}}"#
    }

    /// When this test run's events happened.
    static let timestamp = Int(Date().timeIntervalSince1970)

    static func ids(_ range: ClosedRange<Int>) -> [String] { range.map(String.init) }

    @Test func batchesArriveAsJSONArraysWithTheirHeaders() async throws {
        let journal = try Journal()
        try journal.append(events: 1...7)
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let running = RunningDelivery(journal.delivery(to: receiver.url, batchSize: 3, authorization: "Bearer s3cret"))
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 7 })
        await running.stop()

        let requests = receiver.requests
        #expect(requests.map(\.eventIDs) == [["1", "2", "3"], ["4", "5", "6"], ["7"]])
        let lines = (1...7).map(Self.event)
        #expect(
            requests.map { String(decoding: $0.body, as: UTF8.self) } == [
                "[" + lines[0..<3].joined(separator: ",") + "]", "[" + lines[3..<6].joined(separator: ",") + "]",
                "[" + lines[6] + "]",
            ])
        for request in requests {
            #expect(request.method == "POST" && request.target == "/hook")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.headers["authorization"] == "Bearer s3cret")
            #expect(request.batchID.flatMap(UUID.init(uuidString:)) != nil, "\(request.headers)")
            let first = try #require(request.events?.first?["msys"] as? [String: Any])
            #expect(first["track_event"] != nil)
        }
        #expect(Set(requests.compactMap(\.batchID)).count == 3)
        #expect(journal.committed == journal.size)
    }

    @Test func failuresAreRetriedWithTheSameBatchIDAndNothingIsLost() async throws {
        let setup = try ServerTests.Setup()
        let server = try setup.server()
        let journal = try Journal()
        try journal.append(events: 1...4)
        // 500, 503, a connection closed without an answer, then 200.
        let receiver = try WebhookReceiver(plan: [500, 503, 0])
        defer { receiver.stop() }
        let delivery = WebhookDelivery(
            feed: FileEventFeed(journalPath: journal.path, logger: Support.quietLogger),
            settings: .init(
                url: receiver.url, timeout: .seconds(5), pollInterval: .milliseconds(20),
                backoffBase: .milliseconds(20), backoffCap: .milliseconds(200)),
            logger: Support.quietLogger, metricsFactory: server.metrics)
        let running = RunningDelivery(delivery)
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 4 })
        try journal.append(events: 5...5)
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 5 })
        let expected = [
            #"linkstamp_webhook_batches_total 2"#, #"linkstamp_webhook_events_total 5"#,
            #"linkstamp_webhook_failures_total{reason="status"} 2"#,
            #"linkstamp_webhook_failures_total{reason="connection"} 1"#, #"linkstamp_webhook_lag_seconds 0"#,
        ]
        @Sendable func metrics() -> String { String(decoding: server.registry.emitToBuffer(), as: UTF8.self) }
        // The lag goes back to 0 at the first read that finds nothing new.
        _ = await Wait.until { expected.allSatisfy(metrics().contains) }
        await running.stop()

        let requests = receiver.requests
        #expect(requests.map(\.answered) == [500, 503, 0, 200, 200])
        #expect(Set(requests.prefix(4).compactMap(\.batchID)).count == 1, "one batch id for every retry")
        #expect(requests[4].batchID != requests[0].batchID)
        #expect(Set(requests.prefix(4).map(\.body)).count == 1, "the retried batch is the same batch")
        #expect(receiver.acknowledgedEventIDs == Self.ids(1...5))
        #expect(journal.committed == journal.size)

        let text = metrics()
        for line in expected { #expect(text.contains(line), "\(line) in \(text)") }
    }

    @Test func aRestartResumesAfterTheCommittedOffset() async throws {
        let journal = try Journal()
        try journal.append(events: 1...5)
        let first = try WebhookReceiver()
        defer { first.stop() }
        var running = RunningDelivery(journal.delivery(to: first.url))
        #expect(await Wait.until { first.acknowledgedEventIDs.count >= 5 })
        await running.stop()
        #expect(journal.committed == journal.size)

        // Restart: only what came after the committed offset is sent.
        try journal.append(events: 6...8)
        let second = try WebhookReceiver()
        defer { second.stop() }
        running = RunningDelivery(journal.delivery(to: second.url))
        #expect(await Wait.until { second.acknowledgedEventIDs.count >= 3 })
        await running.stop()
        #expect(second.acknowledgedEventIDs == Self.ids(6...8))

        // A receiver that never accepts: stopped mid-retry, nothing is committed...
        let committed = journal.committed
        try journal.append(events: 9...10)
        let failing = try WebhookReceiver(plan: Array(repeating: 500, count: 1000))
        defer { failing.stop() }
        running = RunningDelivery(journal.delivery(to: failing.url))
        #expect(await Wait.until { failing.arrivals >= 3 })
        await running.stop()
        #expect(journal.committed == committed)
        #expect(failing.acknowledgedEventIDs.isEmpty)

        // ...so the next start sends those events again, and only those.
        let third = try WebhookReceiver()
        defer { third.stop() }
        running = RunningDelivery(journal.delivery(to: third.url))
        #expect(await Wait.until { third.acknowledgedEventIDs.count >= 2 })
        await running.stop()
        #expect(third.acknowledgedEventIDs == Self.ids(9...10))
        #expect(journal.committed == journal.size)
    }

    @Test func aPartialLastLineIsNotSent() async throws {
        let journal = try Journal()
        try journal.append(events: 1...2)
        let partial = Self.event(3)
        let split = partial.index(partial.startIndex, offsetBy: 40)
        try journal.append(String(partial[..<split]))
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let running = RunningDelivery(journal.delivery(to: receiver.url))
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 2 })
        // Many polls later the half line is still held back.
        try await Task.sleep(for: .milliseconds(300))
        #expect(receiver.acknowledgedEventIDs == Self.ids(1...2))
        #expect(journal.committed == journal.size - 40)
        // Its end arrives: now it goes, whole.
        try journal.append(String(partial[split...]) + "\n")
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 3 })
        await running.stop()
        #expect(receiver.acknowledgedEventIDs == Self.ids(1...3))
        #expect(receiver.requests.last.map { String(decoding: $0.body, as: UTF8.self) } == "[" + partial + "]")
        #expect(journal.committed == journal.size)
    }

    @Test func linesThatAreNotJSONObjectsAreSkipped() async throws {
        let journal = try Journal()
        try journal.append(events: 1...1)
        try journal.append("not json\n\n[1,2]\n")
        try journal.append(events: 2...2)
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let running = RunningDelivery(journal.delivery(to: receiver.url))
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 2 })
        await running.stop()
        #expect(receiver.requests.map(\.eventIDs) == [["1", "2"]])
        #expect(journal.committed == journal.size)
    }

    @Test func aLineCutByAKilledWriterDoesNotSwallowTheNextEvent() async throws {
        let journal = try Journal()
        try journal.append(events: 1...1)
        try journal.append(#"{"msys":{"track_event":{"type":"cli"#)  // the writer died here
        try journal.append(events: 2...3)
        #expect(
            Support.lines(journal.path) == [
                Self.event(1), #"{"msys":{"track_event":{"type":"cli"#, Self.event(2), Self.event(3),
            ])
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let running = RunningDelivery(journal.delivery(to: receiver.url))
        #expect(await Wait.until { receiver.acknowledgedEventIDs.count >= 3 })
        await running.stop()
        #expect(receiver.acknowledgedEventIDs == Self.ids(1...3))
        #expect(journal.committed == journal.size)
    }

    @Test func gracefulShutdownFinishesTheBatchInFlight() async throws {
        let journal = try Journal()
        try journal.append(events: 1...3)
        let receiver = try WebhookReceiver(delay: 1.0)
        defer { receiver.stop() }
        let running = RunningDelivery(journal.delivery(to: receiver.url))
        #expect(await Wait.until { receiver.arrivals >= 1 })
        await running.stop()
        #expect(receiver.requests.count == 1)
        #expect(receiver.acknowledgedEventIDs == Self.ids(1...3))
        #expect(journal.committed == journal.size, "the acknowledged batch in flight is committed")
    }

    @Test func theFeedFollowsRotationByRenameAndTruncation() async throws {
        let journal = try Journal()
        try journal.append(events: 1...2)
        let feed = FileEventFeed(journalPath: journal.path, logger: Support.quietLogger)
        #expect(try await feed.committedPosition(consumer: "webhook") == nil)
        var entries = try await feed.read(after: nil, limit: 10)
        #expect(entries.map(\.line) == [Self.event(1), Self.event(2)])
        #expect(entries.last?.next == journal.size)
        var position = try #require(entries.last?.next)
        try await feed.commit(position, consumer: "webhook")
        #expect(journal.committed == position)

        // Renamed away; a writer that had the old name open adds one more line; a new file starts.
        let rotated = journal.path + ".1"
        try FileManager.default.moveItem(atPath: journal.path, toPath: rotated)
        try FileEventJournal(path: rotated).append([Self.event(3)])
        try journal.append(events: 4...5)
        entries = try await feed.read(after: position, limit: 10)
        #expect(entries.map(\.line) == [Self.event(3)], "the old file's tail first")
        position = try #require(entries.last?.next)
        #expect(try await feed.read(after: position, limit: 10).isEmpty, "one read at the old file's end")
        entries = try await feed.read(after: position, limit: 10)
        #expect(entries.map(\.line) == [Self.event(4), Self.event(5)], "then the new file from its start")
        #expect(entries.last?.next == journal.size)
        position = try #require(entries.last?.next)
        try await feed.commit(position, consumer: "webhook")

        // Truncated in place: a position past the end reads from the start.
        #expect(truncate(journal.path, 0) == 0)
        try journal.append(events: 6...6)
        entries = try await feed.read(after: position, limit: 10)
        #expect(entries.map(\.line) == [Self.event(6)])
        try await feed.commit(try #require(entries.last?.next), consumer: "webhook")

        // Rotated while stopped: a new feed sees another file than the committed one and starts over.
        try FileEventJournal(path: journal.path + ".new").append((7...9).map(Self.event))
        #expect(rename(journal.path + ".new", journal.path) == 0)
        let restarted = FileEventFeed(journalPath: journal.path, logger: Support.quietLogger)
        let committed = try await restarted.committedPosition(consumer: "webhook")
        entries = try await restarted.read(after: committed, limit: 2)
        #expect(entries.map(\.line) == [Self.event(7), Self.event(8)])

        // An offset file written by hand ("OFFSET 0 0", README: start from the journal's end).
        let end = journal.size
        try journal.append(events: 10...10)
        try "\(end) 0 0\n".write(toFile: journal.statePath, atomically: true, encoding: .utf8)
        let fromEnd = FileEventFeed(journalPath: journal.path, logger: Support.quietLogger)
        entries = try await fromEnd.read(after: try await fromEnd.committedPosition(consumer: "webhook"), limit: 10)
        #expect(entries.map(\.line) == [Self.event(10)])

        // Consumer names are checked (they name a file).
        await #expect(throws: StoreError.self) { try await feed.commit(0, consumer: "../x") }
        // No state file is left half written.
        let names = try FileManager.default.contentsOfDirectory(atPath: journal.directory)
        #expect(!names.contains { $0.hasSuffix(".tmp") })
    }

    @Test func configurationKeysAndSetupErrors() throws {
        let directory = try Support.temporaryDirectory()
        func load(_ text: String) throws -> Configuration {
            let path = directory + "/c.conf"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try Configuration(contentsOf: path)
        }
        let configuration = try load(
            """
            webhook_url = https://hooks.example.com/linkstamp?x=1
            webhook_authorization = Basic dXNlcjpwdw==
            webhook_batch_size = 1000
            webhook_timeout_seconds = 30
            """)
        #expect(configuration.serve.webhookURL == "https://hooks.example.com/linkstamp?x=1")
        #expect(configuration.serve.webhookAuthorization == "Basic dXNlcjpwdw==")
        #expect(configuration.serve.webhookBatchSize == 1000)
        #expect(configuration.serve.webhookTimeoutSeconds == 30)
        #expect(try load("").serve.webhookURL == nil)
        #expect(try load("").serve.webhookBatchSize == 100)
        for bad in [
            "webhook_url = ftp://hooks.example.com/", "webhook_url = hooks.example.com/x", "webhook_url = http:///x",
            "webhook_url = https://user:pw@hooks.example.com/", "webhook_batch_size = 0", "webhook_batch_size = 1001",
            "webhook_timeout_seconds = 0",
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try load(bad) }
        }

        // A journal on standard output cannot be delivered: a setup error naming the fix.
        let setup = try ServerTests.Setup(extra: "webhook_url = http://127.0.0.1:9/hook")
        let server = try setup.server()
        #expect {
            try TrackingServer.webhookDelivery(
                try setup.configuration(), eventsPath: nil, server: server, logger: Support.quietLogger)
        } throws: { error in
            "\(error)".contains("--events FILE or serve_events")
        }
        #expect(
            try TrackingServer.webhookDelivery(
                try setup.configuration(), eventsPath: setup.journalPath, server: server, logger: Support.quietLogger)
                != nil)
        #expect(
            try TrackingServer.webhookDelivery(
                try ServerTests.Setup().configuration(), eventsPath: setup.journalPath, server: server,
                logger: Support.quietLogger) == nil)
    }

    @Test func backoffDoublesUpToTheCapWithJitter() {
        let delivery = WebhookDelivery(
            feed: FileEventFeed(journalPath: "/nonexistent/x", logger: Support.quietLogger),
            settings: .init(url: "http://127.0.0.1:9/"), logger: Support.quietLogger)
        for (attempt, full) in [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (60, 300.0)] {
            for _ in 0..<20 {
                let delay = delivery.backoff(attempt)
                let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) * 1e-18
                #expect(seconds >= full / 2 - 0.001 && seconds <= full + 0.001, "attempt \(attempt): \(seconds)")
            }
        }
    }
}
