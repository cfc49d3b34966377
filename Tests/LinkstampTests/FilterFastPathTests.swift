import Foundation
import Testing

@testable import Linkstamp
@testable import LinkstampPipeline

/// The `filter` fast path (issue 13): a plain command line skips the argument parser, so it must
/// answer exactly as the parser path does. `--config=FILE` (and any other form the fast path
/// does not read) goes through the parser, which makes the two paths comparable on one binary.
@Suite struct FilterFastPathTests {
    let command = CommandTests()

    /// Runs `filter` twice, once plainly (fast path) and once with the parser's `--config=FILE`
    /// form, and checks that status, stderr and the recipients' lines are the same.
    func bothPaths(_ options: [String], recipients: [String], stdin: [UInt8], home: String) throws
        -> CommandTests.Result
    {
        let config = home + "/linkstamp.conf"
        try "tracking_domain = click.example.com\n".write(toFile: config, atomically: true, encoding: .utf8)
        let fast = try command.run(
            ["filter", "--config", config] + options + recipients, stdin: stdin, configHome: home)
        let parsed = try command.run(
            ["filter", "--config=" + config] + options + recipients, stdin: stdin, configHome: home)
        #expect(fast.status == parsed.status, "fast: \(fast.stderr) parsed: \(parsed.stderr)")
        #expect(fast.stderr == parsed.stderr)
        func envelope(_ result: CommandTests.Result) -> [String] {
            result.stdout.text.components(separatedBy: "\r\n").filter {
                $0.hasPrefix("RCPT TO:") || $0.hasPrefix("MAIL FROM:")
            }
        }
        #expect(envelope(fast) == envelope(parsed))
        #expect(
            fast.stdout.text.components(separatedBy: "\r\n").count
                == parsed.stdout.text.components(separatedBy: "\r\n").count)
        return fast
    }

    @Test func plainCommandLineMatchesTheParser() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("newsletter.eml")
        let result = try bothPaths(
            ["-f", "<news@acme.example>"], recipients: ["a@example.org", "--", "<b@example.org>"], stdin: message,
            home: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.text.contains("RCPT TO:<b@example.org>"))
        #expect(result.stdout.text.contains("https://click.example.com/"))
    }

    @Test func refusalsMatchTheParser() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("receipt.eml")
        #expect(try bothPaths(["-f", "s@example.com"], recipients: [], stdin: message, home: home).status == 64)
        #expect(
            try bothPaths(
                ["-f", "s@example.com", "--out-dir", home + "/o", "--sendmail", "/bin/true"],
                recipients: ["a@example.org"], stdin: message, home: home
            ).status == 64)
        #expect(
            try bothPaths(["-f", "bad sender"], recipients: ["a@example.org"], stdin: message, home: home).status == 65)
        #expect(
            try bothPaths(["-f", ""], recipients: ["a@example.org"], stdin: Array("no header".utf8), home: home).status
                == 65)
    }

    @Test func unusualCommandLinesStillGoToTheParser() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("receipt.eml")
        // A repeated option: the parser keeps the last value.
        let repeated = try command.run(
            ["filter", "-f", "a@example.com", "-f", "b@example.com", "r@example.org"], stdin: message, configHome: home)
        #expect(repeated.status == 0, "\(repeated.stderr)")
        #expect(repeated.stdout.text.hasPrefix("MAIL FROM:<b@example.com>\r\n"))
        let missing = try command.run(["filter", "--", "r@example.org"], stdin: message, configHome: home)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("-f <SENDER>"))
        let joined = try command.run(["filter", "-fs@example.com", "r@example.org"], stdin: message, configHome: home)
        #expect(joined.status == 64)
        #expect(joined.stderr.contains("Unknown option"))
        let version = try command.run(["filter", "-f", "s@example.com", "--version"], stdin: message, configHome: home)
        #expect(version.status == 0)
        #expect(version.stdout.text == LinkstampVersion.current + "\n")
    }

    @Test func configurationWhitespaceIsFoundationsWhitespaces() {
        var samples = [
            "", " ", "\t", "a", " a ", "\ta b\t", " \u{301}x ", "\u{A0}x\u{3000}", "\u{2009}\u{202F}x\u{205F}",
            "\u{85}x\u{85}", "x\u{200B}", "\n x \r",
        ]
        // Every scalar of the planes where Unicode puts spaces, and a few beyond.
        for value in Array(0...0x3100) + [0xFEFF, 0xFFFD, 0x1F600, 0xE0020] {
            if let scalar = Unicode.Scalar(value) { samples.append("\(scalar)k\(scalar)") }
        }
        for sample in samples {
            #expect(
                sample.trimmingConfigurationWhitespace() == sample.trimmingCharacters(in: .whitespaces),
                "\(Array(sample.unicodeScalars))")
        }
        let parsed = try? Configuration(parsing: "tracking_domain\u{3000}=\u{A0}click.example.com\t\n")
        #expect(parsed?.trackingDomain == "click.example.com")
    }
}
