import ArgumentParser
import Foundation
import Linkstamp
import LinkstampFilterCommand

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a tracked URL into the event it stands for (JSON on stdout).",
        discussion: """
            A forged, truncated, re-keyed or expired URL is refused with exit 65. A configuration \
            or key ring that cannot be read exits 75, as for filter.
            """
    )

    @OptionGroup var config: ConfigOptions

    @Option(name: .long, help: "Decode as if it were this Unix time (default: now).")
    var now: Int64?

    @Argument(help: "The tracked URL (or its path).")
    var url: String

    func run() throws {
        let configuration = try config.load()
        let ring: KeyRing
        do { ring = try KeyRing(contentsOf: configuration.keyRingPath) } catch {
            throw replyExit(
                SMTPReply(
                    code: 451, enhancedStatus: "4.3.5",
                    text: "linkstamp cannot read key ring '\(configuration.keyRingPath)': \(error)"))
        }
        let time = now ?? Int64(Date().timeIntervalSince1970)
        do {
            let event = try TrackingDecoder.decode(url: url, keyRing: ring, now: time)
            print(event.json())
        } catch {
            printError("linkstamp: refused: \(error)")
            throw ExitCode(SysExit.dataError)
        }
    }
}
