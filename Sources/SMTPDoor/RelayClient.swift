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

    /// MAIL FROM, RCPT TO and DATA of `item`, appended to `buffer`.
    static func envelopeCommands(_ item: RelayClient.Item, eightBit: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("MAIL FROM:<")
        buffer.writeString(item.sender)
        buffer.writeStaticString(eightBit ? "> BODY=8BITMIME\r\n" : ">\r\n")
        buffer.writeStaticString("RCPT TO:<")
        buffer.writeString(item.recipient)
        buffer.writeStaticString(">\r\nDATA\r\n")
    }

    /// MAIL/RCPT/DATA transactions for `items`, in order, run on the connection's event loop by
    /// a `RelayRun` that the connection's reply handler feeds every reply (no promise or future
    /// per command). Never fails: a connection problem ends the run with `error` set (the copies
    /// after the last reply were not handed over).
    func transactions(_ items: ArraySlice<RelayClient.Item>) -> EventLoopFuture<Outcome> {
        let (pipelining, eightBit) = state.withLock { ($0.pipelining, $0.eightBit) }
        let run = RelayRun(
            connection: self, items: Array(items), pipelining: pipelining, eightBit: eightBit,
            promise: channel.eventLoop.makePromise(of: Outcome.self))
        if channel.eventLoop.inEventLoop {
            run.start()
        } else {
            channel.eventLoop.execute { run.start() }
        }
        return run.promise.futureResult
    }
}

/// One run of transactions on a relay connection: a state machine driven by the replies, in
/// order, all on the connection's event loop.
///
/// Per item: MAIL, RCPT and DATA (pipelined in one write when the server offers PIPELINING, else
/// each only after the one before it was accepted); after `354` the content, with the next
/// item's MAIL/RCPT/DATA pipelined behind it (RFC 2920 §3.1), so every copy costs one write and
/// one round trip. A refused envelope is reset (`RSET`) and the run goes on with the next item;
/// `421` ends the run (the connection is closed); `354` after a refused MAIL or RCPT closes the
/// connection without sending anything.
final class RelayRun: @unchecked Sendable {
    // @unchecked: every method runs on `connection.channel.eventLoop`.
    let connection: RelayConnection
    let items: [RelayClient.Item]
    let pipelining: Bool
    let eightBit: Bool
    let promise: EventLoopPromise<RelayConnection.Outcome>

    /// What the replies now arriving answer.
    enum Phase {
        /// The current item's MAIL, RCPT and DATA; `sent` of them written so far.
        case envelope(sent: Int)
        /// The current item's content (its final reply); `pipelined`: the next item's
        /// MAIL/RCPT/DATA went out behind it.
        case content(pipelined: Bool)
        /// The RSET after the current item's refused envelope, whose deciding reply is `decided`.
        case reset(decided: SMTPReply)
        case finished
    }

    var phase = Phase.finished
    var index = 0
    var done: [SMTPReply] = []
    /// Replies to the current item's MAIL/RCPT/DATA so far.
    var envelopeReplies: [RelayReply] = []

    init(
        connection: RelayConnection, items: [RelayClient.Item], pipelining: Bool, eightBit: Bool,
        promise: EventLoopPromise<RelayConnection.Outcome>
    ) {
        self.connection = connection
        self.items = items
        self.pipelining = pipelining
        self.eightBit = eightBit
        self.promise = promise
        done.reserveCapacity(items.count)
        envelopeReplies.reserveCapacity(3)
    }

    var channel: any Channel { connection.channel }

    func start() {
        guard !items.isEmpty else { return finish(error: nil) }
        sendEnvelope()
    }

    /// Writes `bytes`, owing `replies` replies to this run. On a connection that is no longer
    /// active nothing reaches the reply handler, so the run ends here; on an active one the
    /// handler answers every owed reply or fails it.
    func write(_ bytes: ByteBuffer, replies: Int) {
        guard channel.isActive else { return received(.failure(RelayError.closed)) }
        channel.writeAndFlush(RelayRequest(bytes: bytes, run: self, replies: replies), promise: nil)
    }

    func sendEnvelope() {
        let item = items[index]
        envelopeReplies.removeAll(keepingCapacity: true)
        var buffer = channel.allocator.buffer(capacity: 64 + item.sender.utf8.count + item.recipient.utf8.count)
        if pipelining {
            RelayConnection.envelopeCommands(item, eightBit: eightBit, into: &buffer)
            phase = .envelope(sent: 3)
            write(buffer, replies: 3)
        } else {
            buffer.writeString("MAIL FROM:<\(item.sender)>\(eightBit ? " BODY=8BITMIME" : "")\r\n")
            phase = .envelope(sent: 1)
            write(buffer, replies: 1)
        }
    }

    /// The next reply owed to this run, or the connection's failure.
    func received(_ result: Result<RelayReply, any Error>) {
        let reply: RelayReply
        switch result {
        case .failure(let error):
            return finish(error: error)
        case .success(let value): reply = value
        }
        switch phase {
        case .finished:
            return
        case .envelope(let sent):
            envelopeReplies.append(reply)
            guard envelopeReplies.count == sent else { return }
            if sent < 3 && reply.code / 100 == 2 {
                // One command at a time: the next only after this one was accepted.
                let item = items[index]
                let command = sent == 1 ? "RCPT TO:<\(item.recipient)>\r\n" : "DATA\r\n"
                phase = .envelope(sent: sent + 1)
                write(channel.allocator.buffer(string: command), replies: 1)
                return
            }
            envelopeAnswered()
        case .content(let pipelined):
            if reply.code == 421 {
                connection.close()
                done.append(reply.smtpReply)
                return finish(error: RelayError.closed)
            }
            done.append(reply.smtpReply)
            index += 1
            guard index < items.count else { return finish(error: nil) }
            if pipelined {
                envelopeReplies.removeAll(keepingCapacity: true)
                phase = .envelope(sent: 3)
            } else {
                sendEnvelope()
            }
        case .reset(let decided):
            if reply.code != 250 { connection.close() }
            done.append(decided)
            index += 1
            guard index < items.count else { return finish(error: nil) }
            sendEnvelope()
        }
    }

    /// Every reply to the current item's envelope is in (or the first refusal without
    /// pipelining): send the content, or reset, or give up on the connection.
    func envelopeAnswered() {
        let replies = envelopeReplies
        if let closing = replies.first(where: { $0.code == 421 }) {
            connection.close()
            done.append(closing.smtpReply)
            return finish(error: RelayError.closed)
        }
        let refused = replies.first(where: { $0.code / 100 != 2 && $0.code != 354 })
        if replies.count == 3 && replies[2].code == 354 {
            guard let refused else { return sendContent() }
            // DATA accepted although MAIL or RCPT was refused: sending nothing is the only
            // safe end, and the connection cannot be reused.
            connection.close()
            done.append(refused.smtpReply)
            return finish(error: RelayError.closed)
        }
        let decided = (refused ?? replies[replies.count - 1]).smtpReply
        phase = .reset(decided: decided)
        var reset = channel.allocator.buffer(capacity: 6)
        reset.writeStaticString("RSET\r\n")
        write(reset, replies: 1)
    }

    /// The current item's content after its `354`, with the next item's MAIL/RCPT/DATA
    /// pipelined behind it.
    func sendContent() {
        let item = items[index]
        let next = index + 1 < items.count && pipelining ? items[index + 1] : nil
        var buffer = channel.allocator.buffer(
            capacity: item.content.count + item.content.count / 64 + 8 + (next == nil ? 0 : 600))
        RelayConnection.appendData(item.content, to: &buffer)
        if let next { RelayConnection.envelopeCommands(next, eightBit: eightBit, into: &buffer) }
        phase = .content(pipelined: next != nil)
        write(buffer, replies: next == nil ? 1 : 4)
    }

    /// Completes the run once; a failure arriving after that (replies owed to a finished run)
    /// changes nothing.
    func finish(error: (any Error)?) {
        if case .finished = phase, promiseDone { return }
        promiseDone = true
        phase = .finished
        promise.succeed(RelayConnection.Outcome(replies: done, error: error))
    }

    var promiseDone = false
}

extension RelayConnection {
    /// `BatchSMTP.appendData` written straight into a `ByteBuffer`, the same bytes: bare LF and
    /// bare CR become CRLF, a line starting with "." gets another (RFC 5321 §4.5.2), and the
    /// terminating `.` line follows. Line ends are found with `memchr`; runs of lines that need
    /// no change (CRLF-terminated, not starting with ".") are copied at once.
    static func appendData(_ message: [UInt8], to out: inout ByteBuffer) {
        let crlf: StaticString = "\r\n"
        var atLineStart = true
        message.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return }
            let count = bytes.count
            // Bytes from `run` up to `index` go out unchanged, in one copy, when the run ends.
            var run = 0
            var index = 0
            func flush(to end: Int) {
                if end > run { out.writeBytes(UnsafeRawBufferPointer(start: base + run, count: end - run)) }
            }
            while index < count {
                if atLineStart && base[index] == UInt8(ascii: ".") {
                    flush(to: index)
                    out.writeInteger(UInt8(ascii: "."))
                    run = index  // the line's own dot follows
                }
                var lf = count
                if let found = memchr(base + index, 0x0A, count - index) {
                    lf = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                }
                // The line's text ends at its first CR or LF.
                var cr = lf
                if let found = memchr(base + index, 0x0D, lf - index) {
                    cr = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                }
                if cr + 1 == lf && lf < count {
                    // CRLF: unchanged.
                    index = lf + 1
                    atLineStart = true
                    continue
                }
                let end = min(cr, lf)
                guard end < count else {
                    // The last line, without a line end.
                    atLineStart = false
                    break
                }
                // A bare CR or a bare LF: the text, then CRLF.
                flush(to: end)
                out.writeStaticString(crlf)
                index = end + 1
                run = index
                atLineStart = true
            }
            flush(to: count)
        }
        if !atLineStart { out.writeStaticString(crlf) }
        out.writeStaticString(".\r\n")
    }
}

/// Bytes to write and the replies they are owed, in order: to promises, or to a `RelayRun`.
struct RelayRequest: Sendable {
    var bytes: ByteBuffer
    var promises: [EventLoopPromise<RelayReply>]
    var run: RelayRun?
    var runReplies = 0

    init(bytes: ByteBuffer, promises: [EventLoopPromise<RelayReply>]) {
        self.bytes = bytes
        self.promises = promises
    }

    init(bytes: ByteBuffer, run: RelayRun, replies: Int) {
        self.bytes = bytes
        self.promises = []
        self.run = run
        self.runReplies = replies
    }
}

/// Who is owed the next reply.
enum RelayWaiter {
    case promise(EventLoopPromise<RelayReply>)
    case run(RelayRun)

    func answer(_ result: Result<RelayReply, any Error>) {
        switch self {
        case .promise(let promise): promise.completeWith(result)
        case .run(let run): run.received(result)
        }
    }
}

/// Matches the downstream's replies to the requests' promises, in order; replies that arrive
/// first (the greeting) wait for their request.
final class RelayReplyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RelayRequest
    typealias OutboundOut = ByteBuffer

    var parser = SMTPReplyParser()
    var waiting = CircularBuffer<RelayWaiter>(initialCapacity: 8)
    var early = CircularBuffer<RelayReply>(initialCapacity: 8)
    var failure: (any Error)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            for waiter in request.promises { waiter.fail(failure) }
            if let run = request.run, request.runReplies > 0 { run.received(.failure(failure)) }
            promise?.fail(failure)
            return
        }
        for waiter in request.promises { waiting.append(.promise(waiter)) }
        if let run = request.run {
            for _ in 0..<request.runReplies { waiting.append(.run(run)) }
        }
        if request.bytes.readableBytes > 0 {
            context.write(wrapOutboundOut(request.bytes), promise: promise)
        } else {
            promise?.succeed()
        }
        match()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            for reply in try parser.feed(buffer.readableBytesView) { early.append(reply) }
        } catch {
            fail(RelayError.malformed)
            context.close(promise: nil)
            return
        }
        match()
    }

    /// Hands the replies read so far to their waiters, in order. A waiter may write again (and
    /// so come back here) before this returns: each reply is taken off before it is handed on.
    func match() {
        while !waiting.isEmpty && !early.isEmpty {
            let waiter = waiting.removeFirst()
            waiter.answer(.success(early.removeFirst()))
        }
    }

    func fail(_ error: any Error) {
        if failure == nil { failure = error }
        let pending = waiting
        waiting.removeAll()
        for waiter in pending { waiter.answer(.failure(failure ?? error)) }
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
