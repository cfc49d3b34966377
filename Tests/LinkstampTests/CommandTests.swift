import Foundation
import TestSupport
import Testing

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// The `linkstamp` executable as a relay runs it: exit codes, stderr, stdout, files.
@Suite struct CommandTests {
    static var executable: URL? { LinkstampBinary.url }

    typealias Result = LinkstampBinary.Result

    func run(_ arguments: [String], stdin: [UInt8] = [], configHome: String) throws -> Result {
        guard Self.executable != nil else {
            Issue.record("the linkstamp executable is not built (swift build first)")
            return Result(status: -1, stdout: [], stderr: "")
        }
        return try LinkstampBinary.run(arguments, stdin: stdin, environment: ["XDG_CONFIG_HOME": configHome])
    }

    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "linkstamp-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func refusedMessageExits65WithTheReplyAndWritesNothing() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["filter", "-f", "s@example.com", "--events", home + "/events", "--", "r@example.org"],
            stdin: try Corpus.bundled("invalid-header.eml"), configHome: home)
        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        #expect(
            result.stderr.hasPrefix(
                "5.6.0 JSON parsing error in X-MSYS-API: expected ',' or ']' after array element at byte"))
        #expect(!FileManager.default.fileExists(atPath: home + "/events"))
    }

    @Test func filterWorksWithNoConfigurationAndDecodeReadsTheSameRing() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = try run(
            ["filter", "-f", "news@acme.example", "--", "reader@example.org"],
            stdin: try Corpus.bundled("newsletter.eml"), configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.text.hasPrefix("MAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n"))
        #expect(result.stdout.text.components(separatedBy: "\r\nDATA\r\n").count == 5)
        let attributes = try FileManager.default.attributesOfItem(atPath: home + "/linkstamp/keys")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let folder = try FileManager.default.attributesOfItem(atPath: home + "/linkstamp")
        #expect((folder[.posixPermissions] as? Int) == 0o700)

        let text = result.stdout.text
        guard let start = text.range(of: "List-Unsubscribe: <https://links.linkstamp.invalid/u/") else {
            Issue.record("no List-Unsubscribe")
            return
        }
        let rest = text[start.upperBound...]
        let token = String(rest.prefix { $0 != ">" })
        let url = "https://links.linkstamp.invalid/u/" + token
        let decoded = try run(["decode", url], configHome: home)
        #expect(decoded.status == 0, "\(decoded.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(decoded.stdout)) as? [String: Any]
        #expect(object?["type"] as? String == "list_unsubscribe")
        #expect(object?["rcpt_to"] as? String == "reader@example.org")

        // A forged token is refused; a rotated ring still decodes the old one.
        var forged = Array(url.utf8)
        forged[forged.count - 5] = forged[forged.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let refused = try run(["decode", String(decoding: forged, as: UTF8.self)], configHome: home)
        #expect(refused.status == 65)
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.contains("refused"))
        let rotate = try run(["keygen", "--rotate"], configHome: home)
        #expect(rotate.status == 0, "\(rotate.stderr)")
        #expect(try run(["decode", url], configHome: home).status == 0)
        let again = try run(["keygen"], configHome: home)
        #expect(again.status == 73, "keygen never overwrites a ring silently")
    }

    @Test func badConfigurationIsATemporaryFailure() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try "tracking_domian = x.example\n".write(toFile: home + "/conf", atomically: true, encoding: .utf8)
        let result = try run(
            ["filter", "-f", "", "--config", home + "/conf", "--", "r@example.org"],
            stdin: Array("Subject: x\n\nBody\n".utf8), configHome: home)
        #expect(result.status == 75)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("4.3.5 "))
        #expect(result.stderr.contains("unknown key 'tracking_domian'"))
    }

    @Test func missingRecipientsIsAUsageError() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(
            try run(["filter", "-f", "s@example.com"], stdin: Array("Subject: x\n\nB\n".utf8), configHome: home).status
                == 64)
    }

    @Test func outDirKeepsLineEndsOfAnLFMessage() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let message = try Corpus.bundled("receipt.eml")
        let result = try run(
            ["filter", "-f", "billing@acme.example", "--out-dir", home + "/out", "--", "customer@example.org"],
            stdin: message, configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: home + "/out").sorted()
        #expect(names.count == 2)
        let copy = Array(try Data(contentsOf: URL(fileURLWithPath: home + "/out/" + names[0])))
        #expect(copy == removingField("X-MSYS-API", from: message))
    }

    @Test func sendmailReinjectsEachCopyAndFailureDefers() throws {
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let fake = home + "/sendmail"
        try """
        #!/bin/sh
        n=$(ls "\(home)"/got-* 2>/dev/null | wc -l)
        echo "$@" > "\(home)/args-$n"
        cat > "\(home)/got-$n"
        """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let message = try Corpus.bundled("receipt.eml")
        let result = try run(
            ["filter", "-f", "billing@acme.example", "--sendmail", fake, "--", "a@example.org", "b@example.org"],
            stdin: message, configHome: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(
            try String(contentsOfFile: home + "/args-0", encoding: .utf8)
                == "-G -i -f billing@acme.example -- a@example.org\n")
        #expect(
            try String(contentsOfFile: home + "/args-1", encoding: .utf8)
                == "-G -i -f billing@acme.example -- b@example.org\n")
        #expect(
            Array(try Data(contentsOf: URL(fileURLWithPath: home + "/got-1")))
                == removingField("X-MSYS-API", from: message))

        try "#!/bin/sh\ncat > /dev/null\nexit 75\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let failed = try run(
            ["filter", "-f", "s@example.com", "--sendmail", fake, "--", "a@example.org"], stdin: message,
            configHome: home)
        #expect(failed.status == 75)
        #expect(failed.stderr.hasPrefix("4.3.0 "))
    }
}
