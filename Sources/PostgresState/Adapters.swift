import Dispatch
import Linkstamp
import Logging
import SMTPAPI
import ServiceLifecycle
import Synchronization
import TrackingServer

/// The events table as `linkstamp serve`'s journal and as the feed webhook delivery reads
/// (position = the row id; committed positions in `event_consumers`).
public struct PostgresEventJournal: EventJournal, EventFeed {
    /// The database.
    public let state: PostgresState

    /// The journal of `state`.
    public init(state: PostgresState) { self.state = state }

    public func append(_ lines: [String]) async throws(StoreError) {
        try await state.append(lines)
    }

    public func read(after position: UInt64?, limit: Int) async throws -> [FeedEntry] {
        try await state.read(after: position, limit: limit)
    }

    public func committedPosition(consumer: String) async throws -> UInt64? {
        try await state.committedPosition(consumer: consumer)
    }

    public func commit(_ position: UInt64, consumer: String) async throws {
        try await state.commit(position, consumer: consumer)
    }
}

/// The suppressions table: where `serve` records unsubscribes (`non_transactional`) and what the
/// filter and the SMTP door ask once per message.
public struct PostgresSuppressionStore: SuppressionStore, SuppressionLookup {
    /// The database.
    public let state: PostgresState

    /// The suppression list of `state`.
    public init(state: PostgresState) { self.state = state }

    public func suppress(_ address: String, source: String) async throws(StoreError) {
        try await state.suppress(address, kind: .nonTransactional, source: source)
    }

    public func suppression(for addresses: [String]) async throws(SMTPReply) -> SuppressionList {
        do { return try await state.suppression(for: addresses) } catch {
            throw SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "linkstamp \(error.description)")
        }
    }
}

extension PostgresState {
    /// The stores `linkstamp serve` uses with `database_url`, and what to run with them: the pool,
    /// then the schema creation at start (logged when it fails; retried whenever found missing).
    public var serveStores: ServeStores {
        let journal = PostgresEventJournal(state: self)
        return ServeStores(
            journal: journal, suppression: PostgresSuppressionStore(state: self), feed: journal,
            services: services + [SchemaAtStart(state: self)])
    }
}

/// Creates the schema once the pool runs, then waits for the graceful shutdown (a service that
/// returned early would stop its group).
struct SchemaAtStart: Service {
    let state: PostgresState

    func run() async throws {
        do { try await state.migrate() } catch {
            state.logger.error("cannot create the schema", metadata: ["error": "\(error)"])
        }
        try? await gracefulShutdown()
    }
}

/// The filter's events in the events table: inserted (committed) before the copies are
/// published, deleted again when publishing fails. For the synchronous filter: each call blocks
/// its thread until the database answered (never call it from an async context).
public final class PostgresFilterEvents: FilterEventSink, @unchecked Sendable {
    let state: PostgresState
    private var ids: [Int64] = []

    /// Events of one filter run into `state`.
    public init(state: PostgresState) { self.state = state }

    public func append(_ lines: [String]) throws(SMTPReply) {
        let state = self.state
        let inserted = try blockingDatabase {
            do { return try await state.append(lines) } catch {
                throw SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "linkstamp \(error)")
            }
        }
        ids += inserted
    }

    public func rollBack() {
        let (state, ids) = (self.state, self.ids)
        self.ids = []
        _ = try? blockingDatabase { try await state.deleteEvents(ids) }
    }
}

/// Runs `body` on the concurrency pool and blocks the calling (synchronous, non-pool) thread
/// until it is done: how the synchronous `filter` command talks to the database. A thrown
/// `SMTPReply` comes back as it is; any other error as `451 4.3.0`.
public func blockingDatabase<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws(SMTPReply) -> T {
    let outcome = Mutex<Result<T, SMTPReply>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let result: Result<T, SMTPReply>
        do { result = .success(try await body()) } catch let reply as SMTPReply {
            result = .failure(reply)
        } catch {
            result = .failure(SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "linkstamp database: \(error)"))
        }
        outcome.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    guard let result = outcome.withLock({ $0 }) else {
        throw SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "linkstamp database: no result")
    }
    return try result.get()
}
