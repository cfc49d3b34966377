// PostgresState: the suppression list and the event journal in PostgreSQL (`database_url`),
// shared by every `filter`/`serve`/`smtpd` node. Owns the schema and the queries; never parses
// mail or decodes tokens. Depends on `Linkstamp`, `TrackingServer` (the `EventJournal` and
// `SuppressionStore` protocols it implements) and PostgresNIO.
import Foundation
import Linkstamp
import Logging
import PostgresNIO
import SMTPAPI
import ServiceLifecycle
import Synchronization
import TrackingServer

/// The shared state in one PostgreSQL database: the suppression list (``suppress(_:kind:source:)``,
/// ``suppression(for:)``) and the events (``append(_:)``, read back with ``read(after:limit:)``).
///
/// Two ways to reach the server: ``pool(_:logger:)`` (long-running `serve` and `smtpd`: a
/// connection pool whose ``services`` must run, e.g. in a `ServiceGroup`) and
/// ``connect(_:logger:)`` (one `filter` run: one connection, closed with ``close()``). Every
/// operation is bounded by the URL's `connect_timeout` (default 5 s) and creates the schema
/// (``PostgresSchema``) when it finds it missing.
///
/// Event order: the id of a row is its position for readers. Ids come from a sequence, so a
/// transaction could take id 10, another id 11 and commit first; a reader that saw 11 and moved
/// on would miss 10 for good. Writers therefore insert under a shared advisory lock and readers
/// read under the exclusive one: a read waits for the inserts in flight and sees every id below
/// the highest it returns (ids of rolled-back inserts stay holes, which is harmless).
public final class PostgresState: Sendable {
    enum Source: Sendable {
        case pool(PostgresClient)
        case connection(PostgresConnection)
    }

    let source: Source
    let url: DatabaseURL
    let logger: Logger

    /// Long-running work the state needs (the pool's), to be run for as long as it is used.
    public var services: [any Service] {
        if case .pool(let client) = source { return [client] }
        return []
    }

    init(source: Source, url: DatabaseURL, logger: Logger) {
        self.source = source
        self.url = url
        self.logger = logger
    }

    /// A logger that drops everything: the filter's standard output is the Batch SMTP stream.
    public static let silentLogger = Logger(label: "linkstamp.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A pooled state for a long-running server. Nothing connects until the first operation;
    /// run ``services`` (the pool) meanwhile.
    public static func pool(_ url: DatabaseURL, logger: Logger = Logger(label: "linkstamp.postgres")) -> PostgresState {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = 16
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return PostgresState(source: .pool(client), url: url, logger: logger)
    }

    /// One connection, for one `filter` run. Throws `451 4.3.0` when the server cannot be reached.
    public static func connect(
        _ url: DatabaseURL, logger: Logger = PostgresState.silentLogger
    ) async throws(SMTPReply) -> PostgresState {
        let configuration: PostgresConnection.Configuration
        do { configuration = try url.connectionConfiguration() } catch {
            throw SMTPReply(code: 451, enhancedStatus: "4.3.5", text: "linkstamp \(error.description)")
        }
        do {
            let connection = try await withDeadline(seconds: url.timeoutSeconds) {
                try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
            }
            return PostgresState(source: .connection(connection), url: url, logger: logger)
        } catch {
            throw SMTPReply(
                code: 451, enhancedStatus: "4.3.0",
                text: "linkstamp cannot reach the database \(url): \(PostgresState.describe(error))")
        }
    }

    /// Runs the pool (``services``) until the task is cancelled, and creates the schema at start
    /// (`onSchemaError` hears why it could not; it is tried again whenever found missing).
    public func run(onSchemaError: @escaping @Sendable (StoreError) -> Void) async {
        let services = self.services
        await withDiscardingTaskGroup { group in
            for service in services { group.addTask { try? await service.run() } }
            group.addTask {
                do throws(StoreError) { try await self.migrate() } catch { onSchemaError(error) }
            }
        }
    }

    /// Closes the single connection (``connect(_:logger:)``); a pool stops with its service.
    public func close() async {
        if case .connection(let connection) = source { try? await connection.close() }
    }

    // MARK: Suppression

    /// The suppression entries among `addresses` (lower-cased): one query,
    /// `SELECT address, kind FROM suppressions WHERE address = ANY($1)`.
    public func suppression(for addresses: [String]) async throws(StoreError) -> SuppressionList {
        let keys = addresses.map { $0.lowercased() }
        let rows: [(String, String)] = try await run("suppression lookup") { connection, logger in
            var found: [(String, String)] = []
            let result = try await connection.query(
                "SELECT address, kind FROM suppressions WHERE address = ANY(\(keys))", logger: logger)
            for try await (address, kind) in result.decode((String, String).self) { found.append((address, kind)) }
            return found
        }
        var list = SuppressionList()
        // An entry of an unknown kind (written by something else) suppresses both kinds of mail.
        for (address, kind) in rows { list.insert(address, kind: SuppressionList.Kind(rawValue: kind) ?? .both) }
        return list
    }

    /// Adds `address` (stored lower-cased) for mail of `kind`; an address already listed for the
    /// other kind becomes `both`. `source` records why (`list_unsubscribe`, `link_unsubscribe`,
    /// `import`, …).
    public func suppress(_ address: String, kind: SuppressionList.Kind, source: String) async throws(StoreError) {
        let key = address.lowercased()
        let kindText = kind.rawValue
        _ = try await run("suppress") { connection, logger in
            try await connection.query(
                """
                INSERT INTO suppressions (address, kind, source) VALUES (\(key), \(kindText), \(source))
                ON CONFLICT (address) DO UPDATE SET kind =
                    CASE WHEN suppressions.kind = EXCLUDED.kind THEN suppressions.kind ELSE 'both' END
                """, logger: logger)
            return 0
        }
    }

    // MARK: Events

    /// Inserts the event lines (each one JSON object) in one transaction, in order, and returns
    /// their ids. When it returns, the rows are committed.
    @discardableResult
    public func append(_ lines: [String]) async throws(StoreError) -> [Int64] {
        guard !lines.isEmpty else { return [] }
        return try await run("event append") { connection, logger in
            // One statement, one implicit transaction: the join needs the `guard` row before it
            // yields any row, so the shared lock is taken before the first id is drawn, and it is
            // held until the commit.
            let rows = try await connection.query(
                """
                WITH guard AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(\(PostgresSchema.eventsLock)))
                INSERT INTO events (type, line)
                SELECT coalesce(jsonb_path_query_first(l.line::jsonb, '$.msys.*.type') #>> '{}', ''), l.line
                FROM guard, unnest(\(lines)::text[]) WITH ORDINALITY AS l(line, n) ORDER BY l.n
                RETURNING id
                """, logger: logger)
            var ids: [Int64] = []
            for try await id in rows.decode(Int64.self) { ids.append(id) }
            return ids
        }
    }

    /// Deletes the events `ids` (a filter run whose copies could not be published).
    public func deleteEvents(_ ids: [Int64]) async throws(StoreError) {
        guard !ids.isEmpty else { return }
        _ = try await run("event roll-back") { connection, logger in
            try await connection.query("DELETE FROM events WHERE id = ANY(\(ids))", logger: logger)
            return 0
        }
    }

    /// Up to `limit` events with an id above `position` (all of them from `nil`), in id order.
    public func read(after position: UInt64?, limit: Int) async throws(StoreError) -> [FeedEntry] {
        let after = Int64(clamping: position ?? 0)
        let count = Int64(max(1, limit))
        return try await run("event read") { connection, logger in
            try await PostgresState.transaction(connection, logger: logger) {
                // Waits for inserts in flight: every id below those returned is settled.
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.eventsLock))", logger: logger)
                let rows = try await connection.query(
                    "SELECT id, line FROM events WHERE id > \(after) ORDER BY id LIMIT \(count)", logger: logger)
                var entries: [FeedEntry] = []
                for try await (id, line) in rows.decode((Int64, String).self) {
                    entries.append(FeedEntry(line: line, next: UInt64(max(0, id))))
                }
                return entries
            }
        }
    }

    /// The position `consumer` committed last, if any.
    public func committedPosition(consumer: String) async throws(StoreError) -> UInt64? {
        try await run("consumer position") { connection, logger in
            let rows = try await connection.query(
                "SELECT position FROM event_consumers WHERE consumer = \(consumer)", logger: logger)
            for try await position in rows.decode(Int64.self) { return UInt64(max(0, position)) }
            return nil
        }
    }

    /// Records that `consumer` delivered every event up to id `position`.
    public func commit(_ position: UInt64, consumer: String) async throws(StoreError) {
        let value = Int64(clamping: position)
        _ = try await run("consumer commit") { connection, logger in
            try await connection.query(
                """
                INSERT INTO event_consumers (consumer, position) VALUES (\(consumer), \(value))
                ON CONFLICT (consumer) DO UPDATE SET position = EXCLUDED.position, updated_at = now()
                """, logger: logger)
            return 0
        }
    }

    /// Creates the schema if it is missing (idempotent; concurrent callers wait for each other).
    public func migrate() async throws(StoreError) {
        _ = try await run("schema", migrateOnMissing: false) { connection, logger in
            try await PostgresSchema.apply(on: connection, logger: logger)
            return 0
        }
    }

    // MARK: Running operations

    /// Runs `body` on a connection within the timeout; a missing table (SQLSTATE 42P01) creates
    /// the schema and runs `body` once more. Errors become `StoreError`s naming `what`.
    func run<T: Sendable>(
        _ what: String, migrateOnMissing: Bool = true,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(StoreError) -> T {
        let source = self.source
        let logger = self.logger
        do {
            return try await withDeadline(seconds: url.timeoutSeconds) {
                try await PostgresState.withConnection(source) { connection in
                    do {
                        return try await body(connection, logger)
                    } catch let error as PSQLError where migrateOnMissing && error.serverInfo?[.sqlState] == "42P01" {
                        try await PostgresSchema.apply(on: connection, logger: logger)
                        return try await body(connection, logger)
                    }
                }
            }
        } catch {
            throw StoreError("database \(url): \(what) failed: \(PostgresState.describe(error))")
        }
    }

    static func withConnection<T: Sendable>(
        _ source: Source, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        switch source {
        case .pool(let client):
            return try await client.withConnection { connection in try await body(connection) }
        case .connection(let connection):
            return try await body(connection)
        }
    }

    /// `BEGIN`, `body`, `COMMIT` (or `ROLLBACK` when `body` throws, rethrowing its error).
    static func transaction<T>(
        _ connection: PostgresConnection, logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        let value: T
        do { value = try await body() } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
        return value
    }

    /// A one-line description of a database error: the server's SQLSTATE and message, or the
    /// connection problem (PostgresNIO's own description hides both).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo, let message = info[.message] {
                return "\(info[.sqlState] ?? "") \(message)".trimmingCharacters(in: .whitespaces)
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        if error is DeadlineExceeded { return "no answer within the timeout" }
        return "\(error)"
    }
}

/// The tables, created by ``apply(on:logger:)`` with `CREATE TABLE IF NOT EXISTS` in one
/// transaction under an advisory lock (so concurrent first runs do not collide). Version 1:
///
/// ```sql
/// CREATE TABLE suppressions (
///     address    text PRIMARY KEY,          -- lower-cased
///     kind       text NOT NULL CHECK (kind IN ('transactional', 'non_transactional', 'both')),
///     source     text NOT NULL,             -- list_unsubscribe, link_unsubscribe, import, …
///     created_at timestamptz NOT NULL DEFAULT now());
/// CREATE TABLE events (
///     id         bigserial PRIMARY KEY,     -- the position webhook consumers commit
///     created_at timestamptz NOT NULL DEFAULT now(),
///     type       text NOT NULL,             -- click, open, injection, policy_rejection, …
///     line       text NOT NULL);            -- the SparkPost-shaped JSON line, byte for byte
/// CREATE TABLE event_consumers (
///     consumer   text PRIMARY KEY,          -- e.g. the webhook
///     position   bigint NOT NULL,           -- last events.id delivered
///     updated_at timestamptz NOT NULL DEFAULT now());
/// CREATE TABLE linkstamp_schema (version integer PRIMARY KEY, applied_at timestamptz …);
/// ```
public enum PostgresSchema {
    /// The schema version this release writes into `linkstamp_schema`.
    public static let version: Int32 = 1
    /// Advisory lock key serializing event readers against writers ("Linkstam").
    static let eventsLock: Int64 = 0x4C69_6E6B_7374_616D
    /// Advisory lock key serializing schema creation ("Linkschm").
    static let schemaLock: Int64 = 0x4C69_6E6B_7363_686D

    /// The statements of version 1, in order.
    public static let statements: [String] = [
        """
        CREATE TABLE IF NOT EXISTS linkstamp_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE IF NOT EXISTS suppressions (
            address text PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('transactional', 'non_transactional', 'both')),
            source text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE IF NOT EXISTS events (
            id bigserial PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now(),
            type text NOT NULL,
            line text NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS event_consumers (
            consumer text PRIMARY KEY,
            position bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now())
        """,
        "INSERT INTO linkstamp_schema (version) VALUES (1) ON CONFLICT DO NOTHING",
    ]

    /// Creates whatever is missing, in one transaction.
    static func apply(on connection: PostgresConnection, logger: Logger) async throws {
        try await PostgresState.transaction(connection, logger: logger) {
            try await connection.query("SELECT pg_advisory_xact_lock(\(schemaLock))", logger: logger)
            for statement in statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }
}

/// An operation that did not finish within its time.
struct DeadlineExceeded: Error {}

/// Runs `body` and returns its result, or throws `DeadlineExceeded` after `seconds` (cancelling
/// `body`, without waiting for it to notice): a database that does not answer cannot hold a
/// request or a filter run longer than that.
func withDeadline<T: Sendable>(
    seconds: Int, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let gate = Gate<T>()
    return try await withCheckedThrowingContinuation { continuation in
        gate.set(continuation)
        let work = Task {
            do { gate.finish(.success(try await body())) } catch { gate.finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            if !Task.isCancelled, gate.finish(.failure(DeadlineExceeded())) { work.cancel() }
        }
        gate.onFinish { timer.cancel() }
    }
}

/// Resumes a continuation once, whoever comes first.
final class Gate<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var finished = false
        var cleanup: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Runs `cleanup` when finished (now, if already).
    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.finished { return true }
            state.cleanup = cleanup
            return false
        }
        if now { cleanup() }
    }

    /// Resumes with `result` if nothing did yet; true when this call did.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, cleanup) = state.withLock {
            state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer {
                state.continuation = nil
                state.cleanup = nil
            }
            return (state.continuation, state.cleanup)
        }
        guard let continuation else { return false }
        continuation.resume(with: result)
        cleanup?()
        return true
    }
}
