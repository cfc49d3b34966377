import ArgumentParser
import Foundation
import Linkstamp
import LinkstampFilterCommand
import PostgresState
import TrackingServer

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer tracked URLs: click redirects, open pixels, one-click unsubscribe (HTTP).",
        discussion: """
            Same configuration file and key ring as `filter`. Events are appended to the journal \
            (--events, or `serve_events`; standard output when neither is set) before each \
            response; unsubscribes are added to `suppression_list`. With database_url both go to \
            PostgreSQL instead (shared by every node). Keys: serve_listen, \
            serve_events, rate_limit_requests, rate_limit_window_seconds, max_connections, \
            idle_timeout_seconds, header_timeout_seconds, max_header_bytes, trust_forwarded_for, \
            machine_seconds_after_injection, machine_proxy_ranges, scanner_trap_link. \
            With webhook_url (http/https) the journal file's events are POSTed there in batches \
            (JSON arrays, X-MessageSystems-Batch-ID), retried with backoff until a 2xx, at least \
            once; the delivered position is kept in <journal>.webhook.offset. Keys: \
            webhook_url, webhook_authorization (Authorization header value), webhook_batch_size \
            (default 100, at most 1000), webhook_timeout_seconds (default 10). \
            SIGTERM or SIGINT stops it gracefully.
            """
    )

    @OptionGroup var config: ConfigOptions

    @Option(name: .long, help: "HOST:PORT to listen on (default: serve_listen, 127.0.0.1:8025).")
    var listen: String?

    @Option(name: .long, help: "Event journal file, JSON lines (default: serve_events, else standard output).")
    var events: String?

    func run() throws {
        let configuration = try config.load()
        // With database_url, events and unsubscribes go to PostgreSQL (the schema is created at
        // start, and again whenever it is found missing).
        var stores: ServeStores?
        if let databaseURL = configuration.databaseURL {
            do {
                stores = PostgresState.pool(try DatabaseURL(parsing: databaseURL)).serveStores
            } catch {
                throw replyExit(SMTPReply(code: 451, enhancedStatus: "4.3.5", text: "linkstamp \(error.description)"))
            }
        }
        let outcome = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        let (listen, events) = (self.listen, self.events)
        Task { [stores] in
            do {
                try await TrackingServer.serve(
                    configuration: configuration, listen: listen, eventsPath: events, stores: stores)
            } catch {
                outcome.fail("\(error)")
            }
            done.signal()
        }
        done.wait()
        if let failure = outcome.failure {
            printError("linkstamp: serve: \(failure)")
            throw ExitCode(SysExit.tempFail)
        }
    }
}

/// The serve task's failure, handed back to the blocked main thread.
final class ServeOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    func fail(_ message: String) { lock.withLock { text = message } }
    var failure: String? { lock.withLock { text } }
}
