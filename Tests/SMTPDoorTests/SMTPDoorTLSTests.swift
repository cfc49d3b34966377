import Foundation
import Linkstamp
import NIOCore
import NIOPosix
import NIOSSL
import SMTPAPI
import Synchronization
import Testing
import Tracking

@testable import SMTPDoor

/// A throw-away self-signed certificate for `door.test`, made with the `openssl` CLI at test time
/// (nothing secret is committed). `nil` without `openssl`.
enum TestCertificate {
    struct Files: Sendable {
        let directory: String
        let certificate: String
        let key: String
    }

    static let files: Files? = make()

    /// Tests that need it run when it exists, and also whenever `CI` is set (there a missing
    /// `openssl` must fail, not skip: scripts/bootstrap.d/smtpd-tls.sh installs it).
    static var usable: Bool { files != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    static func make() -> Files? {
        let directory = NSTemporaryDirectory() + "/smtpd-tls-\(UInt64.random(in: 0...UInt64.max))"
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil
        else { return nil }
        let files = Files(directory: directory, certificate: directory + "/cert.pem", key: directory + "/key.pem")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", files.key, "-out", files.certificate, "-days", "3650", "-subj", "/CN=door.test",
            "-addext", "subjectAltName=DNS:door.test",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: files.certificate) else {
            return nil
        }
        return files
    }

    /// A client context that trusts only the test certificate and checks the name `door.test`.
    static func clientContext() throws -> NIOSSLContext {
        let files = try #require(files, "the openssl CLI is needed to make the test certificate")
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(files.certificate))
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A NIO client whose pipeline can take TLS in the middle of the conversation, as STARTTLS needs.
/// Every wait suspends (never blocks a thread): the door's deliveries run on the same cooperative
/// threads as the tests.
final class TLSLineClient: Sendable {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(unwrapInboundIn(data).readableBytesView)
            state.withLock { $0.bytes += bytes }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    let collector: Collector

    init(port: Int) async throws {
        let collector = Collector()
        self.collector = collector
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
    }

    deinit { channel.close(promise: nil) }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text)).get()
    }

    /// Puts TLS in front; the handshake starts at once.
    func startTLS() async throws {
        let context = try TestCertificate.clientContext()
        let channel = self.channel
        try await channel.eventLoop.submit {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: "door.test")
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }

    /// One whole reply (all its lines, joined by LF); `nil` when the connection closed first.
    func reply(timeout: Duration = .seconds(300)) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let found: String? = collector.state.withLock { state in
                var start = 0
                while let lf = state.bytes[start...].firstIndex(of: 0x0A) {
                    let line = state.bytes[start..<lf]
                    start = lf + 1
                    if line.count < 4 || line[line.startIndex + 3] == UInt8(ascii: " ") {
                        let text = String(decoding: state.bytes[..<start], as: UTF8.self)
                        state.bytes.removeFirst(start)
                        return text.replacingOccurrences(of: "\r\n", with: "\n").trimmingCharacters(in: .newlines)
                    }
                }
                return nil
            }
            if let found { return found }
            if collector.state.withLock({ $0.closed }) { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestFailure("no reply within \(timeout)")
    }

    /// `true` once the server closed the connection (whatever it sent before).
    func closes(timeout: Duration = .seconds(300)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if collector.state.withLock({ $0.closed }) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
}

/// STARTTLS and AUTH through real sockets on 127.0.0.1, with a NIOSSL client.
@Suite(.serialized) struct SMTPDoorTLSTests {
    static let keyRing = KeyRing.generate()
    static let password = "correct horse battery staple"

    struct Rig: Sendable {
        let door: SMTPDoorServer
        let sink: SinkServer
        let port: Int
        let log: Locked<[String]>

        func stop() async {
            await door.shutdown(graceSeconds: 5)
            await sink.close()
        }

        func logged(_ text: String) -> Bool { log.withLock { $0.contains { $0.contains(text) } } }

        func client() async throws -> TLSLineClient { try await TLSLineClient(port: port) }
    }

    func rig(
        tls: Bool = true, tlsRequired: Bool = false, authRequired: Bool = false, authWithoutTLS: Bool = false
    ) async throws -> Rig {
        var configuration = Configuration()
        configuration.trackingDomain = "t.example.net"
        let engine = try Engine(configuration: configuration, keyRing: SMTPDoorTLSTests.keyRing)
        var settings = SMTPDoorServer.Settings()
        settings.port = 0
        settings.hostname = "door.test"
        // In a full `swift test` run blocking tests can hold every cooperative thread (two on a
        // 2-core machine) for a long while, and this test's client resumes on those threads: the
        // door must not time it out meanwhile. Idle timeouts are tested in SMTPDoorServerTests.
        settings.limits.idleTimeoutSeconds = 900
        if tls {
            let files = try #require(TestCertificate.files, "the openssl CLI is needed to make the test certificate")
            settings.tls = try SMTPDoorTLS.serverContext(certificatePath: files.certificate, keyPath: files.key)
        }
        settings.tlsRequired = tlsRequired
        settings.authRequired = authRequired
        settings.authWithoutTLS = authWithoutTLS
        // A cheap cost keeps the test quick; the path is the same as at ln=15.
        let hash = try SMTPPasswordHash(password: Array(SMTPDoorTLSTests.password.utf8), logN: 10)
        settings.authenticator = SMTPAuthenticator(credentials: SMTPCredentials(users: ["sender1": hash]))
        let log = Locked<[String]>([])
        let group = MultiThreadedEventLoopGroup.singleton
        let sink = try await SinkServer(group: group)
        let relay = RelayClient(host: "127.0.0.1", port: sink.port, heloName: "door.test", group: group)
        let delivery = MessageDelivery(
            engine: engine, relay: relay, eventsPath: nil, log: { line in log.withLock { $0.append(line) } })
        let door = SMTPDoorServer(settings: settings, delivery: delivery, group: group)
        let address = try await door.start()
        return Rig(door: door, sink: sink, port: address.port ?? 0, log: log)
    }

    func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test(.enabled(if: TestCertificate.usable, "the openssl CLI is not installed"))
    func startTLSThenAuthThenRelay() async throws {
        let rig = try await rig(tlsRequired: true, authRequired: true)
        let client = try await rig.client()
        #expect(try await client.reply()?.hasPrefix("220 door.test") == true)
        try await client.send("EHLO app.test\r\n")
        let plainEHLO = try #require(try await client.reply())
        #expect(plainEHLO.hasSuffix("250 STARTTLS"))
        #expect(!plainEHLO.contains("AUTH"))
        try await client.send("MAIL FROM:<news@acme.example>\r\n")
        #expect(try await client.reply() == "530 5.7.0 Must issue a STARTTLS command first")
        try await client.send("AUTH PLAIN \(base64("\0sender1\0\(SMTPDoorTLSTests.password)"))\r\n")
        #expect(try await client.reply() == "530 5.7.0 Must issue a STARTTLS command first")

        try await client.send("STARTTLS\r\n")
        #expect(try await client.reply() == "220 2.0.0 Ready to start TLS")
        try await client.startTLS()
        try await client.send("EHLO app.test\r\n")
        let tlsEHLO = try #require(try await client.reply())
        #expect(tlsEHLO.hasSuffix("250 AUTH PLAIN LOGIN"))
        #expect(!tlsEHLO.contains("STARTTLS"))
        try await client.send("MAIL FROM:<news@acme.example>\r\n")
        #expect(try await client.reply() == "530 5.7.0 Authentication required")

        // A wrong password, then the right one with LOGIN.
        try await client.send("AUTH PLAIN \(base64("\0sender1\0wrong"))\r\n")
        #expect(try await client.reply() == "535 5.7.8 Error: authentication failed")
        try await client.send("AUTH LOGIN\r\n")
        #expect(try await client.reply() == "334 VXNlcm5hbWU6")
        try await client.send("\(base64("sender1"))\r\n")
        #expect(try await client.reply() == "334 UGFzc3dvcmQ6")
        try await client.send("\(base64(SMTPDoorTLSTests.password))\r\n")
        #expect(try await client.reply() == "235 2.7.0 Authentication successful")

        try await client.send("MAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n")
        #expect(try await client.reply() == "250 2.1.0 Ok")
        #expect(try await client.reply() == "250 2.1.5 Ok")
        #expect(try await client.reply()?.hasPrefix("354") == true)
        try await client.send("From: news@acme.example\r\nSubject: hi\r\n\r\nHello\r\n.\r\n")
        #expect(try await client.reply()?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        try await client.send("QUIT\r\n")
        #expect(try await client.reply() == "221 2.0.0 Bye")
        #expect(rig.sink.received.withLock { $0.map(\.recipients) } == [["reader@example.org"]])
        #expect(rig.logged("auth failed user=<sender1>"))
        #expect(rig.logged("auth ok user=<sender1>"))
        #expect(rig.logged("user=<sender1>: 250 2.0.0 Ok: queued as "))
        await rig.stop()
    }

    @Test(.enabled(if: TestCertificate.usable, "the openssl CLI is not installed"))
    func commandsPipelinedAfterStartTLSAreDiscarded() async throws {
        let rig = try await rig()
        let client = try await rig.client()
        #expect(try await client.reply()?.hasPrefix("220 door.test") == true)
        try await client.send("EHLO app.test\r\n")
        _ = try await client.reply()
        // CVE-2011-0411: a man in the middle appends plaintext commands to STARTTLS.
        try await client.send("STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@x.test>\r\n")
        #expect(try await client.reply() == "220 2.0.0 Ready to start TLS")
        // Had the door answered them in plaintext, this handshake would fail.
        try await client.startTLS()
        // Had it run them after TLS, this RCPT would be accepted (and EHLO's reply come first).
        try await client.send("RCPT TO:<reader@example.org>\r\n")
        #expect(try await client.reply() == "503 5.5.1 Error: need MAIL command")
        try await client.send("MAIL FROM:<news@acme.example>\r\n")
        #expect(try await client.reply() == "503 5.5.1 Error: send HELO/EHLO first")
        #expect(rig.sink.received.withLock { $0.isEmpty })
        await rig.stop()
    }

    @Test(.enabled(if: TestCertificate.usable, "the openssl CLI is not installed"))
    func failedHandshakeClosesTheConnectionAndTheDoorKeepsServing() async throws {
        let rig = try await rig()
        let client = try await rig.client()
        #expect(try await client.reply()?.hasPrefix("220 door.test") == true)
        try await client.send("EHLO app.test\r\nSTARTTLS\r\n")
        _ = try await client.reply()
        #expect(try await client.reply() == "220 2.0.0 Ready to start TLS")
        try await client.send("this is not a TLS ClientHello\r\n")
        #expect(try await client.closes())
        let deadline = ContinuousClock.now + .seconds(30)
        while !rig.logged("TLS handshake with") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(rig.logged("TLS handshake with"))
        // The next client is served, through TLS too.
        let next = try await rig.client()
        #expect(try await next.reply()?.hasPrefix("220 door.test") == true)
        try await next.send("STARTTLS\r\n")
        #expect(try await next.reply() == "220 2.0.0 Ready to start TLS")
        try await next.startTLS()
        try await next.send("NOOP\r\n")
        #expect(try await next.reply() == "250 2.0.0 Ok")
        await rig.stop()
    }

    @Test func plaintextAuthOnlyWhenAllowedAndFailuresEndTheConnection() async throws {
        // Credentials without TLS and without smtpd_auth_allow_plaintext: AUTH is 538.
        let closed = try await rig(tls: false)
        let refused = try await closed.client()
        _ = try await refused.reply()
        try await refused.send("EHLO app.test\r\n")
        #expect(try await refused.reply()?.contains("AUTH") == false)
        try await refused.send("AUTH PLAIN \(base64("\0sender1\0\(SMTPDoorTLSTests.password)"))\r\n")
        #expect(try await refused.reply() == "538 5.7.11 Encryption required for requested authentication mechanism")
        await closed.stop()

        let open = try await rig(tls: false, authWithoutTLS: true)
        let client = try await open.client()
        _ = try await client.reply()
        try await client.send("EHLO app.test\r\n")
        #expect(try await client.reply()?.hasSuffix("250 AUTH PLAIN LOGIN") == true)
        try await client.send("AUTH PLAIN \(base64("\0sender1\0\(SMTPDoorTLSTests.password)"))\r\n")
        #expect(try await client.reply() == "235 2.7.0 Authentication successful")

        let guesser = try await open.client()
        _ = try await guesser.reply()
        try await guesser.send("EHLO app.test\r\n")
        _ = try await guesser.reply()
        for guess in ["a", "b"] {
            try await guesser.send("AUTH PLAIN \(base64("\0sender1\0\(guess)"))\r\n")
            #expect(try await guesser.reply() == "535 5.7.8 Error: authentication failed")
        }
        try await guesser.send("AUTH PLAIN \(base64("\0nobody\0c"))\r\n")
        #expect(try await guesser.reply() == "535 5.7.8 Error: authentication failed")
        #expect(try await guesser.reply() == "421 4.7.0 door.test Error: too many authentication failures")
        #expect(try await guesser.closes())
        await open.stop()
    }
}

/// `smtpd_tls_*`, `smtpd_credentials` and `smtpd_auth_*` read at start: what cannot work is a
/// setup error (the command exits 75 with its text).
@Suite struct SMTPDoorSecuritySetupTests {
    func configuration(_ text: String) throws -> Configuration { try Configuration(parsing: text) }

    func setupError(_ text: String) async throws -> String? {
        var settings = SMTPDoorServer.Settings()
        let configuration = try configuration(text)
        do {
            try settings.configureSecurity(from: configuration)
        } catch {
            return error.description
        }
        await settings.authenticator?.shutdown()
        return nil
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "/smtpd-setup-\(UInt64.random(in: 0...UInt64.max))"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func keysAreRead() async throws {
        let configuration = try configuration(
            """
            smtpd_tls_certificate = /etc/linkstamp/cert.pem
            smtpd_tls_key = /etc/linkstamp/key.pem
            smtpd_tls_required = yes
            smtpd_credentials = /etc/linkstamp/smtpd-users
            smtpd_auth_required = true
            smtpd_auth_allow_plaintext = false
            """)
        #expect(configuration.smtpdTLSCertificatePath == "/etc/linkstamp/cert.pem")
        #expect(configuration.smtpdTLSKeyPath == "/etc/linkstamp/key.pem")
        #expect(configuration.smtpdTLSRequired)
        #expect(configuration.smtpdCredentialsPath == "/etc/linkstamp/smtpd-users")
        #expect(configuration.smtpdAuthRequired)
        #expect(!configuration.smtpdAuthAllowPlaintext)
        #expect(try await setupError("") == nil)
    }

    @Test func combinationsThatCannotWorkAreRefused() async throws {
        let users = try temporaryFile("sender1:$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n")
        let empty = try temporaryFile("# nobody yet\n")
        defer {
            try? FileManager.default.removeItem(atPath: users)
            try? FileManager.default.removeItem(atPath: empty)
        }
        #expect(
            try await setupError("smtpd_tls_certificate = /x.pem")
                == "smtpd_tls_certificate and smtpd_tls_key must be set together")
        #expect(
            try await setupError("smtpd_tls_required = true")
                == "smtpd_tls_required needs smtpd_tls_certificate and smtpd_tls_key")
        #expect(try await setupError("smtpd_auth_required = true") == "smtpd_auth_required needs smtpd_credentials")
        #expect(
            try await setupError("smtpd_credentials = \(users)")?.hasPrefix("smtpd_credentials needs STARTTLS") == true)
        #expect(
            try await setupError("smtpd_credentials = \(empty)\nsmtpd_auth_allow_plaintext = true")?.hasSuffix(
                "lists no user") == true)
        #expect(
            try await setupError("smtpd_credentials = /nonexistent\nsmtpd_auth_allow_plaintext = true")
                == "cannot read credentials file '/nonexistent'")
        #expect(try await setupError("smtpd_credentials = \(users)\nsmtpd_auth_allow_plaintext = true") == nil)
    }

    @Test(.enabled(if: TestCertificate.usable, "the openssl CLI is not installed"))
    func unreadableOrInvalidCertificatesAreSetupErrors() async throws {
        let files = try #require(TestCertificate.files)
        let garbage = try temporaryFile("not PEM at all\n")
        let otherKey = NSTemporaryDirectory() + "/smtpd-other-key-\(UInt64.random(in: 0...UInt64.max)).pem"
        defer {
            try? FileManager.default.removeItem(atPath: garbage)
            try? FileManager.default.removeItem(atPath: otherKey)
        }
        #expect(
            try await setupError("smtpd_tls_certificate = /nonexistent.pem\nsmtpd_tls_key = \(files.key)")
                == "cannot read TLS certificate '/nonexistent.pem'")
        #expect(
            try await setupError("smtpd_tls_certificate = \(files.certificate)\nsmtpd_tls_key = /nonexistent.pem")
                == "cannot read TLS key '/nonexistent.pem'")
        #expect(
            try await setupError("smtpd_tls_certificate = \(garbage)\nsmtpd_tls_key = \(files.key)")?
                .hasPrefix("TLS certificate '\(garbage)'") == true)
        #expect(
            try await setupError("smtpd_tls_certificate = \(files.certificate)\nsmtpd_tls_key = \(garbage)")?
                .hasPrefix("TLS key '\(garbage)' is not a PEM private key") == true)
        // A key that is not the certificate's.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", otherKey,
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(
            try await setupError("smtpd_tls_certificate = \(files.certificate)\nsmtpd_tls_key = \(otherKey)")?
                .contains("cannot be used together") == true)
        #expect(
            try await setupError("smtpd_tls_certificate = \(files.certificate)\nsmtpd_tls_key = \(files.key)") == nil)
    }
}
