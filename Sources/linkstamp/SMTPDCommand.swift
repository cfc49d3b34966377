import ArgumentParser
import Dispatch
import Foundation
import Linkstamp
import LinkstampFilterCommand
import PostgresState
import SMTPDoor

struct SMTPDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smtpd",
        abstract: "Run the SMTP door: refuse bad messages during DATA, relay every copy to --relay.",
        discussion: """
            Listens for ESMTP clients (default 127.0.0.1:10025). At the end of DATA the message is \
            prepared in process; a refused one gets the engine's reply (e.g. 550 5.6.0). Every copy \
            is handed to --relay over SMTP, and the client gets 250 only when the relay accepted \
            them all. SIGTERM or SIGINT drains: clients get 421 4.3.2, messages being relayed finish. \
            STARTTLS and AUTH come from the configuration (smtpd_tls_certificate, smtpd_tls_key, \
            smtpd_credentials; see `linkstamp smtpd-passwd`).
            """
    )

    @OptionGroup var config: ConfigOptions

    @Option(name: .long, help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:10025"

    @Option(name: .long, help: "The MTA that receives the copies, HOST:PORT.")
    var relay: String

    @Option(name: .long, help: "Append the injection and policy_rejection events (JSON lines) to this file.")
    var events: String?

    @Option(name: .long, help: "Name in the greeting and EHLO replies (default: this host's name).")
    var hostname: String?

    func run() throws {
        guard let (listenHost, listenPort) = SMTPDCommand.hostPort(listen) else {
            printError("linkstamp smtpd: --listen must be HOST:PORT, not '\(listen)'")
            throw ExitCode(SysExit.usage)
        }
        guard let (relayHost, relayPort) = SMTPDCommand.hostPort(relay) else {
            printError("linkstamp smtpd: --relay must be HOST:PORT, not '\(relay)'")
            throw ExitCode(SysExit.usage)
        }
        let engine: Engine
        do { engine = try Engine.load(configurationPath: config.path) } catch {
            printError("linkstamp smtpd: \(error.text)")
            throw ExitCode(SMTPDCommand.exitConfig)
        }
        if !engine.configuration.trackingDomainConfigured {
            printError(
                "linkstamp smtpd: warning: no tracking_domain configured; tracked links point at "
                    + "\(Configuration.placeholderTrackingDomain) and go nowhere")
        }
        let name = hostname ?? ProcessInfo.processInfo.hostName
        var settings = SMTPDoorServer.Settings()
        settings.host = listenHost
        settings.port = listenPort
        settings.hostname = name
        let configuration = engine.configuration
        settings.limits.maxConnections = configuration.smtpdMaxConnections
        settings.limits.idleTimeoutSeconds = configuration.smtpdIdleTimeoutSeconds
        settings.limits.maxMessagesPerConnection = configuration.smtpdMaxMessagesPerConnection
        settings.limits.maxMessageBytes = configuration.smtpdMaxMessageBytes
        settings.limits.maxRecipients = configuration.smtpdMaxRecipients
        do { try settings.configureSecurity(from: configuration) } catch {
            printError("linkstamp smtpd: \(error.description)")
            throw ExitCode(SMTPDCommand.exitConfig)
        }

        // With database_url: suppression is asked of PostgreSQL once per message (451 4.3.0 when
        // it cannot answer) and the events go to its events table too.
        var database: PostgresState?
        if let databaseURL = configuration.databaseURL {
            do { database = PostgresState.pool(try DatabaseURL(parsing: databaseURL)) } catch {
                printError("linkstamp smtpd: 4.3.5 linkstamp \(error.description)")
                throw ExitCode(SMTPDCommand.exitConfig)
            }
        }
        var lookup: (any SuppressionLookup)?
        var eventJournal: (@Sendable ([String]) async throws -> Void)?
        if let database {
            lookup = PostgresSuppressionStore(state: database)
            eventJournal = { lines in try await database.append(lines) }
        }
        let server = SMTPDoorServer(
            settings: settings, engine: engine, relayHost: relayHost, relayPort: relayPort, eventsPath: events,
            suppressionLookup: lookup, eventJournal: eventJournal, log: { printError("linkstamp smtpd: \($0)") })
        let pool = Task { [database] in
            guard let database else { return }
            await database.run { error in printError("linkstamp smtpd: \(error)") }
        }

        signal(SIGPIPE, SIG_IGN)
        let stopped = DispatchSemaphore(value: 0)
        let failure = LockedText()
        let draining = LockedText()
        // SIGTERM and SIGINT drain. The sources must stay alive while the main thread waits: a
        // source whose last reference is gone handles nothing, and an optimized build may release
        // a local after its last use (release builds did: the signals were never handled and the
        // process ran on, issue 12), hence `withExtendedLifetime` below. On Linux Dispatch installs its own handler and reads the
        // signal through a signalfd, so the signals are not ignored there (one that arrives
        // before the sources are registered stops the process, before it listens); on Darwin its
        // kqueue sees them only when they are ignored. The server starts once both sources are
        // registered, so from the "listening" line on every SIGTERM/SIGINT drains.
        let registered = DispatchSemaphore(value: 0)
        let signals = [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            #if canImport(Darwin)
                signal(number, SIG_IGN)
            #endif
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setRegistrationHandler { registered.signal() }
            source.setEventHandler {
                guard draining.setOnce("draining") else { return }
                Task {
                    await server.shutdown()
                    pool.cancel()
                    stopped.signal()
                }
            }
            source.resume()
            return source
        }
        for _ in signals where registered.wait(timeout: .now() + .seconds(10)) == .timedOut {
            printError("linkstamp smtpd: warning: SIGTERM/SIGINT handling not registered after 10 s")
        }
        Task {
            do {
                let address = try await server.start()
                printError("linkstamp smtpd: listening on \(address), relaying to \(relayHost):\(relayPort)")
            } catch {
                _ = failure.setOnce("cannot listen on \(listenHost):\(listenPort): \(error)")
                stopped.signal()
            }
        }
        withExtendedLifetime(signals) { stopped.wait() }
        if let text = failure.value {
            printError("linkstamp smtpd: \(text)")
            throw ExitCode(SysExit.cantCreate)
        }
    }

    /// The configuration, key ring or suppression list cannot be used: 75, as for every other
    /// subcommand (README, exit codes).
    static let exitConfig: Int32 = SysExit.tempFail

    /// `host:port`, `[v6]:port`.
    static func hostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            port >= 0, port <= 65535
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}

/// A text set once, shared between the signal handler and the main thread.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?

    /// Sets the text if none was set; `true` when this call set it.
    func setOnce(_ value: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard text == nil else { return false }
        text = value
        return true
    }

    var value: String? {
        lock.lock()
        defer { lock.unlock() }
        return text
    }
}
