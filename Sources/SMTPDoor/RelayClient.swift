import Linkstamp
import NIOCore
import NIOPosix
import SMTPAPI
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
    ///
    /// The items of one call run as one chain on the connection's event loop (no hop to Swift
    /// concurrency between copies); with PIPELINING, each copy's content goes out together with
    /// the next copy's MAIL/RCPT/DATA (RFC 2920 §3.1), so every copy costs one round trip.
    public func deliver(_ items: [Item]) async -> [SMTPReply] {
        let loop = group.next()
        do { return try await deliver(items, on: loop).get() } catch {
            return items.map { _ in RelayClient.lost(error) }  // never: the future does not fail
        }
    }

    /// The same as a future completed on `loop`, which never fails. A pooled connection of
    /// `loop` is preferred, and a new one is opened on `loop`, so a caller on `loop` (the door's
    /// client connection) hands its copies over without a thread hop.
    public func deliver(_ items: [Item], on loop: any EventLoop) -> EventLoopFuture<[SMTPReply]> {
        guard !items.isEmpty else { return loop.makeSucceededFuture([]) }
        if let pooled = checkOutPooled(preferring: loop) {
            return run(items, done: [], on: pooled, reused: true, loop: loop)
        }
        return connect(on: loop).flatMap { connection in
            self.run(items, done: [], on: connection, reused: false, loop: loop)
        }.flatMapError { error in
            loop.makeSucceededFuture(items.map { _ in RelayClient.unreachable(error) })
        }
    }

    /// The items after `done` on `connection`; on `loop`, never fails.
    func run(
        _ items: [Item], done: [SMTPReply], on connection: RelayConnection, reused: Bool, loop: any EventLoop
    ) -> EventLoopFuture<[SMTPReply]> {
        connection.transactions(items[done.count...]).hop(to: loop).flatMap { outcome in
            let replies = done + outcome.replies
            guard let error = outcome.error else {
                if replies.count < items.count {
                    return self.run(items, done: replies, on: connection, reused: reused, loop: loop)
                }
                self.checkIn(connection)
                return loop.makeSucceededFuture(replies)
            }
            connection.close()
            // A pooled connection the server closed meanwhile: try once more on a new one.
            if reused && outcome.replies.isEmpty {
                return self.connect(on: loop).flatMap { fresh in
                    self.run(items, done: replies, on: fresh, reused: false, loop: loop)
                }.flatMapError { error in
                    loop.makeSucceededFuture(
                        replies + items[replies.count...].map { _ in RelayClient.unreachable(error) })
                }
            }
            return loop.makeSucceededFuture(replies + items[replies.count...].map { _ in RelayClient.lost(error) })
        }
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

    /// An idle usable connection, one of `loop` when there is one.
    func checkOutPooled(preferring loop: any EventLoop) -> RelayConnection? {
        while let pooled = idle.withLock({ pool -> RelayConnection? in
            if let index = pool.lastIndex(where: { $0.channel.eventLoop === loop }) { return pool.remove(at: index) }
            return pool.popLast()
        }) {
            if pooled.isUsable { return pooled }
            pooled.close()
        }
        return nil
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

    /// A new connection on `loop`, greeted.
    func connect(on loop: any EventLoop) -> EventLoopFuture<RelayConnection> {
        loop.makeFutureWithTask { try await self.connect(group: loop) }
    }

    /// A new connection on any of the group's loops, greeted.
    func connect() async throws -> RelayConnection {
        try await connect(group: group)
    }

    func connect(group: any EventLoopGroup) async throws -> RelayConnection {
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

    /// What a run of transactions ended with: the deciding reply of each copy handed over, in
    /// order, and the error that made the connection unusable before the rest, if any.
    struct Outcome: Sendable {
        var replies: [SMTPReply]
        var error: (any Error)?
    }

    /// Writes `bytes` and returns one future per reply owed, in order (each fails when the
    /// connection fails first). On the event loop the write is immediate.
    func request(_ bytes: ByteBuffer, replies count: Int) -> [EventLoopFuture<RelayReply>] {
        let promises = (0..<count).map { _ in channel.eventLoop.makePromise(of: RelayReply.self) }
        // See `send`: a write that never reaches the handler must still fail the replies.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            for promise in promises { promise.fail(error) }
        }
        channel.writeAndFlush(RelayRequest(bytes: bytes, promises: promises), promise: written)
        return promises.map(\.futureResult)
    }

    /// MAIL FROM, RCPT TO and DATA of `item`, appended to `buffer`.
    func envelopeCommands(_ item: RelayClient.Item, eightBit: Bool, into buffer: inout ByteBuffer) {
        buffer.writeString("MAIL FROM:<")
        buffer.writeString(item.sender)
        buffer.writeString(eightBit ? "> BODY=8BITMIME\r\n" : ">\r\n")
        buffer.writeString("RCPT TO:<")
        buffer.writeString(item.recipient)
        buffer.writeString(">\r\nDATA\r\n")
    }

    /// MAIL, RCPT and DATA of `item`: pipelined, or one at a time, each only after the one before
    /// it was accepted. The replies, up to three.
    func envelope(_ item: RelayClient.Item, pipelining: Bool, eightBit: Bool) -> EventLoopFuture<[RelayReply]> {
        let loop = channel.eventLoop
        if pipelining {
            var buffer = channel.allocator.buffer(capacity: 64 + item.sender.utf8.count + item.recipient.utf8.count)
            envelopeCommands(item, eightBit: eightBit, into: &buffer)
            return EventLoopFuture.whenAllSucceed(request(buffer, replies: 3), on: loop)
        }
        let mail = channel.allocator.buffer(string: "MAIL FROM:<\(item.sender)>\(eightBit ? " BODY=8BITMIME" : "")\r\n")
        let rcpt = channel.allocator.buffer(string: "RCPT TO:<\(item.recipient)>\r\n")
        let data = channel.allocator.buffer(string: "DATA\r\n")
        return request(mail, replies: 1)[0].flatMap { mailReply in
            guard mailReply.code / 100 == 2 else { return loop.makeSucceededFuture([mailReply]) }
            return self.request(rcpt, replies: 1)[0].flatMap { rcptReply in
                guard rcptReply.code / 100 == 2 else { return loop.makeSucceededFuture([mailReply, rcptReply]) }
                return self.request(data, replies: 1)[0].map { [mailReply, rcptReply, $0] }
            }
        }
    }

    /// MAIL/RCPT/DATA transactions for `items`, in order, as one chain of callbacks on the
    /// connection's event loop. Never fails: a connection problem ends the run with `error` set
    /// (the copies after the last reply were not handed over).
    func transactions(_ items: ArraySlice<RelayClient.Item>) -> EventLoopFuture<Outcome> {
        let (pipelining, eightBit) = state.withLock { ($0.pipelining, $0.eightBit) }
        let items = Array(items)
        let promise = channel.eventLoop.makePromise(of: Outcome.self)
        if channel.eventLoop.inEventLoop {
            transaction(
                items, at: 0, done: [], envelope: nil, pipelining: pipelining, eightBit: eightBit, promise: promise)
        } else {
            channel.eventLoop.execute {
                self.transaction(
                    items, at: 0, done: [], envelope: nil, pipelining: pipelining, eightBit: eightBit, promise: promise)
            }
        }
        return promise.futureResult
    }

    /// One transaction of the chain: `envelope` holds the replies to this item's MAIL/RCPT/DATA
    /// when they were pipelined after the previous copy's content.
    func transaction(
        _ items: [RelayClient.Item], at index: Int, done: [SMTPReply], envelope pending: EventLoopFuture<[RelayReply]>?,
        pipelining: Bool, eightBit: Bool, promise: EventLoopPromise<Outcome>
    ) {
        guard index < items.count else {
            promise.succeed(Outcome(replies: done, error: nil))
            return
        }
        let item = items[index]
        let first = pending ?? envelope(item, pipelining: pipelining, eightBit: eightBit)
        first.whenComplete { result in
            let first: [RelayReply]
            switch result {
            case .failure(let error):
                promise.succeed(Outcome(replies: done, error: error))
                return
            case .success(let replies): first = replies
            }
            if let closing = first.first(where: { $0.code == 421 }) {
                self.close()
                promise.succeed(Outcome(replies: done + [closing.smtpReply], error: RelayError.closed))
                return
            }
            let refused = first.first(where: { $0.code / 100 != 2 && $0.code != 354 })
            if first.count == 3 && first[2].code == 354 {
                guard let refused else {
                    self.content(
                        items, at: index, done: done, pipelining: pipelining, eightBit: eightBit, promise: promise)
                    return
                }
                // DATA accepted although MAIL or RCPT was refused: sending nothing is the only
                // safe end, and the connection cannot be reused.
                self.close()
                promise.succeed(Outcome(replies: done + [refused.smtpReply], error: RelayError.closed))
                return
            }
            let decided = (refused ?? first[first.count - 1]).smtpReply
            var reset = self.channel.allocator.buffer(capacity: 6)
            reset.writeString("RSET\r\n")
            self.request(reset, replies: 1)[0].whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.succeed(Outcome(replies: done, error: error))
                case .success(let reply):
                    if reply.code != 250 { self.close() }
                    self.transaction(
                        items, at: index + 1, done: done + [decided], envelope: nil, pipelining: pipelining,
                        eightBit: eightBit, promise: promise)
                }
            }
        }
    }

    /// The content of `items[index]` after its `354`, with the next item's MAIL/RCPT/DATA
    /// pipelined behind it; then the chain goes on with the next item.
    func content(
        _ items: [RelayClient.Item], at index: Int, done: [SMTPReply], pipelining: Bool, eightBit: Bool,
        promise: EventLoopPromise<Outcome>
    ) {
        let item = items[index]
        let next = index + 1 < items.count && pipelining ? items[index + 1] : nil
        var buffer = channel.allocator.buffer(
            capacity: item.content.count + item.content.count / 64 + 8 + (next == nil ? 0 : 600))
        RelayConnection.appendData(item.content, to: &buffer)
        if let next { envelopeCommands(next, eightBit: eightBit, into: &buffer) }
        let replies = request(buffer, replies: next == nil ? 1 : 4)
        replies[0].whenComplete { result in
            switch result {
            case .failure(let error):
                promise.succeed(Outcome(replies: done, error: error))
            case .success(let final):
                if final.code == 421 {
                    self.close()
                    promise.succeed(Outcome(replies: done + [final.smtpReply], error: RelayError.closed))
                    return
                }
                let pending =
                    next == nil ? nil : EventLoopFuture.whenAllSucceed(Array(replies[1...]), on: self.channel.eventLoop)
                self.transaction(
                    items, at: index + 1, done: done + [final.smtpReply], envelope: pending, pipelining: pipelining,
                    eightBit: eightBit, promise: promise)
            }
        }
    }
}

extension RelayConnection {
    /// `BatchSMTP.appendData` written straight into a `ByteBuffer`, the same bytes: bare LF and
    /// bare CR become CRLF, a line starting with "." gets another (RFC 5321 §4.5.2), and the
    /// terminating `.` line follows. Each line's text is found with `memchr` and copied at once.
    static func appendData(_ message: [UInt8], to out: inout ByteBuffer) {
        let crlf: StaticString = "\r\n"
        var atLineStart = true
        message.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return }
            let count = bytes.count
            var index = 0
            while index < count {
                if atLineStart && base[index] == UInt8(ascii: ".") { out.writeInteger(UInt8(ascii: ".")) }
                // The line's text ends at its first CR or LF.
                var end = count
                if let lf = memchr(base + index, 0x0A, count - index) {
                    end = base.distance(to: lf.assumingMemoryBound(to: UInt8.self))
                }
                if let cr = memchr(base + index, 0x0D, end - index) {
                    end = base.distance(to: cr.assumingMemoryBound(to: UInt8.self))
                }
                out.writeBytes(UnsafeRawBufferPointer(start: base + index, count: end - index))
                guard end < count else {
                    atLineStart = false
                    break
                }
                out.writeStaticString(crlf)
                index = end + 1
                if base[end] == 0x0D && index < count && base[index] == 0x0A { index += 1 }
                atLineStart = true
            }
        }
        if !atLineStart { out.writeStaticString(crlf) }
        out.writeStaticString(".\r\n")
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
