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
/// - STARTTLS, AUTH, BDAT and SMTPUTF8 are not offered: `502 5.5.1`, and a non-ASCII address is
///   `553 5.6.7`.
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
        /// The connection is over; input is ignored.
        case closed
    }

    /// The limits enforced.
    public let limits: SMTPServerLimits
    /// The host name given in the greeting and in the EHLO reply.
    public let hostname: String

    var state: State = .connected
    var greeted = false
    var sender = ""
    var recipients: [String] = []
    var messagesReceived = 0
    var errors = 0
    var draining = false

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
    public init(hostname: String, limits: SMTPServerLimits = SMTPServerLimits()) {
        self.hostname = hostname
        self.limits = limits
    }

    /// `true` while a message is being relayed (the idle timeout does not apply).
    public var isBusy: Bool { state == .busy }
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
        if state == .busy {
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

    /// The server is shutting down: `421 4.3.2` now, or right after the reply of the message being
    /// relayed, so nothing accepted is lost.
    public mutating func shutdown() -> [Action] {
        switch state {
        case .closed: return []
        case .busy:
            draining = true
            return []
        default: return closing(shutdownLine())
        }
    }

    /// The idle timeout expired: `421 4.4.2` and close (not while a message is being relayed).
    public mutating func idleTimeout() -> [Action] {
        guard state != .closed, state != .busy else { return [] }
        return closing(line(421, "4.4.2", "\(hostname) Error: timeout exceeded"))
    }

    // MARK: - Input

    mutating func process(into actions: inout [Action]) {
        while state != .busy && state != .closed {
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
        var index = start
        while index < buffer.count {
            if buffer[index] == 0x0A { return index }
            index += 1
        }
        return nil
    }

    /// One command line, if a whole one is there. Returns `false` when more bytes are needed.
    mutating func processCommandLine(into actions: inout [Action]) -> Bool {
        guard let lf = firstLF(from: readIndex) else {
            // Without its LF a line already past the limit can only be discarded.
            if buffer.count - readIndex > limits.maxCommandLineBytes {
                discardingLine = true
                readIndex = buffer.count
            }
            return false
        }
        let start = readIndex
        readIndex = lf + 1
        if discardingLine || lf + 1 - start > limits.maxCommandLineBytes {
            discardingLine = false
            actions += refuse(500, "5.5.2", "Error: line too long")
            return true
        }
        var end = lf
        if end > start && buffer[end - 1] == 0x0D { end -= 1 }
        command(buffer[start..<end], into: &actions)
        return true
    }

    // MARK: - Commands

    mutating func command(_ bytes: ArraySlice<UInt8>, into actions: inout [Action]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let verbEnd = text.firstIndex(of: " ") ?? text.endIndex
        let verb = text[..<verbEnd].uppercased()
        let argument = text[verbEnd...].drop(while: { $0 == " " })
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
                let lines = [
                    hostname, "PIPELINING", "SIZE \(limits.maxMessageBytes)", "8BITMIME", "ENHANCEDSTATUSCODES",
                ]
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
            // Inside a line: copy up to and including the next LF.
            let end = firstLF(from: readIndex).map { $0 + 1 } ?? buffer.count
            appendData(from: readIndex, to: end)
            readIndex = end
        }
        return false
    }

    /// Copies content bytes, noting bare CR and bare LF and the size limit.
    mutating func appendData(from start: Int, to end: Int) {
        var index = start
        while index < end {
            let byte = buffer[index]
            if dataPendingCR && byte != 0x0A { dataHasBareLineEnd = true }
            if byte == 0x0A {
                if !dataPendingCR { dataHasBareLineEnd = true }
                dataAtLineStart = true
            }
            dataPendingCR = byte == 0x0D
            index += 1
        }
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
        Array("\(code) \(status.map { $0 + " " } ?? "")\(text)\r\n".utf8)
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
