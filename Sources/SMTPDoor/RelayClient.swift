import Linkstamp
import NIOCore
import NIOPosix
import SMTPAPI
import Synchronization

/// Hands copies to the downstream MTA (`--relay HOST:PORT`) as an SMTP client: pipelined
/// MAIL/RCPT/DATA when the server offers PIPELINING, one command at a time otherwise, over a
/// small pool of reused connections.
public final class RelayClient: Sendable {
    /// One copy to hand over: its envelope and its content (CRLF line ends, not yet dot-stuffed).
    public struct Item: Sendable {
        /// MAIL FROM, empty for the null sender.
        public var sender: String
        /// The one RCPT TO.
        public var recipient: String
        /// The copy's bytes.
        public var content: [UInt8]

        /// An item.
        public init(sender: String, recipient: String, content: [UInt8]) {
            self.sender = sender
            self.recipient = recipient
            self.content = content
        }
    }

    let host: String
    let port: Int
    let heloName: String
    let group: any EventLoopGroup
    let maxIdleConnections: Int
    /// Seconds without any traffic before a relay connection is given up.
    let timeoutSeconds: Int64
    let idle = Mutex<[RelayConnection]>([])

    /// A client for `host:port`, greeting it as `heloName`.
    public init(
        host: String, port: Int, heloName: String, group: any EventLoopGroup, maxIdleConnections: Int = 8,
        timeoutSeconds: Int64 = 120
    ) {
        self.host = host
        self.port = port
        self.heloName = heloName
        self.group = group
        self.maxIdleConnections = maxIdleConnections
        self.timeoutSeconds = timeoutSeconds
    }

    /// Hands every item over, in order, and returns the downstream's final reply for each (a
    /// `4.4.x` reply of ours when the connection failed). Stops at the first item that could not
    /// be handed over for a connection reason; the rest get the same reply.
    public func deliver(_ items: [Item]) async -> [SMTPReply] {
        guard !items.isEmpty else { return [] }
        var replies: [SMTPReply] = []
        var connection: RelayConnection
        var reused: Bool
        do { (connection, reused) = try await checkOut() } catch {
            return items.map { _ in RelayClient.unreachable(error) }
        }
        var index = 0
        while index < items.count {
            do {
                replies.append(try await connection.transaction(items[index]))
                index += 1
                reused = false
            } catch {
                connection.close()
                // A pooled connection the server closed meanwhile: try once more on a new one.
                if reused {
                    reused = false
                    do {
                        connection = try await connect()
                        continue
                    } catch {
                        return replies + items[index...].map { _ in RelayClient.unreachable(error) }
                    }
                }
                return replies + items[index...].map { _ in RelayClient.lost(error) }
            }
        }
        checkIn(connection)
        return replies
    }

    /// Sends QUIT on the idle connections and closes them.
    public func shutdown() async {
        let connections = idle.withLock { pool in
            let all = pool
            pool = []
            return all
        }
        for connection in connections { await connection.quit() }
    }

    func checkOut() async throws -> (RelayConnection, Bool) {
        while let pooled = idle.withLock({ $0.popLast() }) {
            if pooled.isUsable { return (pooled, true) }
            pooled.close()
        }
        return (try await connect(), false)
    }

    func checkIn(_ connection: RelayConnection) {
        guard connection.isUsable else {
            connection.close()
            return
        }
        let kept = idle.withLock { pool in
            guard pool.count < maxIdleConnections else { return false }
            pool.append(connection)
            return true
        }
        if !kept { Task { await connection.quit() } }
    }

    func connect() async throws -> RelayConnection {
        let timeout = TimeAmount.seconds(timeoutSeconds)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: timeout))
                    try channel.pipeline.syncOperations.addHandler(RelayReplyHandler())
                }
            }
            .connect(host: host, port: port)
            .get()
        let connection = RelayConnection(channel: channel)
        do {
            try await connection.open(heloName: heloName)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    static func unreachable(_ error: any Error) -> SMTPReply {
        SMTPReply(code: 451, enhancedStatus: "4.4.1", text: "linkstamp relay: cannot connect to the relay (\(error))")
    }

    static func lost(_ error: any Error) -> SMTPReply {
        SMTPReply(
            code: 451, enhancedStatus: "4.4.2", text: "linkstamp relay: connection to the relay failed (\(error))")
    }
}

/// Why a relay connection is no longer usable.
struct RelayError: Error, CustomStringConvertible {
    var description: String

    static let closed = RelayError(description: "connection closed")
    static let malformed = RelayError(description: "malformed reply")
    static func unexpected(_ reply: RelayReply, after what: String) -> RelayError {
        RelayError(description: "\(what): \(reply.smtpReply.description.prefix(200))")
    }
}

/// One connection to the relay, used by one delivery at a time.
final class RelayConnection: Sendable {
    let channel: any Channel
    let state = Mutex<(pipelining: Bool, eightBit: Bool, broken: Bool)>((false, false, false))

    init(channel: any Channel) {
        self.channel = channel
    }

    var isUsable: Bool { channel.isActive && !state.withLock { $0.broken } }

    func close() {
        state.withLock { $0.broken = true }
        channel.close(promise: nil)
    }

    /// Says QUIT and closes; a relay that does not answer within `seconds` is hung up on, so a
    /// shutdown never waits on it.
    func quit(within seconds: Int64 = 2) async {
        let channel = self.channel
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(seconds)) { channel.close(promise: nil) }
        _ = try? await send(Array("QUIT\r\n".utf8), replies: 1)
        deadline.cancel()
        close()
    }

    /// Sends `bytes` and waits for `replies` replies.
    func send(_ bytes: [UInt8], replies count: Int) async throws -> [RelayReply] {
        let promises = (0..<count).map { _ in channel.eventLoop.makePromise(of: RelayReply.self) }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        // A write that never reaches the handler (the channel closed meanwhile) must still fail
        // the replies, or the delivery would wait for ever. Failing a fulfilled promise is a no-op.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            for promise in promises { promise.fail(error) }
        }
        channel.writeAndFlush(RelayRequest(bytes: buffer, promises: promises), promise: written)
        var replies: [RelayReply] = []
        for promise in promises { replies.append(try await promise.futureResult.get()) }
        return replies
    }

    /// Reads the greeting and says EHLO (HELO when EHLO is refused).
    func open(heloName: String) async throws {
        let greeting = try await send([], replies: 1)[0]
        guard greeting.code == 220 else { throw RelayError.unexpected(greeting, after: "greeting") }
        let ehlo = try await send(Array("EHLO \(heloName)\r\n".utf8), replies: 1)[0]
        if ehlo.code == 250 {
            let keywords = Set(
                ehlo.lines.dropFirst().map { $0.split(separator: " ").first.map { $0.uppercased() } ?? "" })
            state.withLock {
                $0.pipelining = keywords.contains("PIPELINING")
                $0.eightBit = keywords.contains("8BITMIME")
            }
            return
        }
        let helo = try await send(Array("HELO \(heloName)\r\n".utf8), replies: 1)[0]
        guard helo.code == 250 else { throw RelayError.unexpected(helo, after: "HELO") }
    }

    /// One MAIL/RCPT/DATA transaction. Returns the reply that decides the copy's fate; throws
    /// when the connection can no longer be used.
    func transaction(_ item: RelayClient.Item) async throws -> SMTPReply {
        let (pipelining, eightBit) = state.withLock { ($0.pipelining, $0.eightBit) }
        let mail = Array("MAIL FROM:<\(item.sender)>\(eightBit ? " BODY=8BITMIME" : "")\r\n".utf8)
        let rcpt = Array("RCPT TO:<\(item.recipient)>\r\n".utf8)
        let data = Array("DATA\r\n".utf8)
        var first: [RelayReply]
        if pipelining {
            first = try await send(mail + rcpt + data, replies: 3)
        } else {
            first = try await send(mail, replies: 1)
            if first[0].code / 100 == 2 {
                first += try await send(rcpt, replies: 1)
                if first[1].code / 100 == 2 { first += try await send(data, replies: 1) }
            }
        }
        if let closing = first.first(where: { $0.code == 421 }) {
            close()
            return closing.smtpReply
        }
        let refused = first.first(where: { $0.code / 100 != 2 && $0.code != 354 })
        if first.count == 3 && first[2].code == 354 {
            guard refused == nil else {
                // DATA accepted although MAIL or RCPT was refused: sending nothing is the only
                // safe end, and the connection cannot be reused.
                close()
                return refused?.smtpReply ?? RelayClient.lost(RelayError.closed)
            }
            var framed: [UInt8] = []
            BatchSMTP.appendData(item.content, to: &framed)
            let final = try await send(framed, replies: 1)[0]
            if final.code == 421 { close() }
            return final.smtpReply
        }
        let reset = try await send(Array("RSET\r\n".utf8), replies: 1)[0]
        if reset.code != 250 { close() }
        return (refused ?? first[first.count - 1]).smtpReply
    }
}

/// Bytes to write and the replies they are owed, in order.
struct RelayRequest: Sendable {
    var bytes: ByteBuffer
    var promises: [EventLoopPromise<RelayReply>]
}

/// Matches the downstream's replies to the requests' promises, in order; replies that arrive
/// first (the greeting) wait for their request.
final class RelayReplyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RelayRequest
    typealias OutboundOut = ByteBuffer

    var parser = SMTPReplyParser()
    var waiting: [EventLoopPromise<RelayReply>] = []
    var early: [RelayReply] = []
    var failure: (any Error)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            for waiter in request.promises { waiter.fail(failure) }
            promise?.fail(failure)
            return
        }
        waiting += request.promises
        match()
        if request.bytes.readableBytes > 0 {
            context.write(wrapOutboundOut(request.bytes), promise: promise)
        } else {
            promise?.succeed()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            early += try parser.feed(buffer.readableBytesView)
        } catch {
            fail(RelayError.malformed)
            context.close(promise: nil)
            return
        }
        match()
    }

    func match() {
        while !waiting.isEmpty && !early.isEmpty {
            waiting.removeFirst().succeed(early.removeFirst())
        }
    }

    func fail(_ error: any Error) {
        if failure == nil { failure = error }
        let pending = waiting
        waiting = []
        for waiter in pending { waiter.fail(failure ?? error) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(RelayError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            fail(RelayError(description: "relay timed out"))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
