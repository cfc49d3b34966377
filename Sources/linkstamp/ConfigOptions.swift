import ArgumentParser
import Foundation
import Linkstamp
import LinkstampFilterCommand

/// `--config FILE`, the one declaration every subcommand that reads the configuration shares
/// (`@OptionGroup var config: ConfigOptions`).
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Configuration file (default: $LINKSTAMP_CONFIG, else built-in defaults).", valueName: "FILE"))
    var config: String?

    /// `--config`, else `LINKSTAMP_CONFIG` when set and not empty, else nil (the defaults).
    var path: String? { configurationPath(config) }

    /// The configuration named by ``path``, else the defaults; a configuration that cannot be
    /// used is `4.3.5` and exit 75 (EX_TEMPFAIL), as for `filter`.
    func load() throws -> Configuration {
        guard let path else { return Configuration() }
        do { return try Configuration(contentsOf: path) } catch {
            throw replyExit(error.smtpReply)
        }
    }
}
