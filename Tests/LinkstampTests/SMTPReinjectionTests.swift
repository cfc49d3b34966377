import Foundation
import SMTPAPI
import Testing

@testable import Linkstamp

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small SMTP server for the tests: one thread, blocking POSIX sockets on 127.0.0.1, one
/// connection at a time, every received transaction and command recorded.
final class TestSMTPServer: @unchecked Sendable {
    struct Behavior: Sendable {
        var pipelining = true
        var eightBitMIME = true
        var size: Int?
        /// The reply to `RCPT TO:<address>`.
        var rcptReply: @Sendable (String) -> String = { _ in "250 2.1.5 Ok" }
        /// Never answers the end of DATA (for the timeout test).
        var silentAfterData = false
    }

    struct Transaction {
        var mailFrom: String
        var recipients: [String]
        var data: [UInt8]
    }

    let behavior: Behavior
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var stopped = false
    private var done = false
    private var recordedTransactions: [Transaction] = []
    private var recordedCommands: [String] = []
    private var pipelinedWithoutPermission = false

    var transactions: [Transaction] { lock.withLock { recordedTransactions } }
    var commands: [String] { lock.withLock { recordedCommands } }
    var clientPipelinedUninvited: Bool { lock.withLock { pipelinedWithoutPermission } }

    init(_ behavior: Behavior = Behavior()) throws {
        self.behavior = behavior
        #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 8) == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// Stops accepting and waits (at most 10 s) for the serving thread to end.
    func stop() {
        lock.withLock { stopped = true }
        for _ in 0..<1000 where !lock.withLock({ done }) { usleep(10_000) }
        close(listener)
    }

    var target: SMTPReinjection.Target {
        SMTPReinjection.Target(host: "127.0.0.1", port: port, connectTimeout: 5, replyTimeout: 20)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func serve() {
        defer { lock.withLock { done = true } }
        while !isStopped {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handle(connection)
            close(connection)
        }
    }

    private func send(_ connection: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { buffer in
            #if canImport(Glibc)
                Glibc.send(connection, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            #else
                Darwin.send(connection, buffer.baseAddress, buffer.count, 0)
            #endif
        }
    }

    private func handle(_ connection: Int32) {
        var buffer: [UInt8] = []
        /// The next line (without CRLF), `nil` at the end of the connection or on stop.
        func line() -> [UInt8]? {
            while true {
                if let end = buffer.firstIndex(of: 0x0A) {
                    var line = Array(buffer[..<end])
                    buffer.removeFirst(end + 1)
                    if line.last == 0x0D { line.removeLast() }
                    return line
                }
                if isStopped { return nil }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                if count == 0 { return nil }
                if count < 0 {
                    if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                    return nil
                }
                buffer += chunk[0..<count]
            }
        }
        send(connection, "220 test.invalid ESMTP\r\n")
        var mailFrom: String?
        var recipients: [String] = []
        while let raw = line() {
            let command = String(decoding: raw, as: UTF8.self)
            let pipelined = !buffer.isEmpty
            lock.withLock {
                recordedCommands.append(command)
                if pipelined && !behavior.pipelining { pipelinedWithoutPermission = true }
            }
            let verb = command.prefix(while: { $0 != " " && $0 != ":" }).uppercased()
            switch verb {
            case "EHLO":
                var lines = ["test.invalid"]
                if behavior.pipelining { lines.append("PIPELINING") }
                if let size = behavior.size { lines.append("SIZE \(size)") }
                if behavior.eightBitMIME { lines.append("8BITMIME") }
                lines.append("ENHANCEDSTATUSCODES")
                send(
                    connection,
                    lines.enumerated().map { "250\($0.offset == lines.count - 1 ? " " : "-")\($0.element)\r\n" }
                        .joined())
            case "HELO", "NOOP":
                send(connection, "250 2.0.0 Ok\r\n")
            case "MAIL":
                mailFrom = command.split(separator: "<", maxSplits: 1).last.map {
                    String($0.prefix(while: { $0 != ">" }))
                }
                recipients = []
                send(connection, "250 2.1.0 Ok\r\n")
            case "RCPT":
                let address =
                    command.split(separator: "<", maxSplits: 1).last.map { String($0.prefix(while: { $0 != ">" })) }
                    ?? ""
                let reply = behavior.rcptReply(address)
                if reply.hasPrefix("2") { recipients.append(address) }
                send(connection, reply + "\r\n")
            case "DATA":
                guard let from = mailFrom, !recipients.isEmpty else {
                    send(connection, "554 5.5.1 Error: no valid recipients\r\n")
                    continue
                }
                send(connection, "354 End data with <CR><LF>.<CR><LF>\r\n")
                var data: [UInt8] = []
                while true {
                    guard let content = line() else { return }
                    if content == [UInt8(ascii: ".")] { break }
                    data += (content.first == UInt8(ascii: ".") ? Array(content.dropFirst()) : content) + [0x0D, 0x0A]
                }
                if behavior.silentAfterData {
                    while line() != nil {}
                    return
                }
                lock.withLock {
                    recordedTransactions.append(Transaction(mailFrom: from, recipients: recipients, data: data))
                }
                mailFrom = nil
                recipients = []
                send(connection, "250 2.0.0 Ok: queued as TEST\r\n")
            case "RSET":
                mailFrom = nil
                recipients = []
                send(connection, "250 2.0.0 Ok\r\n")
            case "QUIT":
                send(connection, "221 2.0.0 Bye\r\n")
                return
            default:
                send(connection, "502 5.5.2 Error: command not recognized\r\n")
            }
        }
    }
}

@Suite struct SMTPReinjectionTests {
    static let message = Fixture.crlf(
        """
        From: news@acme.example
        To: reader@example.org
        Subject: relay test
        X-MSYS-API: {"cc":["cc@example.org"],"bcc":["bcc@example.org"]}
        Content-Type: text/plain

        Line one.
        .hidden line that starts with a dot
        .
        Visit https://acme.example/offer for details.

        """)

    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "linkstamp-relay-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs the filter with `--relay` to `target`; returns the reply it threw and the events.
    func run(
        _ target: SMTPReinjection.Target, message: [UInt8] = message, recipients: [String] = ["reader@example.org"]
    ) throws -> (SMTPReply?, [String]) {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let events = folder + "/events.jsonl"
        var reply: SMTPReply?
        let engine = try Fixture.engine()
        do {
            _ = try Filter.run(
                message: message, envelope: Envelope(sender: "news@acme.example", recipients: recipients),
                engine: engine,
                output: .relay(target), eventsPath: events, now: Fixture.now)
        } catch { reply = error }
        let lines =
            (try? String(contentsOfFile: events, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        return (reply, lines)
    }

    @Test(arguments: [true, false]) func everyCopyIsDeliveredDotStuffed(pipelining: Bool) throws {
        let server = try TestSMTPServer(.init(pipelining: pipelining, size: 10_000_000))
        defer { server.stop() }
        let (reply, events) = try run(server.target)
        #expect(reply == nil)
        let transactions = server.transactions
        #expect(transactions.map(\.recipients) == [["reader@example.org"], ["cc@example.org"], ["bcc@example.org"]])
        #expect(transactions.allSatisfy { $0.mailFrom == "news@acme.example" })
        for transaction in transactions {
            let text = transaction.data.text
            #expect(text.contains("\r\n.hidden line that starts with a dot\r\n"))
            #expect(text.contains("\r\n.\r\n"))
            #expect(!text.contains("X-MSYS-API"))
        }
        #expect(transactions.last?.data.text.contains("Bcc: bcc@example.org\r\n") == true)
        #expect(events.count == 3)
        #expect(!server.clientPipelinedUninvited)
        let mails = server.commands.filter { $0.hasPrefix("MAIL FROM:") }
        #expect(mails.count == 3 && mails.allSatisfy { $0.contains(" SIZE=") })
        #expect(server.commands.last == "QUIT")
    }

    @Test func aTemporaryRefusalDefersTheWholeMessage() throws {
        let server = try TestSMTPServer(
            .init(rcptReply: { address in
                address == "cc@example.org" ? "451 4.3.0 <cc@example.org>: Temporary lookup failure" : "250 2.1.5 Ok"
            }))
        defer { server.stop() }
        let (reply, events) = try run(server.target)
        #expect(reply?.code == 451)
        #expect(reply?.enhancedStatus == "4.3.0")
        #expect(reply?.text.contains("Temporary lookup failure") == true)
        #expect(reply?.text.contains("1 copy accepted before") == true)
        #expect(events.isEmpty)
        #expect(server.commands.contains("RSET"))
    }

    @Test func everyCopyRefusedForGoodIsPermanent() throws {
        let server = try TestSMTPServer(
            .init(rcptReply: { "550 5.1.1 <\($0)>: Recipient address rejected: User unknown" }))
        defer { server.stop() }
        let (reply, events) = try run(server.target)
        #expect(reply?.code == 550)
        #expect(reply?.enhancedStatus == "5.1.1")
        #expect(
            reply?.text.contains("550 5.1.1 <reader@example.org>: Recipient address rejected: User unknown") == true)
        #expect(server.transactions.isEmpty)
        #expect(events.isEmpty)
    }

    @Test func someCopiesRefusedForGoodIsTemporary() throws {
        let server = try TestSMTPServer(
            .init(rcptReply: { address in
                address == "bcc@example.org" ? "550 5.1.1 <bcc@example.org>: User unknown" : "250 2.1.5 Ok"
            }))
        defer { server.stop() }
        let (reply, events) = try run(server.target)
        #expect(reply?.code == 451)
        #expect(reply?.enhancedStatus == "4.1.1")
        #expect(reply?.text.contains("2 copies accepted before") == true)
        #expect(events.isEmpty)
    }

    @Test func aSlowServerTimesOut() throws {
        let server = try TestSMTPServer(.init(silentAfterData: true))
        defer { server.stop() }
        var target = server.target
        target.replyTimeout = 0.5
        let (reply, events) = try run(target)
        #expect(reply?.code == 451)
        #expect(reply?.enhancedStatus == "4.4.2")
        #expect(reply?.text.contains("timed out after 0.5 s waiting for the reply to the end of DATA") == true)
        #expect(events.isEmpty)
    }

    @Test func aRefusedConnectionIsTemporary() throws {
        let server = try TestSMTPServer()
        let port = server.port
        server.stop()
        let (reply, events) = try run(
            SMTPReinjection.Target(host: "127.0.0.1", port: port, connectTimeout: 5, replyTimeout: 5))
        #expect(reply?.code == 451)
        #expect(reply?.enhancedStatus == "4.4.1")
        #expect(reply?.text.contains("cannot connect to relay 127.0.0.1:\(port)") == true)
        #expect(events.isEmpty)
    }

    @Test func eightBitCopiesNeed8BITMIME() throws {
        let eightBit = Fixture.crlf(
            "From: a@acme.example\nTo: r@example.org\nSubject: caf\u{E9}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nCaf\u{E9}.\n"
        )
        let refusing = try TestSMTPServer(.init(eightBitMIME: false))
        defer { refusing.stop() }
        let (reply, _) = try run(refusing.target, message: eightBit)
        #expect(reply?.code == 554)
        #expect(reply?.enhancedStatus == "5.6.3")
        #expect(!refusing.commands.contains { $0.hasPrefix("MAIL") })

        let accepting = try TestSMTPServer()
        defer { accepting.stop() }
        let (accepted, _) = try run(accepting.target, message: eightBit)
        #expect(accepted == nil)
        #expect(accepting.commands.contains { $0.hasPrefix("MAIL FROM:<news@acme.example> BODY=8BITMIME") })
    }

    @Test func aCopyOverTheServersSizeIsRefusedBeforeAnythingIsSent() throws {
        let server = try TestSMTPServer(.init(size: 100))
        defer { server.stop() }
        let (reply, _) = try run(server.target)
        #expect(reply?.code == 552)
        #expect(reply?.enhancedStatus == "5.3.4")
        #expect(!server.commands.contains { $0.hasPrefix("MAIL") })
    }

    @Test func targets() {
        #expect(SMTPReinjection.Target("127.0.0.1:10026") == SMTPReinjection.Target(host: "127.0.0.1", port: 10026))
        #expect(SMTPReinjection.Target("[::1]:25")?.host == "::1")
        #expect(SMTPReinjection.Target("[::1]:25")?.description == "[::1]:25")
        #expect(SMTPReinjection.Target("localhost") == nil)
        #expect(SMTPReinjection.Target("localhost:0") == nil)
        #expect(SMTPReinjection.Target(":25") == nil)
    }

    @Test func theCommandExitsBySysexits() throws {
        let command = CommandTests()
        let home = try scratch()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let refusing = try TestSMTPServer(.init(rcptReply: { "550 5.7.1 <\($0)>: Relay access denied" }))
        defer { refusing.stop() }
        let refused = try command.run(
            ["filter", "--relay", "127.0.0.1:\(refusing.port)", "-f", "news@acme.example", "--", "reader@example.org"],
            stdin: Self.message, configHome: home)
        #expect(refused.status == 65)
        #expect(
            refused.stderr.contains(
                "5.7.1 linkstamp relay 127.0.0.1:\(refusing.port) refused <reader@example.org>: 550 5.7.1"))

        let accepting = try TestSMTPServer()
        let port = accepting.port
        let ok = try command.run(
            ["filter", "--relay", "127.0.0.1:\(port)", "-f", "news@acme.example", "--", "reader@example.org"],
            stdin: Self.message, configHome: home)
        #expect(ok.status == 0)
        #expect(accepting.transactions.count == 3)
        accepting.stop()
        let gone = try command.run(
            ["filter", "--relay", "127.0.0.1:\(port)", "-f", "news@acme.example", "--", "reader@example.org"],
            stdin: Self.message, configHome: home)
        #expect(gone.status == 75)
        #expect(gone.stderr.contains("4.4.1 linkstamp cannot connect to relay"))

        let both = try command.run(
            [
                "filter", "--relay", "127.0.0.1:\(port)", "--sendmail", "/usr/sbin/sendmail", "-f", "a@b.example", "--",
                "r@example.org",
            ], configHome: home)
        #expect(both.status == 64)
    }
}
