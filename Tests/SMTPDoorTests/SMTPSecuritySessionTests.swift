import Foundation
import Linkstamp
import NIOCore
import NIOPosix
import SMTPAPI
import Testing

@testable import SMTPDoor

/// STARTTLS and AUTH in the state machine alone: bytes in, actions out.
@Suite struct SMTPSecuritySessionTests {
    func session(
        startTLS: Bool = true, auth: Bool = true, tlsRequired: Bool = false, authRequired: Bool = false,
        authWithoutTLS: Bool = false, _ configure: (inout SMTPServerLimits) -> Void = { _ in }
    ) -> SMTPServerSession {
        var limits = SMTPServerLimits()
        limits.maxMessageBytes = 1000
        configure(&limits)
        var security = SMTPServerSession.Security()
        security.startTLS = startTLS
        security.auth = auth
        security.tlsRequired = tlsRequired
        security.authRequired = authRequired
        security.authWithoutTLS = authWithoutTLS
        return SMTPServerSession(hostname: "door.test", limits: limits, security: security)
    }

    func sent(_ actions: [SMTPServerSession.Action]) -> String {
        actions.compactMap { action -> String? in
            if case .send(let bytes) = action { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }.joined()
    }

    /// User and password of the `.authenticate` action, if any.
    func authentication(_ actions: [SMTPServerSession.Action]) -> [String]? {
        for action in actions {
            if case .authenticate(let user, let password) = action {
                return [user, String(decoding: password, as: UTF8.self)]
            }
        }
        return nil
    }

    func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// A session past STARTTLS and a second EHLO.
    func overTLS(_ door: inout SMTPServerSession) {
        _ = door.receive(Array("EHLO c\r\nSTARTTLS\r\n".utf8))
        _ = door.receive(Array("EHLO c\r\n".utf8))
    }

    static let plainEHLO =
        "250-door.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"

    @Test func ehloOffersStartTLSBeforeTLSAndAuthOnlyAfter() {
        var door = session()
        #expect(sent(door.receive(Array("EHLO c\r\n".utf8))) == SMTPSecuritySessionTests.plainEHLO + "250 STARTTLS\r\n")
        let actions = door.receive(Array("STARTTLS\r\n".utf8))
        #expect(sent(actions) == "220 2.0.0 Ready to start TLS\r\n")
        #expect(actions.last == .startTLS)
        #expect(door.tlsActive)
        #expect(
            sent(door.receive(Array("EHLO c\r\n".utf8))) == SMTPSecuritySessionTests.plainEHLO
                + "250 AUTH PLAIN LOGIN\r\n")
        // Not configured: neither is offered, both are "not implemented".
        var plain = session(startTLS: false, auth: false)
        #expect(sent(plain.receive(Array("EHLO c\r\n".utf8))).hasSuffix("250 ENHANCEDSTATUSCODES\r\n"))
        #expect(sent(plain.receive(Array("STARTTLS\r\n".utf8))) == "502 5.5.1 Error: STARTTLS is not implemented\r\n")
        #expect(sent(plain.receive(Array("AUTH PLAIN\r\n".utf8))) == "502 5.5.1 Error: AUTH is not implemented\r\n")
    }

    @Test func inputPipelinedAfterStartTLSIsDiscarded() {
        var door = session()
        // CVE-2011-0411: commands sent in plaintext behind STARTTLS must not run "over TLS".
        let actions = door.receive(Array("EHLO c\r\nSTARTTLS\r\nEHLO evil\r\nMAIL FROM:<evil@x.test>\r\n".utf8))
        #expect(sent(actions).hasSuffix("250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n"))
        #expect(actions.last == .startTLS)
        // Split across reads the same: the rest of the chunk is gone, the session starts over.
        #expect(sent(door.receive(Array("RCPT TO:<b@y.test>\r\n".utf8))) == "503 5.5.1 Error: need MAIL command\r\n")
        #expect(
            sent(door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))) == "503 5.5.1 Error: send HELO/EHLO first\r\n")
    }

    @Test func startTLSRefusals() {
        var door = session()
        #expect(
            sent(door.receive(Array("EHLO c\r\nSTARTTLS now\r\n".utf8))).hasSuffix("501 5.5.4 Syntax: STARTTLS\r\n"))
        #expect(
            sent(door.receive(Array("MAIL FROM:<a@x.test>\r\nSTARTTLS\r\n".utf8)))
                == "250 2.1.0 Ok\r\n503 5.5.1 Error: MAIL transaction in progress\r\n")
        _ = door.receive(Array("RSET\r\nSTARTTLS\r\n".utf8))
        #expect(sent(door.receive(Array("STARTTLS\r\n".utf8))) == "503 5.5.1 Error: TLS already active\r\n")
    }

    @Test func tlsRequiredRefusesMailBeforeStartTLS() {
        var door = session(tlsRequired: true)
        #expect(
            sent(door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\n".utf8)))
                .hasSuffix("250 STARTTLS\r\n530 5.7.0 Must issue a STARTTLS command first\r\n"))
        #expect(sent(door.receive(Array("AUTH PLAIN\r\n".utf8))) == "530 5.7.0 Must issue a STARTTLS command first\r\n")
        overTLS(&door)
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))) == "250 2.1.0 Ok\r\n")
    }

    @Test func authBeforeTLSIsEncryptionRequiredUnlessAllowed() {
        var door = session()
        _ = door.receive(Array("EHLO c\r\n".utf8))
        #expect(
            sent(door.receive(Array("AUTH PLAIN \(base64("\0u\0p"))\r\n".utf8)))
                == "538 5.7.11 Encryption required for requested authentication mechanism\r\n")
        var loopback = session(startTLS: false, authWithoutTLS: true)
        #expect(sent(loopback.receive(Array("EHLO c\r\n".utf8))).hasSuffix("250 AUTH PLAIN LOGIN\r\n"))
        #expect(authentication(loopback.receive(Array("AUTH PLAIN \(base64("\0u\0p"))\r\n".utf8))) == ["u", "p"])
    }

    @Test func authPlainWithInitialResponseThenMail() {
        var door = session(authRequired: true)
        overTLS(&door)
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))) == "530 5.7.0 Authentication required\r\n")
        // MAIL pipelined behind AUTH waits for the check.
        let actions = door.receive(Array("AUTH PLAIN \(base64("\0sender1\0s3cret"))\r\nMAIL FROM:<a@x.test>\r\n".utf8))
        #expect(sent(actions) == "")
        #expect(authentication(actions) == ["sender1", "s3cret"])
        #expect(door.isBusy)
        #expect(door.idleTimeout().isEmpty)
        #expect(sent(door.authenticationFinished(true)) == "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n")
        #expect(door.authenticatedUser == "sender1")
        _ = door.receive(Array("RSET\r\n".utf8))
        #expect(sent(door.receive(Array("AUTH LOGIN\r\n".utf8))) == "503 5.5.1 Error: already authenticated\r\n")
    }

    @Test func authPlainAndLoginChallenges() {
        var door = session()
        overTLS(&door)
        #expect(sent(door.receive(Array("AUTH PLAIN\r\n".utf8))) == "334 \r\n")
        #expect(authentication(door.receive(Array("\(base64("sender1\0sender1\0pw"))\r\n".utf8))) == ["sender1", "pw"])
        #expect(sent(door.authenticationFinished(false)) == "535 5.7.8 Error: authentication failed\r\n")
        #expect(door.authenticatedUser == nil)

        #expect(sent(door.receive(Array("AUTH LOGIN\r\n".utf8))) == "334 VXNlcm5hbWU6\r\n")
        #expect(sent(door.receive(Array("\(base64("sender1"))\r\n".utf8))) == "334 UGFzc3dvcmQ6\r\n")
        #expect(authentication(door.receive(Array("\(base64("pw2"))\r\n".utf8))) == ["sender1", "pw2"])
        #expect(sent(door.authenticationFinished(true)) == "235 2.7.0 Authentication successful\r\n")

        // LOGIN with the user name as initial response (what many clients send).
        var other = session()
        overTLS(&other)
        #expect(sent(other.receive(Array("AUTH LOGIN \(base64("sender2"))\r\n".utf8))) == "334 UGFzc3dvcmQ6\r\n")
        #expect(authentication(other.receive(Array("\(base64("pw"))\r\n".utf8))) == ["sender2", "pw"])
    }

    @Test func authRefusals() {
        var door = session { $0.maxAuthFailures = 10 }
        overTLS(&door)
        #expect(
            sent(door.receive(Array("AUTH CRAM-MD5\r\n".utf8)))
                == "504 5.5.4 Error: unrecognized authentication type\r\n")
        #expect(sent(door.receive(Array("AUTH\r\n".utf8))) == "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n")
        #expect(
            sent(door.receive(Array("AUTH PLAIN !!!notbase64\r\n".utf8)))
                == "501 5.5.2 Error: cannot decode response\r\n")
        #expect(
            sent(door.receive(Array("AUTH PLAIN \(base64("no-nul"))\r\n".utf8)))
                == "501 5.5.2 Error: malformed PLAIN response\r\n")
        #expect(
            sent(door.receive(Array("AUTH LOGIN\r\n*\r\n".utf8)))
                == "334 VXNlcm5hbWU6\r\n501 5.7.0 Error: authentication cancelled\r\n")
        #expect(
            sent(door.receive(Array("AUTH PLAIN\r\n*\r\n".utf8)))
                == "334 \r\n501 5.7.0 Error: authentication cancelled\r\n")
        // Acting for another user is refused without a check.
        let other = door.receive(Array("AUTH PLAIN \(base64("boss\0sender1\0pw"))\r\n".utf8))
        #expect(authentication(other) == nil)
        #expect(sent(other) == "535 5.7.8 Error: authentication failed\r\n")
        // AUTH inside a transaction.
        var loopback = session(startTLS: false, authWithoutTLS: true)
        _ = loopback.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\n".utf8))
        #expect(
            sent(loopback.receive(Array("AUTH LOGIN\r\n".utf8))) == "503 5.5.1 Error: MAIL transaction in progress\r\n")
        // AUTH before EHLO.
        var early = session(startTLS: false, authWithoutTLS: true)
        #expect(sent(early.receive(Array("AUTH LOGIN\r\n".utf8))) == "503 5.5.1 Error: send EHLO first\r\n")
    }

    @Test func tooManyAuthFailuresClose() {
        var door = session()  // maxAuthFailures 3
        overTLS(&door)
        for _ in 0..<2 {
            _ = door.receive(Array("AUTH PLAIN \(base64("\0u\0bad"))\r\n".utf8))
            #expect(sent(door.authenticationFinished(false)) == "535 5.7.8 Error: authentication failed\r\n")
        }
        _ = door.receive(Array("AUTH PLAIN \(base64("\0u\0bad"))\r\n".utf8))
        let last = door.authenticationFinished(false)
        #expect(
            sent(last)
                == "535 5.7.8 Error: authentication failed\r\n421 4.7.0 door.test Error: too many authentication failures\r\n"
        )
        #expect(last.last == .close)
        #expect(door.isClosed)
    }

    @Test func authFailuresCountTowardTheErrorLimit() {
        var door = session {
            $0.maxErrors = 3
            $0.maxAuthFailures = 100
        }
        overTLS(&door)
        _ = door.receive(Array("NOOPX\r\nNOOPY\r\n".utf8))
        _ = door.receive(Array("AUTH PLAIN \(base64("\0u\0bad"))\r\n".utf8))
        let actions = door.authenticationFinished(false)
        #expect(sent(actions).hasSuffix("421 4.7.0 door.test Error: too many errors\r\n"))
        #expect(door.isClosed)
    }

    @Test func longAuthLinesUpToRFC4954sLimit() {
        var door = session()
        overTLS(&door)
        let password = String(repeating: "p", count: 3000)
        let actions = door.receive(Array("AUTH PLAIN \(base64("\0u\0" + password))\r\n".utf8))
        #expect(authentication(actions)?.last == password)
        // Other commands keep the 512-byte limit.
        var other = session()
        _ = other.receive(Array("EHLO c\r\n".utf8))
        #expect(
            sent(other.receive(Array("NOOP \(String(repeating: "x", count: 600))\r\n".utf8)))
                == "500 5.5.2 Error: line too long\r\n")
    }

    @Test func shutdownWhileCheckingWaitsForTheReply() {
        var door = session()
        overTLS(&door)
        _ = door.receive(Array("AUTH PLAIN \(base64("\0u\0p"))\r\n".utf8))
        #expect(door.shutdown().isEmpty)
        let actions = door.authenticationFinished(true)
        #expect(
            sent(actions)
                == "235 2.7.0 Authentication successful\r\n421 4.3.2 door.test Service shutting down, try again later\r\n"
        )
        #expect(actions.last == .close)
    }
}

/// Password hashes and the credentials file.
@Suite struct SMTPCredentialsTests {
    @Test func hashVerifiesItsPasswordOnlyAndRoundTrips() throws {
        let hash = try SMTPPasswordHash(password: Array("s3cret".utf8), logN: 10)
        #expect(hash.verify(Array("s3cret".utf8)))
        #expect(!hash.verify(Array("s3cres".utf8)))
        #expect(!hash.verify([]))
        let text = hash.description
        #expect(text.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(!text.split(separator: "$").suffix(2).joined().contains("="))  // unpadded base64
        #expect(SMTPPasswordHash(text) == hash)
        // Two hashes of one password differ (random salt).
        #expect(try SMTPPasswordHash(password: Array("s3cret".utf8), logN: 10) != hash)
    }

    @Test func knownVectorFromRFC7914() {
        // RFC 7914 §12: scrypt("password", "NaCl", N=1024, r=8, p=16, 64 bytes).
        let expected: [UInt8] = [
            0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7, 0x19, 0x0d, 0x01, 0xe9, 0xfe,
            0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30, 0xe7, 0x73, 0x76, 0x63, 0x4b, 0x37, 0x31, 0x62,
            0x2e, 0xaf, 0x30, 0xd9, 0x2e, 0x22, 0xa3, 0x88, 0x6f, 0xf1, 0x09, 0x27, 0x9d, 0x98, 0x30, 0xda,
            0xc7, 0x27, 0xaf, 0xb9, 0x4a, 0x83, 0xee, 0x6d, 0x83, 0x60, 0xcb, 0xdf, 0xa2, 0xcc, 0x06, 0x40,
        ]
        // (A 4-byte salt is below what the file accepts, so the value is built directly.)
        let hash = SMTPPasswordHash(logN: 10, blockSize: 8, parallelism: 16, salt: Array("NaCl".utf8), hash: expected)
        #expect(hash.verify(Array("password".utf8)))
        #expect(!hash.verify(Array("passwore".utf8)))
    }

    @Test func malformedHashesAreRefused() {
        for text in [
            "", "scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$bcrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$scrypt$ln=10,r=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",  // 128 GiB
            "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$***",
            "$scrypt$ln=10,r=8,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",  // 3-byte salt
            "$scrypt$ln=10,r=8,p=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            #expect(SMTPPasswordHash(text) == nil, "\(text)")
        }
        #expect(SMTPPasswordHash("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA") != nil)
    }

    @Test func credentialsFileLinesCommentsAndErrors() throws {
        let hash = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
        let credentials = try SMTPCredentials(parsing: "# injection users\n\nsender1:\(hash)\r\n  sender2:\(hash)\n")
        #expect(credentials.users.keys.sorted() == ["sender1", "sender2"])
        #expect(throws: SMTPSetupError("credentials line 2: user 'a' appears twice")) {
            try SMTPCredentials(parsing: "a:\(hash)\na:\(hash)")
        }
        #expect(throws: SMTPSetupError.self) { try SMTPCredentials(parsing: "no colon here") }
        #expect(throws: SMTPSetupError.self) { try SMTPCredentials(parsing: ":\(hash)") }
        #expect(throws: SMTPSetupError.self) { try SMTPCredentials(parsing: "a b:\(hash)") }
        #expect(throws: SMTPSetupError.self) { try SMTPCredentials(parsing: "a:plaintext") }
        #expect(throws: SMTPSetupError("cannot read credentials file '/nonexistent/users'")) {
            try SMTPCredentials(contentsOf: "/nonexistent/users")
        }
    }

    @Test func unknownUserAndWrongPasswordAreRefusedOffTheEventLoop() async throws {
        let hash = try SMTPPasswordHash(password: Array("right".utf8), logN: 10)
        let authenticator = SMTPAuthenticator(credentials: SMTPCredentials(users: ["sender1": hash]))
        let loop = NIOSingletons.posixEventLoopGroup.next()
        #expect(try await authenticator.verify(user: "sender1", password: Array("right".utf8), on: loop).get())
        #expect(try await !authenticator.verify(user: "sender1", password: Array("wrong".utf8), on: loop).get())
        #expect(try await !authenticator.verify(user: "nobody", password: Array("right".utf8), on: loop).get())
        await authenticator.shutdown()
        // After shutdown a check fails (a refusal), it does not hang.
        let late = try? await authenticator.verify(user: "sender1", password: Array("right".utf8), on: loop).get()
        #expect(late != true)
    }
}
