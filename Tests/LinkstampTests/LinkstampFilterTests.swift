import Foundation
import TestSupport
import Testing

@testable import Linkstamp

/// The lean `linkstamp-filter` executable (issue 13): the arguments after `linkstamp filter`,
/// and the same status, stderr and copies as `linkstamp filter`. What its fast path does not
/// read (help, version, unusual command lines, an unreadable configuration, `database_url`) it
/// hands to `linkstamp filter` beside it, before reading standard input.
@Suite struct LinkstampFilterTests {
    let command = CommandTests()

    func lean(_ arguments: [String], stdin: [UInt8], home: String, executable: URL? = LinkstampBinary.filterURL)
        throws -> LinkstampBinary.Result
    {
        guard let executable else {
            Issue.record("the linkstamp-filter executable is not built (swift build first)")
            return LinkstampBinary.Result(status: -1, stdout: [], stderr: "")
        }
        return try LinkstampBinary.run(
            arguments, stdin: stdin, environment: ["XDG_CONFIG_HOME": home], executable: executable)
    }

    /// Runs `linkstamp-filter ARGUMENTS` and `linkstamp filter ARGUMENTS`; checks that status,
    /// stderr, the envelope lines and the number of lines are the same.
    @discardableResult
    func same(_ arguments: [String], stdin: [UInt8], home: String) throws -> LinkstampBinary.Result {
        let filter = try lean(arguments, stdin: stdin, home: home)
        let full = try command.run(["filter"] + arguments, stdin: stdin, configHome: home)
        #expect(filter.status == full.status, "lean: \(filter.stderr) full: \(full.stderr)")
        #expect(filter.stderr == full.stderr)
        func lines(_ result: LinkstampBinary.Result) -> [String] {
            result.stdout.text.components(separatedBy: "\r\n")
        }
        func envelope(_ result: LinkstampBinary.Result) -> [String] {
            lines(result).filter { $0.hasPrefix("RCPT TO:") || $0.hasPrefix("MAIL FROM:") }
        }
        #expect(envelope(filter) == envelope(full))
        #expect(lines(filter).count == lines(full).count)
        return filter
    }

    func configuration(_ text: String, home: String) throws -> String {
        let path = home + "/linkstamp.conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func plainCommandLineMatchesLinkstampFilter() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let config = try configuration("tracking_domain = click.example.com\n", home: home)
        let message = try Corpus.bundled("newsletter.eml")
        let result = try same(
            ["--config", config, "-f", "<news@acme.example>", "a@example.org", "--", "<b@example.org>"],
            stdin: message, home: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.text.contains("RCPT TO:<b@example.org>"))
        #expect(result.stdout.text.contains("https://click.example.com/"))
        // No configuration: the defaults, and the one warning line.
        let defaults = try same(["-f", "news@acme.example", "r@example.org"], stdin: message, home: home)
        #expect(defaults.status == 0)
        #expect(defaults.stderr.hasPrefix("linkstamp: warning: no tracking_domain configured"))
    }

    @Test func refusalsMatchLinkstampFilter() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("receipt.eml")
        #expect(try same(["-f", "s@example.com"], stdin: message, home: home).status == 64)
        let both = ["-f", "s@example.com", "--out-dir", home + "/o", "--sendmail", "/bin/true", "a@example.org"]
        #expect(try same(both, stdin: message, home: home).status == 64)
        #expect(try same(["-f", "bad sender", "a@example.org"], stdin: message, home: home).status == 65)
        #expect(try same(["-f", "", "a@example.org"], stdin: Array("no header".utf8), home: home).status == 65)
    }

    /// Help, version and the command lines only the argument parser reads: `linkstamp filter`
    /// answers them, through exec.
    @Test func otherCommandLinesAreLinkstampFilters() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("receipt.eml")
        let help = try same(["--help"], stdin: [], home: home)
        #expect(help.status == 0)
        #expect(help.stdout.text.contains("USAGE: linkstamp filter"))
        let version = try same(["-f", "s@example.com", "--version"], stdin: message, home: home)
        #expect(version.stdout.text == LinkstampVersion.current + "\n")
        let repeated = try same(
            ["-f", "a@example.com", "-f", "b@example.com", "r@example.org"], stdin: message, home: home)
        #expect(repeated.stdout.text.hasPrefix("MAIL FROM:<b@example.com>\r\n"))
        let missing = try same(["--", "r@example.org"], stdin: message, home: home)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("-f <SENDER>"))
        let joined = try same(["-fs@example.com", "r@example.org"], stdin: message, home: home)
        #expect(joined.stderr.contains("Unknown option"))
    }

    /// A configuration that cannot be read and one with `database_url` go to `linkstamp filter`
    /// (the lean binary has no PostgreSQL): the same 4.3.x reply and exit 75, nothing written.
    @Test func configurationsOnlyLinkstampReadsAreHandedOver() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("newsletter.eml")
        let missing = try same(
            ["--config", home + "/absent.conf", "-f", "s@example.com", "r@example.org"], stdin: message, home: home)
        #expect(missing.status == 75)
        #expect(missing.stderr.hasPrefix("4.3.5 "), "\(missing.stderr)")
        let bad = try configuration("tracking_domain click.example.com\n", home: home)
        #expect(
            try same(["--config", bad, "-f", "s@example.com", "r@example.org"], stdin: message, home: home).status == 75
        )
        // Nothing listens on port 1: `linkstamp filter` cannot reach the database.
        let database = try configuration(
            "tracking_domain = click.example.com\n"
                + "database_url = postgresql://linkstamp@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2\n",
            home: home)
        let events = home + "/events.jsonl"
        let result = try same(
            ["--config", database, "--events", events, "-f", "s@example.com", "r@example.org"], stdin: message,
            home: home)
        #expect(result.status == 75)
        #expect(result.stderr.hasPrefix("4.3.0 linkstamp cannot reach the database"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: events))
    }

    /// Without `linkstamp` beside it, what it would hand over is a temporary failure (75) that
    /// says what is missing; a plain command line still runs.
    @Test func withoutLinkstampBesideIt() throws {
        let home = try command.scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        guard let original = LinkstampBinary.filterURL else {
            Issue.record("the linkstamp-filter executable is not built (swift build first)")
            return
        }
        let alone = URL(fileURLWithPath: home + "/bin/linkstamp-filter")
        try FileManager.default.createDirectory(atPath: home + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: original, to: alone)
        let message = try Corpus.bundled("receipt.eml")
        let help = try lean(["--help"], stdin: [], home: home, executable: alone)
        #expect(help.status == 75)
        #expect(
            help.stderr.hasPrefix("4.3.5 linkstamp-filter cannot run " + home + "/bin/linkstamp for this command line"),
            "\(help.stderr)")
        let plain = try lean(["-f", "s@example.com", "r@example.org"], stdin: message, home: home, executable: alone)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.text.hasPrefix("MAIL FROM:<s@example.com>\r\n"))
    }
}
