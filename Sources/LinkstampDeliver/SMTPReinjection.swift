import Foundation
import SMTPAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `linkstamp filter --relay HOST:PORT`: hands every copy of one message to an SMTP server
/// (Postfix's private re-injection `smtpd` in the README wiring) over one connection, with a
/// small blocking client on POSIX sockets (no event loop: the filter runs once per message and
/// its start-up time counts).
///
/// ESMTP as RFC 5321 asks of a client: EHLO (HELO when EHLO is refused), PIPELINING when the
/// server offers it (MAIL, RCPT and DATA in one write per copy), `SIZE=` when offered (a copy
/// larger than the announced limit is refused before anything is sent), `BODY=8BITMIME` for a
/// copy with 8-bit bytes (a server without 8BITMIME gets nothing: `554 5.6.3`), `SMTPUTF8` for
/// non-ASCII addresses when offered, dot-stuffing, RSET after a refused copy, QUIT.
public enum SMTPReinjection {
    /// The server and the client's timeouts.
    public struct Target: Sendable, Hashable, CustomStringConvertible {
        /// Host name or address literal (IPv6 without brackets).
        public var host: String
        /// TCP port.
        public var port: UInt16
        /// Seconds to wait for the TCP connection (Postfix's `smtp_connect_timeout`: 30 s).
        public var connectTimeout: Double
        /// Seconds to wait for each reply and for each write to make progress (Postfix's
        /// `smtp_data_done_timeout`: 600 s; the other `smtp_*_timeout` values: 300 s).
        public var replyTimeout: Double

        /// A target with Postfix's smtp client timeouts (30 s connect, 300 s per reply).
        public init(host: String, port: UInt16, connectTimeout: Double = 30, replyTimeout: Double = 300) {
            self.host = host
            self.port = port
            self.connectTimeout = connectTimeout
            self.replyTimeout = replyTimeout
        }

        /// Parses `HOST:PORT` (`[::1]:10026` for IPv6); `nil` when it is not one.
        public init?(_ text: String) {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0
            else {
                return nil
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, !host.contains(where: { $0 == "[" || $0 == "]" || $0.isWhitespace }) else {
                return nil
            }
            self.init(host: host, port: port)
        }

        /// `HOST:PORT`, brackets around an IPv6 address.
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// One copy to send: its envelope recipient and its rendered bytes.
    struct Item {
        var recipient: String
        var bytes: [UInt8]
    }

    /// Sends every copy. Returns when the server accepted all of them; otherwise throws:
    /// - every copy refused with a 5xx reply: that permanent reply (the first one), so the
    ///   filter exits 65 and Postfix bounces the message with the server's text;
    /// - a 4xx reply, a lost or refused connection, a timeout, or some copies accepted and
    ///   others refused: a 4xx reply (exit 75). Postfix then retries the whole message, and
    ///   copies the server accepted before are sent again.
    static func send(_ items: [Item], sender: String, to target: Target) throws(SMTPReply) {
        var client = try Client(target: target)
        defer { client.close() }
        try client.greet()
        // Checks that need no transaction: nothing is sent when one copy cannot go.
        for item in items {
            if let limit = client.sizeLimit, limit > 0, item.bytes.count > limit {
                throw SMTPReply(
                    code: 552, enhancedStatus: "5.3.4",
                    text:
                        "linkstamp relay \(target) accepts at most \(limit) bytes; the copy for <\(item.recipient)> has \(item.bytes.count)"
                )
            }
            if item.bytes.contains(where: { $0 >= 0x80 }) && !client.offers("8BITMIME") {
                throw SMTPReply(
                    code: 554, enhancedStatus: "5.6.3",
                    text:
                        "linkstamp relay \(target) does not offer 8BITMIME; the copy for <\(item.recipient)> has 8-bit bytes"
                )
            }
            if !(item.recipient + sender).utf8.allSatisfy({ $0 < 0x80 }) && !client.offers("SMTPUTF8") {
                throw SMTPReply(
                    code: 553, enhancedStatus: "5.6.7",
                    text:
                        "linkstamp relay \(target) does not offer SMTPUTF8; <\(item.recipient)> or the sender is not ASCII"
                )
            }
        }
        var accepted = 0
        var refusals: [(recipient: String, reply: Reply)] = []
        for item in items {
            if let refusal = try client.transaction(item, sender: sender) {
                refusals.append((item.recipient, refusal))
                if !refusal.isPermanent || accepted > 0 { break }
            } else {
                accepted += 1
                if !refusals.isEmpty { break }
            }
        }
        client.quit()
        guard let first = refusals.first else { return }
        let said = "linkstamp relay \(target) refused <\(first.recipient)>: \(first.reply.summary)"
        if accepted == 0 && refusals.count == items.count && refusals.allSatisfy({ $0.reply.isPermanent }) {
            throw SMTPReply(code: first.reply.code, enhancedStatus: first.reply.enhancedStatus, text: said)
        }
        let deferral = refusals.first(where: { !$0.reply.isPermanent }) ?? first
        let status = "4" + deferral.reply.enhancedStatus.dropFirst()
        throw SMTPReply(
            code: 451, enhancedStatus: status,
            text:
                "linkstamp relay \(target) refused <\(deferral.recipient)>: \(deferral.reply.summary) (\(accepted) cop\(accepted == 1 ? "y" : "ies") accepted before are sent again when the message is retried)"
        )
    }

    /// One server reply: its code and its lines' text.
    struct Reply {
        var code: Int
        var lines: [String]

        var isPermanent: Bool { code >= 500 }
        var isPositive: Bool { code >= 200 && code < 400 }
        /// The reply's enhanced status code, else `4.0.0`/`5.0.0` (`2.0.0` for a positive one).
        var enhancedStatus: String {
            let first = lines.first ?? ""
            let candidate = first.prefix(while: { !$0.isWhitespace })
            let parts = candidate.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count == 3,
                parts.allSatisfy({
                    !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber)
                }),
                parts[0] == String(code / 100)
            {
                return String(candidate)
            }
            return "\(code / 100).0.0"
        }
        /// `CODE text` on one line (the lines of a multi-line reply joined with a space).
        var summary: String { Filter.printable("\(code) " + lines.joined(separator: " ")) }
    }

    /// The connection and what the server announced.
    struct Client {
        let target: Target
        private(set) var socket: Int32 = -1
        private var input: [UInt8] = []
        private var inputStart = 0
        private(set) var extensions: [String: String] = [:]
        private(set) var pipelining = false

        init(target: Target) throws(SMTPReply) {
            self.target = target
            socket = try Self.connect(target)
        }

        func offers(_ keyword: String) -> Bool { extensions[keyword] != nil }

        /// The `SIZE` limit the server announced (0: no fixed limit), `nil` when it did not.
        var sizeLimit: Int? { extensions["SIZE"].map { Int($0.split(separator: " ").first ?? "") ?? 0 } }

        mutating func close() {
            if socket >= 0 { _ = socketClose(socket) }
            socket = -1
        }

        /// The greeting and EHLO (HELO when EHLO is refused); any failure here is temporary.
        mutating func greet() throws(SMTPReply) {
            let greeting = try read("the greeting")
            guard greeting.code == 220 else { throw failure("greeted with \(greeting.summary)") }
            let name = Self.heloName()
            try write(Array("EHLO \(name)\r\n".utf8), during: "EHLO")
            var hello = try read("EHLO")
            if hello.code == 250 {
                for line in hello.lines.dropFirst() {
                    let keyword = line.prefix(while: { $0 != " " && $0 != "=" }).uppercased()
                    extensions[keyword] = String(line.dropFirst(keyword.count).drop(while: { $0 == " " || $0 == "=" }))
                }
                pipelining = extensions["PIPELINING"] != nil
            } else {
                try write(Array("HELO \(name)\r\n".utf8), during: "HELO")
                hello = try read("HELO")
                guard hello.code == 250 else { throw failure("refused HELO with \(hello.summary)") }
            }
        }

        /// One copy's transaction: `nil` when the server accepted it, else the refusal (after
        /// which the transaction is reset). A lost connection or a timeout throws.
        mutating func transaction(_ item: Item, sender: String) throws(SMTPReply) -> Reply? {
            var parameters = ""
            if offers("SIZE") { parameters += " SIZE=\(item.bytes.count)" }
            if item.bytes.contains(where: { $0 >= 0x80 }) { parameters += " BODY=8BITMIME" }
            if !(item.recipient + sender).utf8.allSatisfy({ $0 < 0x80 }) { parameters += " SMTPUTF8" }
            let mail = Array("MAIL FROM:<\(sender)>\(parameters)\r\n".utf8)
            let rcpt = Array("RCPT TO:<\(item.recipient)>\r\n".utf8)
            let data = Array("DATA\r\n".utf8)
            var refusal: Reply?
            var dataReply: Reply
            if pipelining {
                try write(mail + rcpt + data, during: "MAIL FROM")
                let mailReply = try read("MAIL FROM")
                let rcptReply = try read("RCPT TO")
                dataReply = try read("DATA")
                if !mailReply.isPositive {
                    refusal = mailReply
                } else if !rcptReply.isPositive {
                    refusal = rcptReply
                }
            } else {
                try write(mail, during: "MAIL FROM")
                let mailReply = try read("MAIL FROM")
                guard mailReply.isPositive else { return try reset(after: mailReply) }
                try write(rcpt, during: "RCPT TO")
                let rcptReply = try read("RCPT TO")
                guard rcptReply.isPositive else { return try reset(after: rcptReply) }
                try write(data, during: "DATA")
                dataReply = try read("DATA")
            }
            if dataReply.code == 354 {
                if let refusal {
                    // A server that says 354 after a refused MAIL or RCPT gets an empty message
                    // that it must refuse for want of a valid recipient.
                    try write(Array(".\r\n".utf8), during: "the end of DATA")
                    _ = try read("the end of DATA")
                    return try reset(after: refusal)
                }
                var body: [UInt8] = []
                BatchSMTP.appendData(item.bytes, to: &body)
                try write(body, during: "the message content")
                let done = try read("the end of DATA")
                return done.code == 250 ? nil : try reset(after: done)
            }
            return try reset(after: refusal ?? dataReply)
        }

        /// RSET after a refused transaction; returns `reply`.
        private mutating func reset(after reply: Reply) throws(SMTPReply) -> Reply {
            if reply.code == 421 { return reply }
            try write(Array("RSET\r\n".utf8), during: "RSET")
            let answer = try read("RSET")
            guard answer.code == 250 else { throw failure("refused RSET with \(answer.summary)") }
            return reply
        }

        /// QUIT, best effort: every copy's fate is known already.
        mutating func quit() {
            do {
                try write(Array("QUIT\r\n".utf8), during: "QUIT")
                _ = try read("QUIT")
            } catch {}
        }

        private func failure(_ text: String) -> SMTPReply {
            SMTPReply(code: 451, enhancedStatus: "4.4.2", text: "linkstamp relay \(target) \(text)")
        }

        /// Writes everything or throws (a write that makes no progress for `replyTimeout`
        /// seconds times out).
        mutating func write(_ bytes: [UInt8], during step: String) throws(SMTPReply) {
            var offset = 0
            let socket = self.socket
            let timeout = target.replyTimeout
            let error: Int32? = bytes.withUnsafeBytes { buffer in
                while offset < buffer.count {
                    var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                    let ready = poll(&descriptor, 1, Self.milliseconds(timeout))
                    if ready < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    if ready == 0 { return ETIMEDOUT }
                    let written = socketSend(socket, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                        return errno
                    }
                    offset += written
                }
                return nil
            }
            if let error {
                if error == ETIMEDOUT { throw failure("timed out after \(Self.seconds(timeout)) s sending \(step)") }
                throw failure("lost the connection sending \(step): \(String(cString: strerror(error)))")
            }
        }

        /// Reads one reply (all its lines) within `replyTimeout` seconds.
        mutating func read(_ step: String) throws(SMTPReply) -> Reply {
            let deadline = Date().addingTimeInterval(target.replyTimeout)
            var lines: [String] = []
            var code = 0
            var total = 0
            while true {
                let line = try readLine(deadline: deadline, step: step)
                total += line.count
                guard line.count >= 3, let lineCode = Int(String(decoding: line.prefix(3), as: UTF8.self)),
                    lineCode >= 200, lineCode < 600,
                    line.count == 3 || line[3] == UInt8(ascii: " ") || line[3] == UInt8(ascii: "-"),
                    code == 0 || lineCode == code, total <= 65536
                else {
                    throw failure(
                        "sent a malformed reply to \(step): \(Filter.printable(String(decoding: line.prefix(200), as: UTF8.self)))"
                    )
                }
                code = lineCode
                lines.append(String(decoding: line.dropFirst(4), as: UTF8.self))
                if line.count == 3 || line[3] == UInt8(ascii: " ") { return Reply(code: code, lines: lines) }
            }
        }

        /// One line without its CRLF (or bare LF).
        private mutating func readLine(deadline: Date, step: String) throws(SMTPReply) -> [UInt8] {
            while true {
                if let end = input[inputStart...].firstIndex(of: 0x0A) {
                    var line = Array(input[inputStart..<end])
                    if line.last == 0x0D { line.removeLast() }
                    inputStart = end + 1
                    if inputStart == input.count {
                        input.removeAll(keepingCapacity: true)
                        inputStart = 0
                    }
                    return line
                }
                if input.count - inputStart > 65536 { throw failure("sent a reply line longer than 64 KiB to \(step)") }
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else {
                    throw failure(
                        "timed out after \(Self.seconds(target.replyTimeout)) s waiting for the reply to \(step)")
                }
                var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Self.milliseconds(remaining))
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot wait for the reply to \(step): \(String(cString: strerror(errno)))")
                }
                if ready == 0 { continue }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let socket = self.socket
                let (count, error) = chunk.withUnsafeMutableBytes { buffer -> (Int, Int32) in
                    let count = recv(socket, buffer.baseAddress, buffer.count, 0)
                    return (count, count < 0 ? errno : 0)
                }
                if count < 0 {
                    if error == EINTR || error == EAGAIN || error == EWOULDBLOCK { continue }
                    throw failure(
                        "lost the connection waiting for the reply to \(step): \(String(cString: strerror(error)))")
                }
                if count == 0 { throw failure("closed the connection before its reply to \(step)") }
                if inputStart > 0 {
                    input.removeFirst(inputStart)
                    inputStart = 0
                }
                input += chunk[0..<count]
            }
        }

        static func milliseconds(_ seconds: Double) -> Int32 {
            Int32(max(1, min(Double(Int32.max), (seconds * 1000).rounded(.up))))
        }

        static func seconds(_ value: Double) -> String {
            value == value.rounded() ? String(Int(value)) : String(value)
        }

        /// This host's name for EHLO (`localhost` when it has none that fits).
        static func heloName() -> String {
            var buffer = [CChar](repeating: 0, count: 256)
            guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
            let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fits =
                !name.isEmpty
                && name.utf8.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2D
                        || byte == 0x2E
                }
            return fits ? name : "localhost"
        }

        /// A connected, non-blocking socket to `target` (each resolved address in turn, within
        /// `connectTimeout` seconds each).
        static func connect(_ target: Target) throws(SMTPReply) -> Int32 {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = socketStream
            hints.ai_flags = AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(target.host, String(target.port), &hints, &list)
            guard status == 0, let first = list else {
                let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
                throw SMTPReply(
                    code: 451, enhancedStatus: "4.4.3", text: "linkstamp cannot resolve relay \(target): \(reason)")
            }
            defer { freeaddrinfo(list) }
            var lastError: Int32 = ECONNREFUSED
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let address = entry {
                entry = address.pointee.ai_next
                let descriptor = socketOpen(
                    address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
                guard descriptor >= 0 else {
                    lastError = errno
                    continue
                }
                _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
                _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
                #if canImport(Darwin)
                    var one: Int32 = 1
                    _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
                #endif
                var result = socketConnect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen)
                if result != 0 && errno == EINPROGRESS {
                    var descriptorPoll = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    var ready: Int32
                    repeat {
                        ready = poll(&descriptorPoll, 1, milliseconds(target.connectTimeout))
                    } while ready < 0 && errno == EINTR
                    if ready == 0 {
                        lastError = ETIMEDOUT
                    } else {
                        var error: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        _ = getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
                        lastError = error
                        result = error == 0 ? 0 : -1
                    }
                } else if result != 0 {
                    lastError = errno
                }
                if result == 0 { return descriptor }
                _ = socketClose(descriptor)
            }
            let reason =
                lastError == ETIMEDOUT
                ? "timed out after \(seconds(target.connectTimeout)) s" : String(cString: strerror(lastError))
            throw SMTPReply(
                code: 451, enhancedStatus: "4.4.1", text: "linkstamp cannot connect to relay \(target): \(reason)")
        }
    }
}

#if canImport(Glibc)
    private let socketStream = Int32(SOCK_STREAM.rawValue)
    private let socketOpen = Glibc.socket
    private let socketConnect = Glibc.connect
    private let socketClose = Glibc.close
    private func socketSend(_ socket: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        Glibc.send(socket, bytes, count, Int32(MSG_NOSIGNAL))
    }
#elseif canImport(Darwin)
    private let socketStream = SOCK_STREAM
    private let socketOpen = Darwin.socket
    private let socketConnect = Darwin.connect
    private let socketClose = Darwin.close
    private func socketSend(_ socket: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        Darwin.send(socket, bytes, count, 0)
    }
#endif
