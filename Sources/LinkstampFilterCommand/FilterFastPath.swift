import Linkstamp
import SMTPAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The `filter` command without the argument parser.
///
/// Postfix's pipe(8) and Exim start one filter process per message, so the process's start-up
/// is most of a message's cost. The argument parser reflects over the command's properties and
/// casts to protocols; every first cast of a type scans every conformance record of the binary
/// (which links the servers' packages too). A plain `filter` command line (`-f`, `--config`,
/// `--out-dir`, `--sendmail`, `--relay`, `--events`, each once and with a value, and recipients) is read
/// here in one pass and run with no dynamic casts; anything else (help, version, an unknown or
/// repeated option, `--name=value`, a value that starts with `-`, no `-f`) goes to the argument
/// parser, which answers it exactly as before.
package enum FilterFastPath {
    /// A plain `filter` command line.
    package struct Arguments: Sendable {
        package var sender: String?
        package var config: String?
        package var outDir: String?
        package var sendmail: String?
        package var relay: String?
        package var events: String?
        package var recipients: [String] = []

        package init(
            sender: String? = nil, config: String? = nil, outDir: String? = nil, sendmail: String? = nil,
            relay: String? = nil, events: String? = nil, recipients: [String] = []
        ) {
            self.sender = sender
            self.config = config
            self.outDir = outDir
            self.sendmail = sendmail
            self.relay = relay
            self.events = events
            self.recipients = recipients
        }
    }

    /// Runs the filter against a `database_url` (the message, its envelope, the engine, the
    /// output and `--events`): only `linkstamp filter` links PostgreSQL in.
    package typealias DatabaseRun = (String, [UInt8], Envelope, Engine, Filter.Output, String?) throws(SMTPReply) ->
        Void

    /// The arguments after `filter`, or `nil` when the argument parser must read them.
    package static func parse(_ arguments: ArraySlice<String>) -> Arguments? {
        var parsed = Arguments()
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                parsed.recipients += arguments[(index + 1)...]
                break
            }
            guard argument.utf8.first == UInt8(ascii: "-"), argument != "-" else {
                parsed.recipients.append(argument)
                index += 1
                continue
            }
            guard index + 1 < arguments.endIndex else { return nil }
            let value = arguments[index + 1]
            if value.utf8.first == UInt8(ascii: "-") { return nil }
            switch argument {
            case "-f" where parsed.sender == nil: parsed.sender = value
            case "--config" where parsed.config == nil: parsed.config = value
            case "--out-dir" where parsed.outDir == nil: parsed.outDir = value
            case "--sendmail" where parsed.sendmail == nil: parsed.sendmail = value
            case "--relay" where parsed.relay == nil: parsed.relay = value
            case "--events" where parsed.events == nil: parsed.events = value
            default: return nil
            }
            index += 2
        }
        return parsed.sender == nil ? nil : parsed
    }

    /// Runs the filter and exits with its code.
    package static func runAndExit(
        _ arguments: Arguments, configuration: Configuration? = nil, database: DatabaseRun?
    ) -> Never {
        exit(run(arguments, configuration: configuration, database: database))
    }

    /// Runs the filter; returns the process's exit code (sysexits). `configuration` is the
    /// configuration already read from `--config` (else it is read here, after standard input);
    /// `database` runs a message whose configuration has a `database_url`.
    package static func run(_ arguments: Arguments, configuration: Configuration? = nil, database: DatabaseRun?)
        -> Int32
    {
        // A reader that goes away must give EPIPE (a 4.3.0 reply), not kill the filter.
        signal(SIGPIPE, SIG_IGN)
        let recipients = arguments.recipients
        guard !recipients.isEmpty else {
            printError("5.5.1 no recipients given")
            return SysExit.usage
        }
        guard [arguments.outDir, arguments.sendmail, arguments.relay].compactMap({ $0 }).count <= 1 else {
            printError("5.5.4 --out-dir, --sendmail and --relay cannot be used together")
            return SysExit.usage
        }
        var target: SMTPReinjection.Target?
        if let relay = arguments.relay {
            guard let parsed = SMTPReinjection.Target(relay) else {
                printError("5.5.4 --relay wants HOST:PORT, got '" + relay + "'")
                return SysExit.usage
            }
            target = parsed
        }
        // The engine is always loaded with the default limits.
        let limits = Limits()
        guard recipients.count <= limits.maxCopies else {
            let text =
                "too many recipients: " + String(recipients.count) + " (at most " + String(limits.maxCopies)
                + " copies per message)"
            return replyCode(SMTPReply(code: 550, enhancedStatus: "5.5.3", text: text))
        }
        // Standard input is read before any file is opened, so a closed fd 0 is never
        // mistaken for a file opened later.
        let message: [UInt8]
        do { message = try readStandardInput(limits: limits) } catch { return replyCode(error) }
        let engine: Engine
        do {
            if let configuration {
                engine = try Engine.load(configuration: configuration, limits: limits)
            } else {
                engine = try Engine.load(configurationPath: configurationPath(arguments.config), limits: limits)
            }
        } catch {
            return replyCode(error)
        }
        defer {
            if !engine.configuration.trackingDomainConfigured {
                printError(
                    "linkstamp: warning: no tracking_domain configured; tracked links point at "
                        + Configuration.placeholderTrackingDomain
                        + " and go nowhere (set tracking_domain in the configuration file)")
            }
        }
        let envelope = Envelope(sender: strip(arguments.sender ?? ""), recipients: recipients.map(strip))
        let output: Filter.Output =
            arguments.outDir.map { .directory($0) } ?? arguments.sendmail.map { .sendmail($0) }
            ?? target.map { .relay($0) } ?? .batchSMTP(fileDescriptor: 1)
        do {
            if let databaseURL = engine.configuration.databaseURL {
                guard let database else {
                    return replyCode(
                        SMTPReply(
                            code: 451, enhancedStatus: "4.3.5",
                            text: "linkstamp-filter has no PostgreSQL support (database_url): run linkstamp filter"))
                }
                try database(databaseURL, message, envelope, engine, output, arguments.events)
            } else {
                _ = try Filter.run(
                    message: message, envelope: envelope, engine: engine, output: output, eventsPath: arguments.events)
            }
        } catch {
            return replyCode(error)
        }
        return 0
    }

    /// Postfix passes `${sender}` bare, but an operator may write `<addr>`.
    package static func strip(_ address: String) -> String {
        if address.hasPrefix("<") && address.hasSuffix(">") { return String(address.dropFirst().dropLast()) }
        return address
    }
}
