import Foundation
import SMTPAPI
import Testing

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Issue 9 hardening of `linkstamp filter` and its siblings, run on the built executable (and
/// on the library where a fault has to be injected).
@Suite struct FilterCommandTests {
    let command = CommandTests()

    func scratch() throws -> String { try command.scratch() }

    func run(_ arguments: [String], stdin: [UInt8] = [], configHome: String) throws -> CommandTests.Result {
        try command.run(arguments, stdin: stdin, configHome: configHome)
    }

    /// Runs the executable through `/bin/sh -c` so standard input can be redirected (`<&-`,
    /// `< folder`) the way a shell or a broken relay would.
    func runShell(_ redirection: String, _ arguments: [String], configHome: String, directory: String? = nil) throws
        -> CommandTests.Result
    {
        guard let executable = CommandTests.executable else {
            Issue.record("the linkstamp executable is not built (swift build first)")
            return CommandTests.Result(status: -1, stdout: [], stderr: "")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$0\" \"$@\" \(redirection)", executable.path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = configHome
        environment.removeValue(forKey: "LINKSTAMP_CONFIG")
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandTests.Result(
            status: process.terminationStatus, stdout: Array(out), stderr: String(decoding: err, as: UTF8.self))
    }

    func contents(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func eventBodies(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return ((object?["msys"] as? [String: Any])?["message_event"] as? [String: Any]) ?? [:]
        }
    }

    // MARK: - Item 2: the sender is validated

    @Test(arguments: [
        "a@b.example\r\nRCPT TO:<evil@z.example>", "bad sender", "a@b.example\n", "<a@b.example> x", "a@", "@b.example",
    ])
    func badSenderIsRefusedAndWritesNothing(sender: String) throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("receipt.eml")
        for output in [[], ["--out-dir", home + "/out"]] {
            let result = try run(
                ["filter", "-f", sender, "--events", home + "/events"] + output + ["--", "r@example.org"],
                stdin: message, configHome: home)
            #expect(result.status == 65, "\(result.stderr)")
            #expect(result.stderr.hasPrefix("5.1.7 bad sender address syntax '"), "\(result.stderr)")
            #expect(!result.stderr.contains("\r"))
            #expect(result.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: home + "/events"))
            #expect(!FileManager.default.fileExists(atPath: home + "/out"))
        }
    }

    @Test func nullSenderIsAccepted() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        for sender in ["", "<>"] {
            let result = try run(
                ["filter", "-f", sender, "--", "r@example.org"], stdin: try Corpus.bundled("receipt.eml"),
                configHome: home)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.text.hasPrefix("MAIL FROM:<>\r\nRCPT TO:<r@example.org>\r\n"))
        }
    }

    @Test func libraryRefusesABadSenderBeforeAnyOutput() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let engine = try Fixture.engine()
        #expect(
            throws: SMTPReply(
                code: 553, enhancedStatus: "5.1.7",
                text: "bad sender address syntax 'a@b.example\\x0D\\x0ARCPT TO:<e@z.example>'")
        ) {
            try Filter.run(
                message: try Corpus.bundled("receipt.eml"),
                envelope: Envelope(sender: "a@b.example\r\nRCPT TO:<e@z.example>", recipients: ["r@example.org"]),
                engine: engine, output: .directory(home + "/out"), eventsPath: home + "/events")
        }
        #expect(contents(home) == [])
    }

    // MARK: - Item 3: unreadable standard input

    @Test(arguments: ["<&-", "< /"])
    func unreadableStandardInputIsATemporaryFailure(redirection: String) throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try runShell(
            redirection, ["filter", "-f", "s@example.com", "--events", home + "/events", "--", "r@example.org"],
            configHome: home)
        #expect(result.status == 75, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("4.3.0 linkstamp cannot read standard input: "), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: home + "/events"))
    }

    // MARK: - Item 4: a sendmail that does not read

    /// A message well past a pipe's buffer, so the writer cannot finish before the child exits.
    func largeMessage() -> [UInt8] {
        Array(
            ("From: a@example.com\nSubject: big\n\n"
                + String(repeating: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", count: 16_384))
                .utf8)
    }

    @Test func sendmailThatClosesItsInputDefersWithoutSIGPIPE() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let fake = home + "/sendmail"
        try "#!/bin/sh\nexec 0<&-\nsleep 0.2\nexit 0\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let result = try run(
            ["filter", "-f", "s@example.com", "--sendmail", fake, "--events", home + "/events", "--", "a@example.org"],
            stdin: largeMessage(), configHome: home)
        #expect(result.status == 75, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("4.3.0 linkstamp sendmail '\(fake)' closed its input"), "\(result.stderr)")
        // The events appended before handing the copy over are taken back.
        #expect(((try? Data(contentsOf: URL(fileURLWithPath: home + "/events"))) ?? Data()).isEmpty)
    }

    @Test func sendmailChildGetsTheDefaultSIGPIPE() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let fake = home + "/sendmail"
        // The child writes its mask of ignored signals (SIGPIPE is 13: bit 12).
        try "#!/bin/sh\ncat > /dev/null\nsed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status > \"\(home)/ignored\"\n"
            .write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let result = try run(
            ["filter", "-f", "s@example.com", "--sendmail", fake, "--", "a@example.org"],
            stdin: try Corpus.bundled("receipt.eml"), configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        guard FileManager.default.fileExists(atPath: "/proc/self/status") else { return }
        let mask = UInt64(
            try String(contentsOfFile: home + "/ignored", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines), radix: 16)
        #expect(mask != nil)
        #expect((mask ?? 0) & (1 << 12) == 0, "SIGPIPE is ignored in the sendmail child")
    }

    // MARK: - Item 5: every output is checked before the first copy is published

    @Test func eventsFileFailurePublishesNoCopy() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/events-folder", withIntermediateDirectories: false)
        let fake = home + "/sendmail"
        try "#!/bin/sh\ncat > \"\(home)/got-$$\"\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let message = try Corpus.bundled("newsletter.eml")
        for events in [home + "/events-folder", home + "/missing/events"] {
            for output in [["--out-dir", home + "/out"], ["--sendmail", fake], []] {
                let result = try run(
                    ["filter", "-f", "s@example.com", "--events", events] + output + ["--", "r@example.org"],
                    stdin: message, configHome: home)
                #expect(result.status == 75, "\(output) \(result.stderr)")
                #expect(
                    result.stderr.hasPrefix("4.3.0 linkstamp cannot open events file '\(events)'"), "\(result.stderr)")
                #expect(result.stdout.isEmpty, "\(output)")
                #expect(contents(home + "/out").allSatisfy { $0 == "envelopes.jsonl" }, "\(contents(home + "/out"))")
                #expect(
                    ((try? Data(contentsOf: URL(fileURLWithPath: home + "/out/envelopes.jsonl"))) ?? Data()).isEmpty)
                #expect(!contents(home).contains { $0.hasPrefix("got-") }, "sendmail must not be run")
            }
        }
    }

    @Test func failedPublishingTakesTheEventsBack() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let events = home + "/events"
        try Data("{\"earlier\":1}\n".utf8).write(to: URL(fileURLWithPath: events))
        // A descriptor open for reading only: the Batch SMTP write fails with EBADF.
        let descriptor = open(events, O_RDONLY)
        defer { close(descriptor) }
        let engine = try Fixture.engine()
        #expect(throws: SMTPReply.self) {
            try Filter.run(
                message: try Corpus.bundled("receipt.eml"),
                envelope: Envelope(sender: "s@example.com", recipients: ["r@example.org"]),
                engine: engine, output: .batchSMTP(fileDescriptor: descriptor), eventsPath: events)
        }
        #expect(try String(contentsOfFile: events, encoding: .utf8) == "{\"earlier\":1}\n")
    }

    @Test func outDirWithEventsPublishesCopiesEnvelopesAndEventsTogether() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            [
                "filter", "-f", "s@example.com", "--out-dir", home + "/out", "--events", home + "/events", "--",
                "r@example.org", "q@example.org",
            ],
            stdin: try Corpus.bundled("receipt.eml"), configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(contents(home + "/out").count == 3, "two copies and envelopes.jsonl, no staging folder left")
        #expect(try eventBodies(home + "/events").count == 2)
    }

    // MARK: - Item 6: a failed append leaves whole lines only

    @Test func shortAppendIsTruncatedBack() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let path = home + "/events"
        try Data("{\"a\":1}\n".utf8).write(to: URL(fileURLWithPath: path))
        var file = try AppendFile(path: path, role: "events file")
        // Writes a few bytes, then the disk is full.
        file.writeFunction = { descriptor, bytes, count in
            if count > 5 { return write(descriptor, bytes, 5) }
            errno = ENOSPC
            return -1
        }
        #expect(throws: SMTPReply.self) { try file.append(lines: ["{\"b\":2}", "{\"c\":3}"]) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"a\":1}\n")
        file.close()

        var again = try AppendFile(path: path, role: "events file")
        try again.append(lines: ["{\"d\":4}"])
        again.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"a\":1}\n{\"d\":4}\n")
    }

    @Test func fullDiskIsATemporaryFailureWithNothingPublished() throws {
        guard FileManager.default.isWritableFile(atPath: "/dev/full") else { return }
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            [
                "filter", "-f", "s@example.com", "--events", "/dev/full", "--out-dir", home + "/out", "--",
                "r@example.org",
            ],
            stdin: try Corpus.bundled("receipt.eml"), configHome: home)
        #expect(result.status == 75)
        #expect(
            result.stderr.hasPrefix("4.3.0 linkstamp cannot append to events file '/dev/full': "), "\(result.stderr)")
        #expect(contents(home + "/out").allSatisfy { $0 == "envelopes.jsonl" })
    }

    // MARK: - Item 11: the command line

    @Test func tenThousandRecipientsAreParsedQuickly() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let recipients = (0..<10_000).map { "reader\($0)@example.org" }
        // A configuration that cannot be read: the run ends right after parsing.
        let start = Date()
        let result = try run(
            ["filter", "-f", "s@example.com", "--config", home + "/none", "--"] + recipients, configHome: home)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 75)
        #expect(result.stderr.hasPrefix("4.3.5 "))
        #expect(elapsed < 1, "10,000 recipients took \(elapsed) s")
    }

    @Test func tooManyRecipientsAreRefusedQuickly() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let start = Date()
        let result = try run(
            ["filter", "-f", "s@example.com", "--"] + Array(repeating: "a@b", count: 100_001), configHome: home)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 65)
        #expect(
            result.stderr.hasPrefix("5.5.3 too many recipients: 100001 (at most 100000 copies per message)"),
            "\(result.stderr)")
        #expect(elapsed < 1, "100,001 recipients took \(elapsed) s")
    }

    @Test func recipientsBeforeTheSeparatorStillWork() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["filter", "a@example.org", "-f", "s@example.com", "b@example.org", "--", "c@example.org"],
            stdin: try Corpus.bundled("receipt.eml"), configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        let recipients = result.stdout.text.components(separatedBy: "\r\n").filter { $0.hasPrefix("RCPT TO:") }
        #expect(recipients == ["RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>"])
    }

    @Test func outDirWithAMissingParentIsRefused() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["filter", "-f", "s@example.com", "--out-dir", home + "/typo/out", "--", "r@example.org"],
            stdin: try Corpus.bundled("receipt.eml"), configHome: home)
        #expect(result.status == 75)
        #expect(
            result.stderr.hasPrefix("4.3.0 linkstamp cannot create output folder '\(home)/typo/out'"),
            "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home + "/typo"))
    }

    @Test func decodeAndKeygenExitLikeFilterOnABadConfiguration() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try "tracking_domian = x.example\n".write(toFile: home + "/conf", atomically: true, encoding: .utf8)
        for arguments in [
            ["decode", "--config", home + "/conf", "https://x.example/u/AAAA"], ["keygen", "--config", home + "/conf"],
        ] {
            let result = try run(arguments, configHome: home)
            #expect(result.status == 75, "\(arguments[0])")
            #expect(
                result.stderr.hasPrefix("4.3.5 linkstamp configuration line 1: unknown key 'tracking_domian'"),
                "\(result.stderr)")
        }
        // A key ring that cannot be read is a configuration problem too.
        try "key_ring = \(home)/no-such-ring\n".write(toFile: home + "/ring.conf", atomically: true, encoding: .utf8)
        let decode = try run(["decode", "--config", home + "/ring.conf", "https://x.example/u/AAAA"], configHome: home)
        #expect(decode.status == 75)
        #expect(decode.stderr.hasPrefix("4.3.5 "))
    }

    @Test func keygenRefusesRotateWithForce() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(try run(["keygen"], configHome: home).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: home + "/linkstamp/keys"))
        let result = try run(["keygen", "--rotate", "--force"], configHome: home)
        #expect(result.status == 64)
        #expect(try Data(contentsOf: URL(fileURLWithPath: home + "/linkstamp/keys")) == before)
    }

    @Test func benchWorksOutsideThePackage() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try runShell(
            "", ["bench", "--iterations", "1", "--recipients", "1", "--phase", "memcpy", "--json"], configHome: home,
            directory: home)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any]
        #expect((object?["corpus"] as? String)?.hasSuffix("/corpus") == true)
    }

    @Test func benchThreadsReportsScalingAgainstOneThread() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["bench", "--iterations", "1", "--recipients", "2", "--threads", "2", "--json"], configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any])
        #expect(object["threads"] as? Int == 2)
        #expect((object["scaling"] as? Double ?? 0) > 0)
        #expect((object["messages_per_s_1_thread"] as? Double ?? 0) > 0)
        #expect((object["cpu_us_per_message"] as? Double ?? 0) > 0)
        // Every input is taken by exactly one thread.
        let single = try run(["bench", "--iterations", "1", "--recipients", "2", "--json"], configHome: home)
        let one = try #require(try JSONSerialization.jsonObject(with: Data(single.stdout)) as? [String: Any])
        #expect(object["messages"] as? Int == one["messages"] as? Int)
        #expect(object["copies"] as? Int == one["copies"] as? Int)
        #expect(one["scaling"] == nil)
        #expect(result.stderr.contains("2 threads: "))
        // glibc malloc's own thresholds (--default-malloc) change the clock, never the work done.
        let plain = try run(
            ["bench", "--iterations", "1", "--recipients", "2", "--threads", "2", "--default-malloc", "--json"],
            configHome: home)
        #expect(plain.status == 0, "\(plain.stderr)")
        let untuned = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout)) as? [String: Any])
        #expect(untuned["messages"] as? Int == one["messages"] as? Int)
        #expect(untuned["copies"] as? Int == one["copies"] as? Int)
        #expect(untuned["output_bytes"] as? Int == object["output_bytes"] as? Int)
        #expect(try run(["bench", "--threads", "0"], configHome: home).status == 64)
    }

    @Test func benchSealPhaseCountsOneTokenPerCopy() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["bench", "--iterations", "1", "--recipients", "3", "--phase", "seal", "--json"], configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any])
        let copies = try #require(object["copies"] as? Int)
        #expect(copies > 0)
        // A recipient segment (token and kind tag) is at least the shortest token.
        #expect((object["output_bytes"] as? Int ?? 0) >= copies * 50)
    }

    @Test func helpNamesTheSenderExitCodesAndKeyRing() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        // Help is wrapped at the terminal width: compare with single spaces.
        func flat(_ text: String) -> String {
            text.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
        }
        let filter = flat(try run(["filter", "--help"], configHome: home).stdout.text)
        #expect(filter.contains("-f <SENDER>"))
        #expect(!filter.contains("-f <f>"))
        #expect(filter.contains("75 (EX_TEMPFAIL)"))
        #expect(filter.contains("~/.config/linkstamp/keys"))
        let root = flat(try run(["--help"], configHome: home).stdout.text)
        #expect(root.contains("Exit codes"))
        #expect(root.contains("$XDG_CONFIG_HOME/linkstamp/keys"))
    }

    // MARK: - Item 12: no tracking domain, one warning

    @Test func missingTrackingDomainWarnsOnceAndEventsSaySo() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("newsletter.eml")
        let demo = try run(
            ["filter", "-f", "s@example.com", "--events", home + "/events", "--", "r@example.org", "q@example.org"],
            stdin: message, configHome: home)
        #expect(demo.status == 0, "\(demo.stderr)")
        let lines = demo.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("linkstamp: warning: no tracking_domain configured") == true)
        let unconfigured = try eventBodies(home + "/events")
        #expect(unconfigured.count >= 2)
        #expect(unconfigured.allSatisfy { $0["tracking_domain_configured"] as? Bool == false })

        try "tracking_domain = click.example.com\n".write(toFile: home + "/conf", atomically: true, encoding: .utf8)
        let configured = try run(
            [
                "filter", "-f", "s@example.com", "--config", home + "/conf", "--events", home + "/events2", "--",
                "r@example.org",
            ],
            stdin: message, configHome: home)
        #expect(configured.status == 0)
        #expect(configured.stderr.isEmpty, "\(configured.stderr)")
        #expect(try eventBodies(home + "/events2").allSatisfy { $0["tracking_domain_configured"] as? Bool == true })
    }

    @Test func refusalKeepsTheReplyFirstAndStillWarnsOnce() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["filter", "-f", "bad sender", "--", "r@example.org"], stdin: try Corpus.bundled("receipt.eml"),
            configHome: home)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("5.1.7 ") == true)
        #expect(lines.last?.hasPrefix("linkstamp: warning: ") == true)
    }
}

/// The Batch SMTP stream is staged in memory, then in a temporary file past a limit.
@Suite struct SpoolTests {
    @Test func spilledStreamIsPublishedWhole() throws {
        let folder = NSTemporaryDirectory() + "linkstamp-spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var spool = Spool()
        spool.memoryLimit = 1000
        var expected: [UInt8] = []
        for index in 0..<3000 {
            let piece = Array("copy \(index) \(String(repeating: "x", count: index % 97))\r\n".utf8)
            expected += piece
            try spool.append(piece)
        }
        #expect(spool.file >= 0, "the stream went to a temporary file")
        #expect(spool.buffer.count < 1000)
        let path = folder + "/out"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try spool.publish(to: descriptor)
        close(descriptor)
        spool.close()
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
    }
}
