import ArgumentParser
import Foundation
import Linkstamp
import LinkstampFilterCommand

/// # linkstamp (the executable)
///
/// Owns the command line: argument parsing (one `ParsableCommand` per subcommand), standard
/// input and output, stderr lines, signals and the sysexits exit codes (0, 64, 65, 66, 75).
///
/// It must never decide anything about a message, a token or a request: every rule lives in
/// the library modules, and a command only turns their results and `SMTPReply` errors into
/// output and an exit code.
///
/// Depends on the library modules' public API and swift-argument-parser.

/// The `linkstamp` command: each subcommand wires standard input/output and files to the
/// library, which does the work.
@main
struct LinkstampCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linkstamp",
        abstract: "Per-recipient click and open tracking, X-MSYS-API fan-out and CSS inlining for mail relays.",
        discussion: """
            Exit codes (sysexits): 0 done; 64 bad command line; 65 refused for good (the SMTP \
            enhanced status and text on stderr, e.g. 5.6.0 ...); 75 try again later (output not \
            writable, unreadable input, or a bad configuration or key ring: every subcommand \
            exits 75 on those).

            Configuration: --config FILE, else $LINKSTAMP_CONFIG, else built-in defaults. The key \
            ring is the configuration's key_ring, by default $XDG_CONFIG_HOME/linkstamp/keys \
            (~/.config/linkstamp/keys without XDG_CONFIG_HOME), created with mode 0600 on first use.
            """,
        version: LinkstampVersion.current,
        subcommands: [
            FilterCommand.self, DecodeCommand.self, InlineCSSCommand.self, KeygenCommand.self, BenchCommand.self,
            ServeCommand.self, SMTPDCommand.self, SMTPDPasswdCommand.self,
        ]
    )

    /// `filter` command lines are split by `FilterArguments` in one pass (a relay may pass tens
    /// of thousands of recipients, and the argument parser is quadratic in positional
    /// arguments); every other command line goes to the parser as it is.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "filter", let plain = FilterFastPath.parse(arguments.dropFirst()) {
            FilterFastPath.runAndExit(plain, database: filterWithDatabase)
        }
        guard arguments.first == "filter", let split = FilterArguments.split(arguments.dropFirst()) else {
            main(arguments)
            return
        }
        do {
            guard var command = try parseAsRoot(["filter"] + split.options) as? FilterCommand else {
                main(arguments)
                return
            }
            command.recipients = split.recipients
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Splits `filter`'s arguments into options (with their values) and recipients in linear time.
enum FilterArguments {
    /// The options that take a value.
    static let valued: Set<String> = ["-f", "--config", "--out-dir", "--sendmail", "--relay", "--events"]

    /// `nil` when the command line asks for help or the version (the parser answers those).
    static func split(_ arguments: ArraySlice<String>) -> (options: [String], recipients: [String])? {
        var options: [String] = []
        var recipients: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                recipients += arguments[(index + 1)...]
                break
            }
            if valued.contains(argument) {
                options.append(argument)
                if index + 1 < arguments.endIndex { options.append(arguments[index + 1]) }
                index += 2
                continue
            }
            if argument == "-h" || argument == "--help" || argument == "-help" || argument == "--version" { return nil }
            if argument.hasPrefix("-") && argument != "-" {
                options.append(argument)
            } else {
                recipients.append(argument)
            }
            index += 1
        }
        return (options, recipients)
    }
}

/// Prints an SMTP reply the way a content filter reports it (`5.6.0 text` on stderr) and
/// exits with the sysexits code Postfix and Exim map to a bounce (65) or a deferral (75).
func replyExit(_ reply: SMTPReply) -> ExitCode {
    ExitCode(replyCode(reply))
}

struct FilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Read one message on stdin and write every recipient's copy.",
        discussion: """
            Output is a Batch SMTP stream (RFC 2442) on stdout unless --out-dir, --sendmail or \
            --relay is given. --relay sends every copy over one SMTP connection (30 s connect \
            and 300 s reply timeouts): exit 0 only when the server accepted every copy, 65 when \
            it refused every copy for good, else 75 (a retry sends the accepted copies again). \
            Every output is opened and checked, and every copy staged, before the first is \
            published; events are appended before the copies and truncated away again \
            if publishing fails.

            Exit codes: 0 every copy written; 64 bad command line; 65 (EX_DATAERR) the message \
            or its envelope is refused (5.x.x status and text on stderr); 75 (EX_TEMPFAIL) try \
            again later: output not writable, standard input unreadable, bad configuration or \
            key ring (4.x.x status and text on stderr).

            With database_url = postgresql://... in the configuration, suppression is read from \
            PostgreSQL (one query per message) and the events also go to its events table; a \
            database that cannot be reached is 4.3.0, exit 75, with nothing written.

            With no tracking_domain configured, tracked links point at links.linkstamp.invalid: \
            one "linkstamp: warning: ..." line goes to stderr and every event says \
            "tracking_domain_configured": false. The key ring is the configuration's key_ring \
            (default $XDG_CONFIG_HOME/linkstamp/keys, else ~/.config/linkstamp/keys).
            """
    )

    @Option(
        name: .customShort("f"),
        help: ArgumentHelp("Envelope sender (MAIL FROM); empty or <> for the null sender.", valueName: "SENDER"))
    var sender: String

    @OptionGroup var config: ConfigOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write one .eml per copy and envelopes.jsonl into this folder (created if missing; its parent must exist).",
            valueName: "DIR"))
    var outDir: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Hand each copy to this sendmail-compatible command (PATH -G -i -f SENDER -- RCPT) instead of writing Batch SMTP.",
            valueName: "PATH"))
    var sendmail: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Send every copy over SMTP to this server (Postfix's re-injection smtpd) instead of writing Batch SMTP.",
            valueName: "HOST:PORT"))
    var relay: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Append one injection event per copy (JSON lines) to this file (its folder must exist).", valueName: "FILE")
    )
    var events: String?

    @Argument(help: ArgumentHelp("Envelope recipients (RCPT TO).", valueName: "RCPT"))
    var recipients: [String] = []

    func run() throws {
        let arguments = FilterFastPath.Arguments(
            sender: sender, config: config.config, outDir: outDir, sendmail: sendmail, relay: relay, events: events,
            recipients: recipients)
        let code = FilterFastPath.run(arguments, database: filterWithDatabase)
        if code != 0 { throw ExitCode(code) }
    }
}
