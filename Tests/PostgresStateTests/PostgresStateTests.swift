import Foundation
import Linkstamp
import NIOPosix
import SMTPAPI
import SMTPDoor
import Synchronization
import Testing
import Tracking
import TrackingServer

@testable import PostgresState

/// The shared state against a real PostgreSQL server (a throwaway cluster per test).
@Suite(.serialized) struct PostgresStateTests {
    func state(_ cluster: Cluster) throws -> PostgresState {
        PostgresState.pool(try DatabaseURL(parsing: cluster.url), logger: Support.quietLogger)
    }

    /// Runs `body` with a started pool on `cluster`.
    func withPool(_ cluster: Cluster, _ body: (PostgresState) async throws -> Void) async throws {
        let state = try state(cluster)
        let running = Task { await state.run { _ in } }
        defer { running.cancel() }
        try await body(state)
    }

    @Test func suppressionRoundTrip() async throws {
        guard let cluster = try Cluster.start() else { return }
        defer { cluster.stop() }
        try await withPool(cluster) { state in
            try await state.migrate()
            try await state.migrate()  // idempotent
            let store = PostgresSuppressionStore(state: state)
            try await store.suppress("Reader@Example.ORG", source: "list_unsubscribe")
            try await state.suppress("ops@example.org", kind: .transactional, source: "import")
            var list = try await store.suppression(for: ["reader@example.org", "ops@example.org", "other@example.org"])
            #expect(list.contains("reader@example.org", transactional: false))
            #expect(!list.contains("reader@example.org", transactional: true))
            #expect(list.contains("ops@example.org", transactional: true))
            #expect(!list.contains("ops@example.org", transactional: false))
            #expect(!list.contains("other@example.org", transactional: false))
            // The other kind makes it `both`; the first source stays.
            try await state.suppress("reader@example.org", kind: .transactional, source: "import")
            list = try await store.suppression(for: ["reader@example.org"])
            #expect(list.contains("reader@example.org", transactional: true))
            #expect(list.contains("reader@example.org", transactional: false))
            #expect(
                try cluster.psql("SELECT address, kind, source FROM suppressions ORDER BY address")
                    == "ops@example.org|transactional|import\nreader@example.org|both|list_unsubscribe")

            // The SMTP door's delivery path asks the same table: a message only to a suppressed
            // address relays nothing, gets 250 and writes its policy_rejection to the events table.
            let (directory, configurationPath) = try Support.setup(databaseURL: cluster.url)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let relay = RelayClient(
                host: "127.0.0.1", port: try Cluster.freePort(), heloName: "door.test",
                group: MultiThreadedEventLoopGroup.singleton)
            var delivery = MessageDelivery(
                engine: try Engine.load(configurationPath: configurationPath), relay: relay, eventsPath: nil)
            delivery.suppressionLookup = store
            delivery.eventJournal = { lines in try await state.append(lines) }
            let reply = await delivery.deliver(
                message: Array("From: news@acme.example\r\nSubject: x\r\n\r\nhi\r\n".utf8),
                envelope: Envelope(sender: "news@acme.example", recipients: ["READER@example.org"]))
            #expect(reply.code == 250, "\(reply)")
            #expect(try cluster.psql("SELECT type FROM events") == "policy_rejection")
            await relay.shutdown()
        }
    }

    @Test func feedReadsInOrderAndRemembersEachConsumer() async throws {
        guard let cluster = try Cluster.start() else { return }
        defer { cluster.stop() }
        try await withPool(cluster) { state in
            let journal = PostgresEventJournal(state: state)
            // No schema yet: the first append creates it.
            try await journal.append([
                #"{"msys":{"track_event":{"type":"click","event_id":"1"}}}"#,
                #"{"msys":{"unsubscribe_event":{"type":"list_unsubscribe","event_id":"2"}}}"#,
            ])
            try await journal.append([#"{"msys":{"message_event":{"type":"injection","event_id":"3"}}}"#])
            #expect(try cluster.psql("SELECT type FROM events ORDER BY id") == "click\nlist_unsubscribe\ninjection")
            #expect(try await journal.committedPosition(consumer: "webhook") == nil)
            let first = try await journal.read(after: nil, limit: 2)
            #expect(first.map(\.line).map { $0.contains("\"event_id\":\"1\"") } == [true, false])
            #expect(first.count == 2)
            let position = try #require(first.last?.next)
            try await journal.commit(position, consumer: "webhook")
            #expect(try await journal.committedPosition(consumer: "webhook") == position)
            #expect(try await journal.committedPosition(consumer: "other") == nil)
            let rest = try await journal.read(after: position, limit: 100)
            #expect(rest.map(\.line) == [#"{"msys":{"message_event":{"type":"injection","event_id":"3"}}}"#])
            #expect(try await journal.read(after: rest.last?.next, limit: 100).isEmpty)
        }
    }

    /// Many writers at once while a consumer reads and commits: every event is delivered once,
    /// in id order, none skipped (the advisory-lock ordering).
    @Test func concurrentWritersNeverMakeAReaderSkip() async throws {
        guard let cluster = try Cluster.start() else { return }
        defer { cluster.stop() }
        try await withPool(cluster) { state in
            try await state.migrate()
            let journal = PostgresEventJournal(state: state)
            let writers = 8
            let perWriter = 40
            let finished = Flag()
            let writing = Task {
                defer { finished.set() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        group.addTask {
                            for index in 0..<perWriter {
                                try await journal.append([
                                    #"{"msys":{"track_event":{"type":"open","event_id":"\#(writer)-\#(index)"}}}"#
                                ])
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var seen: [String] = []
            var position: UInt64?
            while true {
                let wasFinished = finished.isSet
                let batch = try await journal.read(after: position, limit: 7)
                for entry in batch {
                    #expect(position.map { entry.next > $0 } ?? true)
                    seen.append(entry.line)
                    position = entry.next
                }
                if let position { try await journal.commit(position, consumer: "test") }
                if batch.isEmpty {
                    if wasFinished { break }
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            try await writing.value
            #expect(seen.count == writers * perWriter)
            #expect(Set(seen).count == writers * perWriter)
        }
    }

    /// Two `serve` nodes and `linkstamp filter` (the real binary) on one database: an
    /// unsubscribe on node A makes the next filter run write a `policy_rejection` instead of that
    /// copy; events of both nodes and of the filter land in one table; the filter asks about
    /// suppression with one query per message.
    @Test func unsubscribeOnOneNodeSuppressesTheNextFilterRun() async throws {
        guard let cluster = try Cluster.start(logStatements: true) else { return }
        defer { cluster.stop() }
        let (directory, configurationPath) = try Support.setup(databaseURL: cluster.url)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let filter = ["filter", "--config", configurationPath, "-f", "news@acme.example", "--out-dir"]
        // As a `serve` node does at start: the schema exists before the first filter run.
        let setup = try await PostgresState.connect(try DatabaseURL(parsing: cluster.url))
        try await setup.migrate()
        await setup.close()

        // 1. First run: three copies (a, b and the cc), three injection events in the table.
        let first = try Support.linkstamp(
            filter + [directory + "/out1", "--", "a@example.org", "b@example.org"], stdin: Support.message)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try cluster.psql("SELECT count(*) FROM events WHERE type = 'injection'") == "3")
        let lookups = cluster.log.components(separatedBy: "\n").filter {
            $0.contains("FROM suppressions WHERE address = ANY")
        }
        #expect(lookups.count == 1)
        let parameters = cluster.log.components(separatedBy: "\n").filter {
            $0.contains("parameters: $1 = '{") && !$0.contains("msys")
        }
        #expect(parameters.count == 1)
        #expect(parameters.first?.contains("a@example.org,b@example.org,c@example.org") == true)

        let copies = try FileManager.default.contentsOfDirectory(atPath: directory + "/out1").filter {
            $0.hasSuffix(".eml")
        }.sorted()
        #expect(copies.count == 3)
        let copyOfB = try String(contentsOfFile: directory + "/out1/" + copies[1], encoding: .utf8)
        let urls = Support.urls(in: copyOfB)
        let unsubscribe = try #require(urls.first { $0.contains("/u/") })
        let click = try #require(urls.first { $0.contains("/f/") })

        // 2. Two nodes on one database.
        let configuration = try Configuration(contentsOf: configurationPath)
        let ring = try KeyRing(contentsOf: configuration.keyRingPath)
        var nodes: [Node] = []
        for _ in 0..<2 {
            let state = PostgresState.pool(try DatabaseURL(parsing: cluster.url), logger: Support.quietLogger)
            let stores = state.serveStores
            let server = TrackingServer(
                configuration: configuration, keyRing: ring, journal: stores.journal, suppression: stores.suppression,
                logger: Support.quietLogger)
            nodes.append(try await Node(server, services: stores.services))
        }
        #expect(
            await Support.request(
                port: nodes[0].port, "POST", Support.path(unsubscribe), body: "List-Unsubscribe=One-Click") == 200)
        let clicked = await Support.request(port: nodes[1].port, "GET", Support.path(click))
        #expect(clicked == 302, "\(click)")
        for node in nodes { await node.stop() }
        #expect(
            try cluster.psql("SELECT address, kind, source FROM suppressions")
                == "b@example.org|non_transactional|list_unsubscribe")
        #expect(
            try cluster.psql("SELECT type FROM events WHERE type <> 'injection' ORDER BY id")
                == "list_unsubscribe\nclick")

        // 3. The next run leaves b out and records why.
        let second = try Support.linkstamp(
            filter + [directory + "/out2", "--", "a@example.org", "b@example.org"], stdin: Support.message)
        #expect(second.status == 0, "\(second.stderr)")
        let copies2 = try FileManager.default.contentsOfDirectory(atPath: directory + "/out2").filter {
            $0.hasSuffix(".eml")
        }
        #expect(copies2.count == 2)
        let allLookups = cluster.log.components(separatedBy: "\n").filter {
            $0.contains("FROM suppressions WHERE address = ANY")
        }
        #expect(allLookups.count == 2)
        let rejection = try cluster.psql("SELECT line FROM events WHERE type = 'policy_rejection'")
        #expect(rejection.contains("\"rcpt_to\":\"b@example.org\""))
        #expect(try cluster.psql("SELECT count(*) FROM events WHERE type = 'injection'") == "5")

        // 4. Publishing fails (the sendmail command refuses): exit 75 and this run's events are
        // taken back out of the table.
        let failed = try Support.linkstamp(
            [
                "filter", "--config", configurationPath, "-f", "news@acme.example", "--sendmail", "/bin/false", "--",
                "a@example.org", "b@example.org",
            ], stdin: Support.message)
        #expect(failed.status == 75, "\(failed.stderr)")
        #expect(try cluster.psql("SELECT count(*) FROM events WHERE type = 'injection'") == "5")
        #expect(try cluster.psql("SELECT count(*) FROM events WHERE type = 'policy_rejection'") == "1")
    }

    /// A database that cannot be reached: the filter exits 75 with a 4.3.0 reply and writes
    /// nothing; the SMTP door answers 451 4.3.0 and relays nothing. A refused message is refused
    /// (65) without asking the database.
    @Test func databaseDownIsATemporaryFailure() async throws {
        let port = try Cluster.freePort()  // nothing listens there
        let url = "postgresql://linkstamp@127.0.0.1:\(port)/postgres?sslmode=disable&connect_timeout=2"
        let (directory, configurationPath) = try Support.setup(databaseURL: url)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let events = directory + "/events.jsonl"
        let result = try Support.linkstamp(
            [
                "filter", "--config", configurationPath, "-f", "news@acme.example", "--events", events, "--",
                "a@example.org",
            ],
            stdin: Support.message)
        #expect(result.status == 75)
        #expect(
            result.stderr.hasPrefix(
                "4.3.0 linkstamp cannot reach the database postgresql://linkstamp@127.0.0.1:\(port)/postgres"),
            "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: events))

        let refused = try Support.linkstamp(
            ["filter", "--config", configurationPath, "-f", "news@acme.example", "--", "a@example.org"],
            stdin: Array("X-MSYS-API: {\"cc\": 1}\r\nFrom: a@b.example\r\n\r\nhi\r\n".utf8))
        #expect(refused.status == 65, "\(refused.stderr)")

        // The SMTP door's delivery path: the lookup fails before anything is relayed.
        let engine = try Engine.load(configurationPath: configurationPath)
        let state = PostgresState.pool(try DatabaseURL(parsing: url), logger: Support.quietLogger)
        let running = Task { await state.run { _ in } }
        defer { running.cancel() }
        let relay = RelayClient(
            host: "127.0.0.1", port: port, heloName: "door.test", group: MultiThreadedEventLoopGroup.singleton)
        var delivery = MessageDelivery(engine: engine, relay: relay, eventsPath: nil)
        delivery.suppressionLookup = PostgresSuppressionStore(state: state)
        let reply = await delivery.deliver(
            message: Support.message, envelope: Envelope(sender: "news@acme.example", recipients: ["a@example.org"]))
        #expect(reply.code == 451)
        #expect(reply.enhancedStatus == "4.3.0")
        await relay.shutdown()
    }

    @Test func databaseURLs() throws {
        let full = try DatabaseURL(
            parsing: "postgresql://app:p%40ss%23@db.example.net:6432/mail?sslmode=require&connect_timeout=3")
        #expect(full.host == "db.example.net")
        #expect(full.port == 6432)
        #expect(full.user == "app")
        #expect(full.password == "p@ss#")
        #expect(full.database == "mail")
        #expect(full.tlsMode == .require)
        #expect(full.timeoutSeconds == 3)
        #expect(!full.description.contains("p@ss"))
        let socket = try DatabaseURL(parsing: "postgres://app@/mail?host=/run/postgresql")
        #expect(socket.host == nil)
        #expect(socket.socketPath == "/run/postgresql/.s.PGSQL.5432")
        let v6 = try DatabaseURL(parsing: "postgresql://app@[::1]:5433")
        #expect(v6.host == "::1")
        #expect(v6.port == 5433)
        #expect(v6.database == "app")
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: "postgresql://app@h/db?sslmod=require") }
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: "postgresql://app@h:99999/db") }
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: "mysql://app@h/db") }
    }
}

final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
