import Foundation
import TestSupport
import Testing

@testable import SMTPDoor

/// `linkstamp smtpd-passwd` and `linkstamp smtpd`'s setup errors, through the built executable.
@Suite struct SMTPDoorCommandTests {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ arguments: [String], stdin: String = "", directory: String) throws -> Outcome {
        let result = try LinkstampBinary.run(
            arguments, stdin: Array(stdin.utf8), environment: ["XDG_CONFIG_HOME": directory], directory: directory)
        return Outcome(
            status: result.status, stdout: String(decoding: result.stdout, as: UTF8.self), stderr: result.stderr)
    }

    func scratch() throws -> String {
        let path = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("smtpd-cli-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func passwdPrintsALineTheCredentialsFileAccepts() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try run(["smtpd-passwd", "sender1"], stdin: "s3cret pass\n", directory: directory)
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("sender1:$scrypt$ln=15,r=8,p=1$"))
        let credentials = try SMTPCredentials(parsing: result.stdout)
        let hash = try #require(credentials.users["sender1"])
        #expect(hash.salt.count == 16 && hash.hash.count == 32)
        #expect(hash.verify(Array("s3cret pass".utf8)))
        #expect(!hash.verify(Array("s3cret pass\n".utf8)))
    }

    @Test func passwdRefusesBadUsersAndNoPassword() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try run(["smtpd-passwd", "a:b"], stdin: "x\n", directory: directory).status == 64)
        let empty = try run(["smtpd-passwd", "sender1"], stdin: "", directory: directory)
        #expect(empty.status == 65)
        #expect(empty.stderr.contains("no password on standard input"))
        #expect(empty.stdout.isEmpty)
    }

    @Test func smtpdWithAnUnusableCertificateOrCredentialsExits75() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "smtpd_tls_certificate = missing.pem\nsmtpd_tls_key = missing.key\n".write(
            toFile: directory + "/tls.conf", atomically: true, encoding: .utf8)
        let tls = try run(
            ["smtpd", "--config", directory + "/tls.conf", "--relay", "127.0.0.1:9", "--listen", "127.0.0.1:0"],
            directory: directory)
        #expect(tls.status == 75)
        #expect(tls.stderr.contains("cannot read TLS certificate '"))
        #expect(tls.stderr.contains("/missing.pem'"))

        try "sender1:plaintext\n".write(toFile: directory + "/users", atomically: true, encoding: .utf8)
        try "smtpd_credentials = users\nsmtpd_auth_allow_plaintext = yes\n".write(
            toFile: directory + "/auth.conf", atomically: true, encoding: .utf8)
        let auth = try run(
            ["smtpd", "--config", directory + "/auth.conf", "--relay", "127.0.0.1:9", "--listen", "127.0.0.1:0"],
            directory: directory)
        #expect(auth.status == 75)
        #expect(auth.stderr.contains("credentials line 1"))
    }
}
