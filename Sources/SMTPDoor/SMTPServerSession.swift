import Foundation
import Linkstamp
import SMTPAPI

/// One client connection's ESMTP dialogue (RFC 5321, with PIPELINING, SIZE, 8BITMIME and
/// ENHANCEDSTATUSCODES) as a pure state machine: feed it the bytes the client sent, perform the
/// actions it returns. It never does I/O, so every reply is unit-testable.
///
/// Decisions a relay operator may want to know:
/// - Command lines may end in CRLF or a bare LF; longer than `maxCommandLineBytes` → the line is
///   discarded up to its end and answered `500 5.5.2 Line too long`, and the session goes on.
/// - DATA ends only at CRLF "." CRLF. A bare LF or bare CR inside DATA refuses the message at its
///   end with `550 5.6.11` (RFC 5321 §2.3.8 forbids them; accepting them is what SMTP smuggling
///   abuses), so no copy is relayed.
/// - VRFY and EXPN are refused with `502 5.5.1` (the relay does not disclose addresses).
/// - STARTTLS (RFC 3207) is offered when `security.startTLS` is set and TLS is not active yet.
///   Input pipelined after the STARTTLS command is discarded (it came in plaintext: CVE-2011-0411
///   command injection), and the session starts over: the client must EHLO again.
/// - AUTH PLAIN and LOGIN (RFC 4954) are offered when `security.auth` is set, once TLS is active
///   (or always with `security.authWithoutTLS`); before that AUTH is `538 5.7.11`. The password
///   check is handed out as `.authenticate`, and answered with `authenticationFinished(_:)`.
/// - `security.tlsRequired` / `security.authRequired`: MAIL before STARTTLS / AUTH is
///   `530 5.7.0`.
/// - BDAT and SMTPUTF8 are not offered: `502 5.5.1`, and a non-ASCII address is `553 5.6.7`.
/// - Once the session is `busy` (a message is being prepared and relayed) further pipelined input
///   is buffered, up to `maxPendingBytes`, and read after the message's reply.
public struct SMTPServerSession: Sendable {
    /// What the connection must do, in order.
    public enum Action: Sendable, Equatable {
        /// Write these bytes to the client.
        case send([UInt8])
        /// Prepare and relay this message; then call `deliveryFinished(_:)` with the reply.
        case deliver(envelope: Envelope, message: [UInt8])
        /// Close the connection (after the sends before it are written).
        case close
        /// Start TLS now, before reading anything more (the `220` before it must go out in
        /// plaintext first).
        case startTLS
        /// Check this user's password off the event loop; then call `authenticationFinished(_:)`.
        case authenticate(user: String, password: [UInt8])
    }

    /// What the server offers and demands beyond plain ESMTP.
    public struct Security: Sendable, Hashable {
        /// Offer STARTTLS (a certificate is configured).
        public var startTLS = false
        /// Refuse MAIL until STARTTLS: `530 5.7.0 Must issue a STARTTLS command first`.
        public var tlsRequired = false
        /// Offer AUTH PLAIN and LOGIN (credentials are configured).
        public var auth = false
        /// Refuse MAIL until AUTH succeeded: `530 5.7.0 Authentication required`.
        public var authRequired = false
        /// Offer AUTH without TLS too (passwords cross the wire in the clear: loopback tests only).
        public var authWithoutTLS = false

        /// Nothing beyond plain ESMTP.
        public init() {}
    }

    /// Where an AUTH exchange stands.
    enum AuthStep: Sendable, Equatable {
        /// `334 ` sent; the PLAIN response comes next.
        case plain
        /// LOGIN: the user name comes next.
        case loginUser
        /// LOGIN: the password comes next.
        case loginPassword(user: String)
    }

    enum State: Sendable, Equatable {
        /// Before EHLO/HELO, or after RSET without one.
        case connected
        /// Greeted, no transaction.
        case ready
        /// MAIL accepted; `recipients` may be empty.
        case mail
        /// Receiving DATA content.
        case data
        /// A message is being relayed; input waits in the buffer.
        case busy
        /// In an AUTH exchange: the next line is a response, not a command.
        case auth
        /// A password is being checked; input waits in the buffer.
        case verifying
        /// The connection is over; input is ignored.
        case closed
    }

    /// The limits enforced.
    public let limits: SMTPServerLimits
    /// The host name given in the greeting and in the EHLO reply.
    public let hostname: String
    /// What is offered and demanded beyond plain ESMTP.
    public let security: Security

    var state: State = .connected
    var greeted = false
    var sender = ""
    var recipients: [String] = []
    var messagesReceived = 0
    var errors = 0
    var draining = false

    /// STARTTLS was accepted (the handler put TLS in place before the next read).
    public internal(set) var tlsActive = false
    /// The user AUTH accepted, if any.
    public internal(set) var authenticatedUser: String?
    var authStep: AuthStep = .plain
    /// The user whose password is being checked.
    var verifyingUser: String?
    var authFailures = 0

    var buffer: [UInt8] = []
    var readIndex = 0
    /// Discarding an overlong command line until its LF.
    var discardingLine = false

    var message: [UInt8] = []
    var dataAtLineStart = true
    var dataPendingCR = false
    var dataHasBareLineEnd = false
    var dataTooBig = false

    /// A session for one new connection.
    public init(hostname: String, limits: SMTPServerLimits = SMTPServerLimits(), security: Security = Security()) {
        self.hostname = hostname
        self.limits = limits
        self.security = security
    }

    /// `true` while a message is being relayed or a password checked (the idle timeout does not
    /// apply).
    public var isBusy: Bool { state == .busy || state == .verifying }
    /// `true` once the session has asked for the connection to close.
    public var isClosed: Bool { state == .closed }

    /// The greeting the server sends first: `220 <host> ESMTP Linkstamp`.
    public func greeting() -> [Action] {
        [.send(line(220, nil, "\(hostname) ESMTP Linkstamp"))]
    }

    /// Feeds bytes the client sent; returns what to do.
    public mutating func receive<Bytes: Collection>(_ bytes: Bytes) -> [Action] where Bytes.Element == UInt8 {
        guard state != .closed else { return [] }
        buffer.append(contentsOf: bytes)
        if isBusy {
            if buffer.count - readIndex > limits.maxPendingBytes {
                return closing(line(421, "4.7.0", "\(hostname) Error: too much pipelined input"))
            }
            return []
        }
        var actions: [Action] = []
        process(into: &actions)
        return actions
    }

    /// Reports the reply for the message handed out by `.deliver`, then goes on with any
    /// pipelined input. A `421` reply closes the connection, as RFC 5321 §3.8 requires.
    public mutating func deliveryFinished(_ reply: SMTPReply) -> [Action] {
        guard state == .busy else { return [] }
        state = .ready
        if reply.code == 421 { return closing(line(reply)) }
        var actions: [Action] = [.send(line(reply))]
        if draining {
            actions += closing(shutdownLine())
            return actions
        }
        process(into: &actions)
        return actions
    }

    /// Reports whether the password of the `.authenticate` action matched: `235 2.7.0`, or
    /// `535 5.7.8` (a refused command; `maxAuthFailures` of them end the connection with `421`).
    /// Then goes on with any pipelined input.
    public mutating func authenticationFinished(_ accepted: Bool) -> [Action] {
        guard state == .verifying else { return [] }
        state = .ready
        let user = verifyingUser
        verifyingUser = nil
        var actions: [Action] = []
        if accepted, let user {
            authenticatedUser = user
            actions.append(.send(line(235, "2.7.0", "Authentication successful")))
        } else {
            authFailed(into: &actions)
            if state == .closed { return actions }
        }
        if draining {
            actions += closing(shutdownLine())
            return actions
        }
        process(into: &actions)
        return actions
    }

    /// The server is shutting down: `421 4.3.2` now, or right after the reply of the message being
    /// relayed, so nothing accepted is lost.
    public mutating func shutdown() -> [Action] {
        switch state {
        case .closed: return []
        case .busy, .verifying:
            draining = true
            return []
        default: return closing(shutdownLine())
        }
    }

    /// The idle timeout expired: `421 4.4.2` and close (not while a message is being relayed).
    public mutating func idleTimeout() -> [Action] {
        guard state != .closed, !isBusy else { return [] }
        return closing(line(421, "4.4.2", "\(hostname) Error: timeout exceeded"))
    }

    // MARK: - Input

    mutating func process(into actions: inout [Action]) {
        while !isBusy && state != .closed {
            let progressed = state == .data ? processData(into: &actions) : processCommandLine(into: &actions)
            if !progressed { break }
        }
        compact()
    }

    mutating func compact() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
            readIndex = 0
        } else if readIndex > 4096 && readIndex * 2 > buffer.count {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }

    func firstLF(from start: Int) -> Int? {
        guard start < buffer.count else { return nil }
        return buffer.withUnsafeBufferPointer { bytes -> Int? in
            guard let base = bytes.baseAddress, let found = memchr(base + start, 0x0A, bytes.count - start) else {
                return nil
            }
            return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// One command line, if a whole one is there. Returns `false` when more bytes are needed.
    mutating func processCommandLine(into actions: inout [Action]) -> Bool {
        let limit = lineLimit(at: readIndex)
        guard let lf = firstLF(from: readIndex) else {
            // Without its LF a line already past the limit can only be discarded.
            if buffer.count - readIndex > limit {
                discardingLine = true
                readIndex = buffer.count
            }
            return false
        }
        let start = readIndex
        readIndex = lf + 1
        if discardingLine || lf + 1 - start > limit {
            discardingLine = false
            if state == .auth { state = .ready }  // the exchange is over
            actions += refuse(500, "5.5.2", "Error: line too long")
            return true
        }
        var end = lf
        if end > start && buffer[end - 1] == 0x0D { end -= 1 }
        if state == .auth {
            authResponse(buffer[start..<end], into: &actions)
        } else {
            command(buffer[start..<end], into: &actions)
        }
        return true
    }

    /// AUTH lines and AUTH responses may be 12 288 bytes (RFC 4954 §4); other lines
    /// `maxCommandLineBytes`.
    func lineLimit(at start: Int) -> Int {
        guard security.auth else { return limits.maxCommandLineBytes }
        if state == .auth { return max(limits.maxCommandLineBytes, SMTPServerSession.maxAuthLineBytes) }
        guard buffer.count - start >= 5 else { return limits.maxCommandLineBytes }
        let verb = buffer[start..<(start + 5)].map { $0 | 0x20 }
        return verb == Array("auth ".utf8)
            ? max(limits.maxCommandLineBytes, SMTPServerSession.maxAuthLineBytes)
            : limits.maxCommandLineBytes
    }

    /// RFC 4954 §4's limit for an AUTH command or response line.
    static let maxAuthLineBytes = 12_288

    // MARK: - Commands

    mutating func command(_ bytes: ArraySlice<UInt8>, into actions: inout [Action]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let verbEnd: String.Index
        let argument: Substring
        if !bytes.contains(where: { $0 >= 0x80 }) {
            // ASCII (every command a client sends in practice): the same split, read as bytes.
            let utf8 = text.utf8
            verbEnd = utf8.firstIndex(of: UInt8(ascii: " ")) ?? text.endIndex
            var start = verbEnd
            while start < utf8.endIndex && utf8[start] == UInt8(ascii: " ") { start = utf8.index(after: start) }
            argument = text[start...]
        } else {
            verbEnd = text.firstIndex(of: " ") ?? text.endIndex
            argument = text[verbEnd...].drop(while: { $0 == " " })
        }
        let verb = text[..<verbEnd].uppercased()
        switch verb {
        case "EHLO", "HELO":
            guard !argument.isEmpty, !argument.contains(" ") else {
                actions += refuse(501, "5.5.4", "Syntax: \(verb) hostname")
                return
            }
            resetTransaction()
            greeted = true
            state = .ready
            if verb == "HELO" {
                actions.append(.send(line(250, nil, hostname)))
            } else {
                var lines = [
                    hostname, "PIPELINING", "SIZE \(limits.maxMessageBytes)", "8BITMIME", "ENHANCEDSTATUSCODES",
                ]
                if security.startTLS && !tlsActive { lines.append("STARTTLS") }
                if authOffered { lines.append("AUTH PLAIN LOGIN") }
                var reply: [UInt8] = []
                for (index, text) in lines.enumerated() {
                    reply += Array("250\(index == lines.count - 1 ? " " : "-")\(text)\r\n".utf8)
                }
                actions.append(.send(reply))
            }
        case "MAIL": mail(argument, into: &actions)
        case "RCPT": rcpt(argument, into: &actions)
        case "DATA":
            guard state == .mail else {
                actions += refuse(503, "5.5.1", "Error: need MAIL command")
                return
            }
            guard !recipients.isEmpty else {
                actions += refuse(554, "5.5.1", "Error: no valid recipients")
                return
            }
            guard argument.isEmpty else {
                actions += refuse(501, "5.5.4", "Syntax: DATA")
                return
            }
            state = .data
            message.removeAll(keepingCapacity: false)
            dataAtLineStart = true
            dataPendingCR = false
            dataHasBareLineEnd = false
            dataTooBig = false
            actions.append(.send(line(354, nil, "End data with <CR><LF>.<CR><LF>")))
        case "RSET":
            resetTransaction()
            if state != .connected { state = greeted ? .ready : .connected }
            actions.append(.send(line(250, "2.0.0", "Ok")))
        case "NOOP":
            actions.append(.send(line(250, "2.0.0", "Ok")))
        case "QUIT":
            actions += closing(line(221, "2.0.0", "Bye"))
        case "VRFY", "EXPN":
            actions += refuse(502, "5.5.1", "Error: \(verb) command is disabled")
        case "STARTTLS" where security.startTLS: startTLS(argument, into: &actions)
        case "AUTH" where security.auth: auth(argument, into: &actions)
        case "STARTTLS", "AUTH", "BDAT", "ETRN", "TURN", "HELP":
            actions += refuse(502, "5.5.1", "Error: \(verb) is not implemented")
        default:
            actions += refuse(500, "5.5.2", "Error: command not recognized")
        }
    }

    mutating func mail(_ argument: Substring, into actions: inout [Action]) {
        guard greeted else {
            actions += refuse(503, "5.5.1", "Error: send HELO/EHLO first")
            return
        }
        guard state == .ready else {
            actions += refuse(503, "5.5.1", "Error: nested MAIL command")
            return
        }
        if security.tlsRequired && !tlsActive {
            actions += refuse(530, "5.7.0", "Must issue a STARTTLS command first")
            return
        }
        if security.authRequired && authenticatedUser == nil {
            actions += refuse(530, "5.7.0", "Authentication required")
            return
        }
        guard messagesReceived < limits.maxMessagesPerConnection else {
            actions += closing(line(421, "4.7.0", "\(hostname) Error: too many messages in one connection, reconnect"))
            return
        }
        guard let (address, parameters) = SMTPServerSession.path(argument, keyword: "FROM:") else {
            actions += refuse(501, "5.5.4", "Syntax: MAIL FROM:<address>")
            return
        }
        if let refusal = SMTPServerSession.addressRefusal(address, allowEmpty: true) {
            actions += refuse(refusal)
            return
        }
        for parameter in parameters {
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let keyword = parts[0].uppercased()
            let value = parts.count > 1 ? String(parts[1]) : nil
            switch keyword {
            case "SIZE":
                guard let value, let size = Int(value), size >= 0 else {
                    actions += refuse(501, "5.5.4", "Error: bad SIZE parameter")
                    return
                }
                if size > limits.maxMessageBytes {
                    actions += refuse(
                        552, "5.3.4", "Message size exceeds fixed limit of \(limits.maxMessageBytes) bytes")
                    return
                }
            case "BODY":
                guard let value, ["7BIT", "8BITMIME"].contains(value.uppercased()) else {
                    actions += refuse(501, "5.5.4", "Error: BODY must be 7BIT or 8BITMIME")
                    return
                }
            default:
                actions += refuse(555, "5.5.4", "Error: unsupported MAIL parameter \(keyword.prefix(32))")
                return
            }
        }
        sender = address
        recipients = []
        state = .mail
        actions.append(.send(line(250, "2.1.0", "Ok")))
    }

    mutating func rcpt(_ argument: Substring, into actions: inout [Action]) {
        guard state == .mail else {
            actions += refuse(503, "5.5.1", "Error: need MAIL command")
            return
        }
        guard let (address, parameters) = SMTPServerSession.path(argument, keyword: "TO:") else {
            actions += refuse(501, "5.5.4", "Syntax: RCPT TO:<address>")
            return
        }
        guard parameters.isEmpty else {
            actions += refuse(555, "5.5.4", "Error: RCPT parameters are not supported")
            return
        }
        if let refusal = SMTPServerSession.addressRefusal(address, allowEmpty: false) {
            actions += refuse(refusal)
            return
        }
        guard recipients.count < limits.maxRecipients else {
            actions.append(.send(line(452, "4.5.3", "Error: too many recipients")))
            return
        }
        recipients.append(address)
        actions.append(.send(line(250, "2.1.5", "Ok")))
    }

    /// `FROM:<path> params` / `TO:<path> params` (RFC 5321 §4.1.2; a space after the colon is
    /// tolerated, as most servers do). Returns the address without brackets and the parameters.
    static func path(_ argument: Substring, keyword: String) -> (String, [Substring])? {
        if let parsed = asciiPath(argument, keyword: keyword) { return parsed }
        return characterPath(argument, keyword: keyword)
    }

    /// `path` read as `Character`s (any argument).
    static func characterPath(_ argument: Substring, keyword: String) -> (String, [Substring])? {
        guard argument.count >= keyword.count, argument.prefix(keyword.count).uppercased() == keyword else {
            return nil
        }
        let rest = argument.dropFirst(keyword.count).drop(while: { $0 == " " })
        guard rest.first == "<", let close = rest.firstIndex(of: ">") else { return nil }
        var address = rest[rest.index(after: rest.startIndex)..<close]
        // A source route (`<@a,@b:user@c>`) is obsolete; its addresses are ignored (§C).
        if address.first == "@", let colon = address.firstIndex(of: ":") {
            address = address[address.index(after: colon)...]
        }
        let after = rest[rest.index(after: close)...]
        guard after.isEmpty || after.first == " " else { return nil }
        return (String(address), after.split(separator: " "))
    }

    /// `path` for an all-ASCII argument and keyword, read as bytes (the same result as the
    /// `Character` reading, without its cost). `nil`: not ASCII, or no path (then `path` decides).
    static func asciiPath(_ argument: Substring, keyword: String) -> (String, [Substring])? {
        let bytes = argument.utf8
        let key = keyword.utf8
        guard bytes.count >= key.count, !bytes.contains(where: { $0 >= 0x80 }), !key.contains(where: { $0 >= 0x80 })
        else { return nil }
        var index = bytes.startIndex
        for expected in key {
            var byte = bytes[index]
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { byte -= 0x20 }
            guard byte == expected else { return nil }
            index = bytes.index(after: index)
        }
        while index < bytes.endIndex && bytes[index] == UInt8(ascii: " ") { index = bytes.index(after: index) }
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "<"),
            let close = bytes[index...].firstIndex(of: UInt8(ascii: ">"))
        else { return nil }
        var start = bytes.index(after: index)
        // A source route (`<@a,@b:user@c>`) is obsolete; its addresses are ignored (§C).
        if start < close && bytes[start] == UInt8(ascii: "@"),
            let colon = bytes[start..<close].firstIndex(of: UInt8(ascii: ":"))
        {
            start = bytes.index(after: colon)
        }
        let after = bytes.index(after: close)
        guard after == bytes.endIndex || bytes[after] == UInt8(ascii: " ") else { return nil }
        let address = String(argument[start..<close])
        return (address, after == bytes.endIndex ? [] : argument[after...].split(separator: " "))
    }

    static func addressRefusal(_ address: String, allowEmpty: Bool) -> SMTPReply? {
        if address.isEmpty {
            return allowEmpty
                ? nil : SMTPReply(code: 501, enhancedStatus: "5.1.3", text: "Error: empty recipient address")
        }
        if address.utf8.contains(where: { $0 >= 0x80 }) {
            return SMTPReply(code: 553, enhancedStatus: "5.6.7", text: "Error: SMTPUTF8 is not supported")
        }
        guard address.utf8.count <= 254, EmailAddress.isValid(address) else {
            return SMTPReply(
                code: 501, enhancedStatus: allowEmpty ? "5.1.7" : "5.1.3", text: "Error: bad address syntax")
        }
        return nil
    }

    // MARK: - DATA

    /// Reads DATA content up to the end of the buffer or the final "." line. Returns `false` when
    /// more bytes are needed.
    mutating func processData(into actions: inout [Action]) -> Bool {
        while readIndex < buffer.count {
            if dataAtLineStart {
                // Decide about the first byte of a line only once it and its line end are known.
                guard let lf = firstLF(from: readIndex) else {
                    // A line starting with "." that is not yet complete must wait; others can flow.
                    if buffer[readIndex] == UInt8(ascii: ".") && buffer.count - readIndex < 3 { return false }
                    if buffer[readIndex] == UInt8(ascii: ".") && buffer.count - readIndex >= 3 {
                        readIndex += 1  // dot-stuffed line: drop the dot
                    }
                    dataAtLineStart = false
                    continue
                }
                let lineLength = lf + 1 - readIndex
                if lineLength == 3 && buffer[readIndex] == UInt8(ascii: ".") && buffer[readIndex + 1] == 0x0D {
                    readIndex = lf + 1
                    endOfData(into: &actions)
                    return true
                }
                if lineLength == 2 && buffer[readIndex] == UInt8(ascii: ".") {
                    // ".\n" is a bare LF, not the end of DATA.
                    readIndex += 1
                } else if buffer[readIndex] == UInt8(ascii: ".") {
                    readIndex += 1
                }
                dataAtLineStart = false
                continue
            }
            // Inside a line: copy up to and including the next LF that a "." follows or that ends
            // the buffer (the lines in between start with something else: nothing to decide).
            let end = runEnd(from: readIndex)
            appendData(from: readIndex, to: end)
            readIndex = end
        }
        return false
    }

    /// The index after the first LF from `start` on that is followed by "." or is the buffer's
    /// last byte; the buffer's end when there is none.
    func runEnd(from start: Int) -> Int {
        var from = start
        while let lf = firstLF(from: from) {
            if lf + 1 == buffer.count || buffer[lf + 1] == UInt8(ascii: ".") { return lf + 1 }
            from = lf + 1
        }
        return buffer.count
    }

    /// Copies content bytes (whole lines, but for the last), noting bare CR and bare LF and the
    /// size limit.
    mutating func appendData(from start: Int, to end: Int) {
        var pendingCR = dataPendingCR
        var bare = dataHasBareLineEnd
        var atLineStart = dataAtLineStart
        buffer.withUnsafeBufferPointer { bytes in
            guard end > start, let base = bytes.baseAddress else { return }
            // A bare line end is a CR not followed by LF or an LF not preceded by CR, across
            // calls (`pendingCR`: the previous piece ended with CR). Found with `memchr`: the
            // bytes between line ends need no look.
            if pendingCR && base[start] != 0x0A { bare = true }
            var from = start
            while !bare, let found = memchr(base + from, 0x0A, end - from) {
                let lf = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                if lf > start ? base[lf - 1] != 0x0D : !pendingCR { bare = true }
                from = lf + 1
            }
            from = start
            while !bare, let found = memchr(base + from, 0x0D, end - from) {
                let cr = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                if cr + 1 < end && base[cr + 1] != 0x0A { bare = true }
                from = cr + 1
            }
            pendingCR = base[end - 1] == 0x0D
            atLineStart = base[end - 1] == 0x0A
        }
        dataPendingCR = pendingCR
        dataHasBareLineEnd = bare
        dataAtLineStart = atLineStart
        if message.count + (end - start) > limits.maxMessageBytes {
            dataTooBig = true
        }
        if !dataTooBig { message.append(contentsOf: buffer[start..<end]) }
    }

    mutating func endOfData(into actions: inout [Action]) {
        messagesReceived += 1
        let envelope = Envelope(sender: sender, recipients: recipients)
        let content = message
        resetTransaction()
        state = .ready
        if dataTooBig {
            actions += refuse(552, "5.3.4", "Message size exceeds fixed limit of \(limits.maxMessageBytes) bytes")
            return
        }
        if dataHasBareLineEnd {
            actions += refuse(550, "5.6.11", "Error: bare CR or LF in message content (RFC 5321 section 2.3.8)")
            return
        }
        state = .busy
        actions.append(.deliver(envelope: envelope, message: content))
    }

    // MARK: - Replies

    mutating func resetTransaction() {
        sender = ""
        recipients = []
        message = []
        if state == .mail || state == .data { state = .ready }
    }

    func line(_ code: Int, _ status: String?, _ text: String) -> [UInt8] {
        // `"\(code) \(status) \(text)\r\n"`, written as bytes.
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        out += String(code).utf8
        out.append(UInt8(ascii: " "))
        if let status {
            out += status.utf8
            out.append(UInt8(ascii: " "))
        }
        out += text.utf8
        out += [0x0D, 0x0A]
        return out
    }

    func line(_ reply: SMTPReply) -> [UInt8] {
        Array("\(reply.description)\r\n".utf8)
    }

    func shutdownLine() -> [UInt8] {
        line(421, "4.3.2", "\(hostname) Service shutting down, try again later")
    }

    mutating func closing(_ bytes: [UInt8]) -> [Action] {
        state = .closed
        buffer = []
        readIndex = 0
        return [.send(bytes), .close]
    }

    mutating func refuse(_ code: Int, _ status: String, _ text: String) -> [Action] {
        refuse(SMTPReply(code: code, enhancedStatus: status, text: text))
    }

    /// A refused command; too many of them end the session.
    mutating func refuse(_ reply: SMTPReply) -> [Action] {
        errors += 1
        if errors >= limits.maxErrors {
            return [.send(line(reply))] + closing(line(421, "4.7.0", "\(hostname) Error: too many errors"))
        }
        return [.send(line(reply))]
    }
}
