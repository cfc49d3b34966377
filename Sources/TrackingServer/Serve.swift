import Foundation
import Hummingbird
import Linkstamp
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Tracking

/// A problem that keeps `linkstamp serve` from starting (configuration, key ring, listen address).
public struct ServeSetupError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
}

/// Prints each journal line on standard output (no `--events` file given).
public struct StandardOutputJournal: EventJournal {
    /// A journal on standard output.
    public init() {}
    public func append(_ lines: [String]) throws(StoreError) {
        guard !lines.isEmpty else { return }
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        do { try FileHandle.standardOutput.write(contentsOf: text) } catch {
            throw StoreError("cannot write standard output: \(error)")
        }
    }
}

/// Stores that replace the journal file and the suppression list file (PostgreSQL with
/// `database_url`), with the services that must run as long as the server (a connection pool).
public struct ServeStores: Sendable {
    /// Where events go.
    public var journal: any EventJournal
    /// Where unsubscribes go.
    public var suppression: any SuppressionStore
    /// The journal read back (webhook delivery).
    public var feed: any EventFeed
    /// Started before the server and stopped after it.
    public var services: [any Service]

    /// Stores and their services.
    public init(
        journal: any EventJournal, suppression: any SuppressionStore, feed: any EventFeed, services: [any Service]
    ) {
        self.journal = journal
        self.suppression = suppression
        self.feed = feed
        self.services = services
    }
}

extension TrackingServer {
    /// Splits `HOST:PORT` (`[v6]:PORT` for IPv6).
    public static func parseListen(_ text: String) throws(ServeSetupError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ServeSetupError(description: "listen address must be HOST:PORT, not '\(text)'") }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ServeSetupError(description: "listen address '\(text)' has no host") }
        return (host, port)
    }

    /// Builds the server from the configuration: key ring, journal (`eventsPath`, else standard
    /// output), the suppression list file, the proxy ranges file.
    public static func fromConfiguration(
        _ configuration: Configuration, eventsPath: String?, stores: ServeStores? = nil, logger: Logger
    ) throws(ServeSetupError) -> TrackingServer {
        let ring: KeyRing
        do { ring = try KeyRing(contentsOf: configuration.keyRingPath) } catch {
            throw ServeSetupError(description: "cannot read key ring '\(configuration.keyRingPath)': \(error)")
        }
        var ranges: [AddressRange] = []
        if let path = configuration.serve.machineProxyRangesPath {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ServeSetupError(description: "cannot read machine_proxy_ranges '\(path)'")
            }
            do { ranges = try AddressRange.parseList(String(decoding: data, as: UTF8.self)) } catch {
                throw ServeSetupError(description: error.description)
            }
        }
        if let stores {
            return TrackingServer(
                configuration: configuration, keyRing: ring, journal: stores.journal, suppression: stores.suppression,
                proxyRanges: ranges, logger: logger)
        }
        let journal: any EventJournal =
            (eventsPath ?? configuration.serve.eventsPath).map { FileEventJournal(path: $0) }
            ?? StandardOutputJournal()
        if configuration.suppressionListPath == nil {
            logger.warning("no suppression_list configured: unsubscribes are recorded as events only")
        }
        return TrackingServer(
            configuration: configuration, keyRing: ring, journal: journal,
            suppression: configuration.suppressionListPath.map { FileSuppressionStore(path: $0) }, proxyRanges: ranges,
            logger: logger)
    }

    /// Runs `linkstamp serve` until SIGTERM or SIGINT, then shuts down gracefully (requests in
    /// flight finish). `stores` (PostgreSQL) replace the journal and suppression files; their
    /// services stop after the server.
    public static func serve(
        configuration: Configuration, listen: String?, eventsPath: String?, stores: ServeStores? = nil
    ) async throws {
        let logger = Logger(label: "linkstamp.serve")
        let (host, port) = try parseListen(listen ?? configuration.serve.listen)
        let server = try fromConfiguration(configuration, eventsPath: eventsPath, stores: stores, logger: logger)
        let threads = eventLoopThreads()
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let app = server.application(host: host, port: port, eventLoopGroup: loops) { bound in
            logger.info("listening", metadata: ["address": "\(host):\(bound)", "threads": "\(threads)"])
        }
        // Shut down in reverse order: the endpoint first (no more events), then delivery, then the
        // stores' services (the PostgreSQL pool).
        var services: [any Service] = [app]
        if let delivery = try webhookDelivery(
            configuration, eventsPath: eventsPath, feed: stores?.feed, server: server, logger: logger)
        {
            services.insert(delivery, at: 0)
        }
        services.insert(contentsOf: stores?.services ?? [], at: 0)
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await loops.shutdownGracefully()
            throw error
        }
        try await loops.shutdownGracefully()
    }

    /// Event-loop threads for `serve`: one per CPU this process may run on (``ProcessCPUs``:
    /// its affinity mask, within NIO's cgroup-aware count). Pinned to one CPU, NIO's own count
    /// ran a loop per CPU of the machine, taking turns on the one.
    public static func eventLoopThreads() -> Int { ProcessCPUs.usable(cores: System.coreCount) }

    /// The webhook delivery `webhook_url` asks for (nil when it is not set), reading `feed` (the
    /// PostgreSQL events table, which keeps the committed position itself) or else the journal
    /// file (`eventsPath`, else `serve_events`) with its committed position next to it, and
    /// counting into `server`'s `/metrics`. A journal on standard output cannot be read back: a
    /// setup error, as is a journal directory the position file cannot be written in.
    public static func webhookDelivery(
        _ configuration: Configuration, eventsPath: String?, feed: (any EventFeed)? = nil, server: TrackingServer,
        logger: Logger
    ) throws(ServeSetupError) -> WebhookDelivery? {
        let settings = configuration.serve
        guard let url = settings.webhookURL else { return nil }
        let deliverySettings = WebhookDelivery.Settings(
            url: url, authorization: settings.webhookAuthorization, batchSize: settings.webhookBatchSize,
            timeout: .seconds(settings.webhookTimeoutSeconds))
        if let feed {
            return WebhookDelivery(
                feed: feed, settings: deliverySettings, logger: logger, metricsFactory: server.metrics)
        }
        guard let journal = eventsPath ?? settings.eventsPath else {
            throw ServeSetupError(
                description:
                    "webhook_url needs an event journal file (--events FILE or serve_events): events written to standard output cannot be delivered"
            )
        }
        let directory = (journal as NSString).deletingLastPathComponent
        guard access(directory.isEmpty ? "." : directory, W_OK) == 0 else {
            throw ServeSetupError(
                description:
                    "webhook delivery keeps its position next to the journal, but '\(directory)' is not writable")
        }
        return WebhookDelivery(
            feed: FileEventFeed(journalPath: journal, logger: logger), settings: deliverySettings, logger: logger,
            metricsFactory: server.metrics)
    }
}
