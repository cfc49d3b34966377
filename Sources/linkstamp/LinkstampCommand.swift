import ArgumentParser
import Foundation
import Linkstamp
import SMTPAPI

/// The `linkstamp` command: each subcommand wires standard input/output and files to the
/// library, which does the work.
@main
struct LinkstampCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linkstamp",
        abstract: "Per-recipient click and open tracking, X-MSYS-API fan-out and CSS inlining for mail relays.",
        version: LinkstampVersion.current,
        subcommands: [FilterCommand.self, DecodeCommand.self, InlineCSSCommand.self, KeygenCommand.self, BenchCommand.self, SMTPDCommand.self]
    )
}

/// sysexits(3) codes, as Postfix and Exim read them.
enum SysExit {
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let noInput: Int32 = 66
    static let software: Int32 = 70
    static let cantCreate: Int32 = 73
    static let tempFail: Int32 = 75
    static let config: Int32 = 78
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Prints an SMTP reply the way a content filter reports it (`5.6.0 text` on stderr) and
/// exits with the sysexits code Postfix and Exim map to a bounce (65) or a deferral (75).
func replyExit(_ reply: SMTPReply) -> ExitCode {
    printError("\(reply.enhancedStatus) \(reply.text)")
    return ExitCode(reply.isPermanent ? SysExit.dataError : SysExit.tempFail)
}

func configurationPath(_ option: String?) -> String? {
    if let option { return option }
    if let environment = ProcessInfo.processInfo.environment["LINKSTAMP_CONFIG"], !environment.isEmpty {
        return environment
    }
    return nil
}

/// The configuration named by `--config` or `LINKSTAMP_CONFIG`, else the defaults; exits 78
/// (EX_CONFIG) when it cannot be used.
func loadConfiguration(_ option: String?) throws -> Configuration {
    guard let path = configurationPath(option) else { return Configuration() }
    do { return try Configuration(contentsOf: path) } catch {
        printError("linkstamp: \(error.description)")
        throw ExitCode(SysExit.config)
    }
}

func readStandardInput(limit: Int) -> [UInt8]? {
    var bytes: [UInt8] = []
    while true {
        let chunk = FileHandle.standardInput.readData(ofLength: 1 << 20)
        if chunk.isEmpty { break }
        bytes.append(contentsOf: chunk)
        if bytes.count > limit { return nil }
    }
    return bytes
}

struct FilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Read one message on stdin and write every recipient's copy.",
        discussion: """
            Output is a Batch SMTP stream (RFC 2442) on stdout unless --out-dir is given. \
            Exit 0 on success, 65 (EX_DATAERR) when the message is refused, 75 (EX_TEMPFAIL) \
            when it should be retried; the SMTP enhanced status and text go to stderr.
            """
    )

    @Option(name: .customShort("f"), help: "Envelope sender (MAIL FROM); empty for the null sender.")
    var sender: String

    @Option(name: .long, help: "Configuration file (default: $LINKSTAMP_CONFIG, else built-in defaults).")
    var config: String?

    @Option(name: .long, help: "Write one .eml per copy and envelopes.jsonl into this folder.")
    var outDir: String?

    @Option(name: .long, help: "Hand each copy to this sendmail-compatible command (PATH -G -i -f SENDER -- RCPT) instead of writing Batch SMTP.")
    var sendmail: String?

    @Option(name: .long, help: "Append one injection event per copy (JSON lines) to this file.")
    var events: String?

    @Argument(help: "Envelope recipients (RCPT TO).")
    var recipients: [String] = []

    func run() throws {
        guard !recipients.isEmpty else {
            printError("5.5.1 no recipients given")
            throw ExitCode(SysExit.usage)
        }
        let engine: Engine
        do { engine = try Engine.load(configurationPath: configurationPath(config)) } catch { throw replyExit(error) }
        guard let message = readStandardInput(limit: engine.limits.maxMessageBytes) else {
            throw replyExit(SMTPReply(code: 552, enhancedStatus: "5.3.4", text: "message exceeds \(engine.limits.maxMessageBytes) bytes"))
        }
        let sender = strip(self.sender)
        let envelope = Envelope(sender: sender, recipients: recipients.map(strip))
        guard outDir == nil || sendmail == nil else {
            printError("5.5.4 --out-dir and --sendmail cannot be used together")
            throw ExitCode(SysExit.usage)
        }
        let output: Filter.Output = outDir.map { .directory($0) } ?? sendmail.map { .sendmail($0) } ?? .batchSMTP(fileDescriptor: 1)
        do {
            _ = try Filter.run(message: message, envelope: envelope, engine: engine, output: output, eventsPath: events)
        } catch {
            throw replyExit(error)
        }
    }

    /// Postfix passes `${sender}` bare, but an operator may write `<addr>`.
    func strip(_ address: String) -> String {
        if address.hasPrefix("<") && address.hasSuffix(">") { return String(address.dropFirst().dropLast()) }
        return address
    }
}
