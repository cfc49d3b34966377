import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import ServiceLifecycle

/// Delivers the journal's events to `webhook_url` in SparkPost's batch shape: each `POST` body is
/// a JSON array of the journal's event objects (`[{"msys":{…}}, …]`), with
/// `Content-Type: application/json`, `X-MessageSystems-Batch-ID` (a UUID, the same on every retry
/// of one batch) and, when configured, `Authorization`.
///
/// At least once: the batch's last position is committed to the ``EventFeed`` only after a `2xx`,
/// so a restart re-sends at most the batch that was in flight (receivers drop duplicates by
/// `event_id`). Any other status, a timeout or a connection error is retried, the same batch
/// again, after an exponential backoff with jitter (``Settings/backoffBase`` doubling up to
/// ``Settings/backoffCap``). A line that is not a JSON object is skipped (logged and counted) so
/// it cannot block delivery. Idle, it polls the feed every ``Settings/pollInterval``.
///
/// Graceful shutdown (SIGTERM through the service group): a batch in flight is finished (up to
/// its timeout) and committed when acknowledged; a wait (poll or backoff) ends at once.
///
/// Metrics: `linkstamp_webhook_batches_total`, `linkstamp_webhook_events_total` (delivered),
/// `linkstamp_webhook_failures_total{reason}` (`status`, `connection`, `feed`),
/// `linkstamp_webhook_skipped_lines_total`, and the gauge `linkstamp_webhook_lag_seconds` (age
/// of the oldest event not yet delivered; 0 when caught up).
public struct WebhookDelivery: Service {
    /// Where and how batches go.
    public struct Settings: Sendable {
        /// The receiver (`http` or `https`).
        public var url: String
        /// The `Authorization` header value, if any.
        public var authorization: String?
        /// Events per batch, at most.
        public var batchSize: Int
        /// Limit on one request (connect, send, response).
        public var timeout: Duration
        /// Whose committed position this delivery reads and writes in the feed.
        public var consumer: String
        /// Wait between reads of an idle feed.
        public var pollInterval: Duration
        /// First retry delay; each further retry doubles it.
        public var backoffBase: Duration
        /// Longest retry delay.
        public var backoffCap: Duration

        /// Settings with SparkPost-like defaults: consumer `webhook`, polls every 500 ms,
        /// retries after 1 s, 2 s, 4 s, … up to 5 minutes (each delay jittered down to half).
        public init(
            url: String, authorization: String? = nil, batchSize: Int = 100, timeout: Duration = .seconds(10),
            consumer: String = "webhook", pollInterval: Duration = .milliseconds(500),
            backoffBase: Duration = .seconds(1), backoffCap: Duration = .seconds(300)
        ) {
            self.url = url
            self.authorization = authorization
            self.batchSize = max(1, batchSize)
            self.timeout = timeout
            self.consumer = consumer
            self.pollInterval = pollInterval
            self.backoffBase = backoffBase
            self.backoffCap = backoffCap
        }
    }

    let feed: any EventFeed
    let settings: Settings
    let logger: Logger
    let batches: Counter
    let events: Counter
    let statusFailures: Counter
    let connectionFailures: Counter
    let feedFailures: Counter
    let skipped: Counter
    let lag: Gauge

    /// A delivery of `feed`'s events, counting into `metricsFactory` (default: the global one).
    public init(
        feed: any EventFeed, settings: Settings, logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.feed = feed
        self.settings = settings
        self.logger = logger
        batches = Counter(label: "linkstamp_webhook_batches_total", factory: metricsFactory)
        events = Counter(label: "linkstamp_webhook_events_total", factory: metricsFactory)
        statusFailures = Counter(
            label: "linkstamp_webhook_failures_total", dimensions: [("reason", "status")], factory: metricsFactory)
        connectionFailures = Counter(
            label: "linkstamp_webhook_failures_total", dimensions: [("reason", "connection")], factory: metricsFactory)
        feedFailures = Counter(
            label: "linkstamp_webhook_failures_total", dimensions: [("reason", "feed")], factory: metricsFactory)
        skipped = Counter(label: "linkstamp_webhook_skipped_lines_total", factory: metricsFactory)
        lag = Gauge(label: "linkstamp_webhook_lag_seconds", factory: metricsFactory)
    }

    /// Delivers until graceful shutdown or cancellation.
    public func run() async throws {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(settings.timeout.components.seconds), read: timeAmount(settings.timeout)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        logger.info("webhook delivery started", metadata: ["url": "\(settings.url)"])
        await deliver(client)
        try? await client.shutdown()
        logger.info("webhook delivery stopped")
    }

    private var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    private func deliver(_ client: HTTPClient) async {
        var position: UInt64?
        var positionKnown = false
        var feedAttempt = 0
        var uncommitted: UInt64?
        while !stopping {
            if !positionKnown {
                do {
                    position = try await feed.committedPosition(consumer: settings.consumer)
                    positionKnown = true
                    feedAttempt = 0
                    logger.info(
                        "webhook delivery resumes", metadata: ["position": "\(position.map(String.init) ?? "start")"])
                } catch {
                    feedAttempt += 1
                    feedFailures.increment()
                    logger.error("cannot read the committed position: \(error)")
                    await pause(backoff(feedAttempt))
                    continue
                }
            }
            let entries: [FeedEntry]
            do {
                entries = try await feed.read(after: position, limit: settings.batchSize)
                feedAttempt = 0
            } catch {
                feedAttempt += 1
                feedFailures.increment()
                logger.error("cannot read the journal: \(error)")
                await pause(backoff(feedAttempt))
                continue
            }
            guard let last = entries.last?.next else {
                lag.record(0)
                await pause(settings.pollInterval)
                continue
            }
            let batch = Batch(entries)
            if batch.skipped > 0 {
                skipped.increment(by: Int64(batch.skipped))
                logger.warning(
                    "journal lines that are not JSON objects skipped", metadata: ["count": "\(batch.skipped)"])
            }
            if !batch.lines.isEmpty {
                guard await send(batch, client: client) else { return }  // stopping before an acknowledgement
            }
            position = last
            do {
                try await feed.commit(last, consumer: settings.consumer)
                uncommitted = nil
            } catch {
                // Delivered but not recorded: the next commit covers it; a restart before then
                // sends these events again (at least once).
                if uncommitted == nil { logger.error("cannot commit the delivered position: \(error)") }
                uncommitted = last
                feedFailures.increment()
            }
            if entries.count < settings.batchSize { await pause(settings.pollInterval) }
        }
    }

    /// Posts `batch` until a 2xx; false when shutdown came first.
    private func send(_ batch: Batch, client: HTTPClient) async -> Bool {
        let id = UUID().uuidString.lowercased()
        var request = HTTPClientRequest(url: settings.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-MessageSystems-Batch-ID", value: id)
        request.headers.add(name: "User-Agent", value: "linkstamp-webhook")
        if let authorization = settings.authorization {
            request.headers.add(name: "Authorization", value: authorization)
        }
        request.body = .bytes(ByteBuffer(bytes: batch.body))
        var attempt = 0
        while true {
            if let oldest = batch.oldestTimestamp { lag.record(max(0, Date().timeIntervalSince1970 - oldest)) }
            let failure: String
            do {
                let response = try await client.execute(request, timeout: timeAmount(settings.timeout))
                // Read (a bounded part of) the body so the connection can be reused.
                _ = try? await response.body.collect(upTo: 65536)
                if (200..<300).contains(response.status.code) {
                    batches.increment()
                    events.increment(by: Int64(batch.lines.count))
                    logger.debug(
                        "batch delivered", metadata: ["batch_id": "\(id)", "events": "\(batch.lines.count)"])
                    return true
                }
                statusFailures.increment()
                failure = "HTTP status \(response.status.code)"
            } catch {
                connectionFailures.increment()
                failure = "\(error)"
            }
            attempt += 1
            let delay = backoff(attempt)
            logger.warning(
                "webhook batch not accepted; retrying",
                metadata: [
                    "batch_id": "\(id)", "attempt": "\(attempt)", "error": "\(failure)", "retry_in": "\(delay)",
                ])
            if stopping { return false }
            await pause(delay)
            if stopping { return false }
        }
    }

    /// The delay before retry `attempt` (1, 2, …): base × 2^(attempt − 1), at most the cap,
    /// jittered uniformly down to half of it.
    func backoff(_ attempt: Int) -> Duration {
        let base =
            Double(settings.backoffBase.components.seconds) + Double(settings.backoffBase.components.attoseconds)
            * 1e-18
        let cap =
            Double(settings.backoffCap.components.seconds) + Double(settings.backoffCap.components.attoseconds) * 1e-18
        let full = min(cap, base * pow(2, Double(min(attempt - 1, 40))))
        return .milliseconds(Int64((full * Double.random(in: 0.5...1.0) * 1000).rounded()))
    }

    /// Sleeps for `duration`, returning early on graceful shutdown or cancellation.
    private func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    private func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// The lines of one read, checked: the JSON array body and what it holds.
struct Batch {
    /// The event lines that are JSON objects, in order.
    var lines: [String] = []
    /// Lines passed over (not a JSON object).
    var skipped = 0
    /// The `timestamp` of the first event, unix seconds.
    var oldestTimestamp: Double?

    init(_ entries: [FeedEntry]) {
        for entry in entries {
            guard let object = try? JSONSerialization.jsonObject(with: Data(entry.line.utf8)) as? [String: Any] else {
                skipped += 1
                continue
            }
            if oldestTimestamp == nil, let msys = object["msys"] as? [String: Any],
                let event = msys.values.first as? [String: Any],
                let timestamp = (event["timestamp"] as? String).flatMap(Double.init)
            {
                oldestTimestamp = timestamp
            }
            lines.append(entry.line)
        }
    }

    /// `[line,line,…]`.
    var body: [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        for (index, line) in lines.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: line.utf8)
        }
        bytes.append(UInt8(ascii: "]"))
        return bytes
    }
}
