import MailBytes
import NIOCore
import Synchronization

/// One request head read straight from the connection's bytes, when it is the plain kind a mail
/// client or browser sends for a tracked link: `GET` or `HEAD`, an origin-form target, HTTP/1.1,
/// `CRLF` line ends, no body. Anything else (another method or version, a `Content-Length` other
/// than `0`, `Transfer-Encoding`, `Expect`, `Upgrade`, a bare `CR` or `LF`, a control byte, a
/// folded or malformed field, more than the limits) is not parsed here: `parse` says so and the
/// bytes go to NIO's HTTP/1 decoder and Hummingbird, which answer or refuse them as they would
/// any request. Read only what the tracking routes need.
struct DirectRequestHead {
    /// `HEAD` (else `GET`).
    var isHEAD: Bool
    /// The request target, as sent.
    var path: String
    /// `User-Agent`, `Accept-Language` and `X-Forwarded-For` (several fields of one name joined
    /// with ", ", as `HTTPFields` gives them).
    var userAgent: String?
    var acceptLanguage: String?
    var forwardedFor: String?
    /// `Connection: close` was sent.
    var close = false

    enum Outcome {
        /// A head ending `length` bytes into the buffer.
        case head(DirectRequestHead, length: Int)
        /// The buffer holds no complete head (yet).
        case incomplete
        /// Not a request this path answers: the decoder takes it.
        case other
    }

    /// Parses the head at the start of `bytes`; `maxBytes` bounds the head, `maxFields` its fields.
    static func parse(_ bytes: UnsafeRawBufferPointer, maxBytes: Int, maxFields: Int = 100) -> Outcome {
        let count = bytes.count
        var index: Int
        let isHEAD: Bool
        if count >= 4, bytes[0] == 0x47, bytes[1] == 0x45, bytes[2] == 0x54, bytes[3] == 0x20 {  // "GET "
            index = 4
            isHEAD = false
        } else if count >= 5, bytes[0] == 0x48, bytes[1] == 0x45, bytes[2] == 0x41, bytes[3] == 0x44,
            bytes[4] == 0x20
        {  // "HEAD "
            index = 5
            isHEAD = true
        } else {
            return Self.isPrefix(bytes, of: "GET ") || Self.isPrefix(bytes, of: "HEAD ") ? .incomplete : .other
        }
        // The target: visible ASCII up to the space, starting "/f/" or "/q/".
        let targetStart = index
        guard let base = bytes.baseAddress else { return .incomplete }
        // Eight visible ASCII bytes at a time; the word with the space (or anything else) byte by byte.
        index = ByteWord.skip(base, from: index, to: min(count, maxBytes + 1)) { !ByteWord.hasNonVisible($0) }
        while index < count, bytes[index] != 0x20 {
            let byte = bytes[index]
            guard byte > 0x20, byte < 0x7F else { return .other }
            index += 1
            if index > maxBytes { return .other }
        }
        guard index < count else { return .incomplete }
        let targetEnd = index
        guard targetEnd - targetStart >= 3, bytes[targetStart] == 0x2F, bytes[targetStart + 2] == 0x2F,
            bytes[targetStart + 1] == 0x66 || bytes[targetStart + 1] == 0x71
        else { return .other }
        // " HTTP/1.1\r\n"
        let version: StaticString = " HTTP/1.1\r\n"
        let versionLength = version.utf8CodeUnitCount
        guard count - index >= versionLength else {
            return Self.matches(bytes, from: index, version, upTo: count - index) ? .incomplete : .other
        }
        guard Self.matches(bytes, from: index, version, upTo: versionLength) else { return .other }
        index += versionLength
        var head = DirectRequestHead(
            isHEAD: isHEAD,
            path: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]), as: UTF8.self))
        var fields = 0
        while true {
            if index > maxBytes { return .other }
            guard index < count else { return .incomplete }
            if bytes[index] == 0x0D {
                guard index + 1 < count else { return .incomplete }
                guard bytes[index + 1] == 0x0A else { return .other }
                index += 2
                return index > maxBytes ? .other : .head(head, length: index)
            }
            fields += 1
            guard fields <= maxFields else { return .other }
            // The name: token characters up to ':'.
            let nameStart = index
            while index < count, bytes[index] != 0x3A {
                guard Self.isToken(bytes[index]) else { return .other }
                index += 1
            }
            guard index < count else { return .incomplete }
            let nameEnd = index
            guard nameEnd > nameStart else { return .other }
            index += 1
            // The value: up to CRLF, no control bytes but HTAB; leading and trailing blanks trimmed.
            while index < count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
            let valueStart = index
            index = ByteWord.skip(base, from: index, to: min(count, maxBytes + 1)) {
                !ByteWord.hasByte(below: 0x20, in: $0) && !ByteWord.hasByte(0x7F, in: $0)
            }
            while index < count, bytes[index] != 0x0D {
                let byte = bytes[index]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { return .other }
                index += 1
                if index > maxBytes { return .other }
            }
            guard index + 1 < count else { return .incomplete }
            guard bytes[index + 1] == 0x0A else { return .other }
            var valueEnd = index
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let lineEnd = index
            index += 2
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            switch Self.field(name) {
            case .userAgent: Self.join(&head.userAgent, value)
            case .acceptLanguage: Self.join(&head.acceptLanguage, value)
            case .forwardedFor: Self.join(&head.forwardedFor, value)
            case .connection:
                // Any token but close and keep-alive (upgrade, a hop-by-hop field list), or a tab
                // anywhere in the value (llhttp does not trim it here), is the decoder's to judge.
                guard !UnsafeRawBufferPointer(rebasing: bytes[(nameEnd + 1)..<lineEnd]).contains(0x09) else {
                    return .other
                }
                for token in value.split(separator: 0x2C) {
                    let word = Self.trimmed(UnsafeRawBufferPointer(rebasing: token))
                    if Self.equalsIgnoringCase(word, "close") {
                        head.close = true
                    } else if !Self.equalsIgnoringCase(word, "keep-alive") {
                        return .other
                    }
                }
            case .contentLength:
                guard value.count == 1, value[0] == 0x30,
                    !UnsafeRawBufferPointer(rebasing: bytes[(nameEnd + 1)..<lineEnd]).contains(0x09)
                else { return .other }
            case .refused:
                return .other
            case .other:
                break
            }
        }
    }

    private enum Field { case userAgent, acceptLanguage, forwardedFor, connection, contentLength, refused, other }

    private static func field(_ name: UnsafeRawBufferPointer) -> Field {
        switch name.count {
        case 10:
            if equalsIgnoringCase(name, "user-agent") { return .userAgent }
            if equalsIgnoringCase(name, "connection") { return .connection }
        case 15:
            if equalsIgnoringCase(name, "accept-language") { return .acceptLanguage }
            if equalsIgnoringCase(name, "x-forwarded-for") { return .forwardedFor }
        case 14:
            if equalsIgnoringCase(name, "content-length") { return .contentLength }
        case 17:
            if equalsIgnoringCase(name, "transfer-encoding") { return .refused }
        case 6:
            if equalsIgnoringCase(name, "expect") { return .refused }
        case 7:
            if equalsIgnoringCase(name, "upgrade") { return .refused }
        default:
            break
        }
        return .other
    }

    private static func join(_ target: inout String?, _ value: UnsafeRawBufferPointer) {
        let text = String(decoding: value, as: UTF8.self)
        if let existing = target { target = existing + ", " + text } else { target = text }
    }

    private static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// `bytes` equals the lower-case ASCII `text`, ignoring case.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        let expected = text.utf8Start
        for offset in 0..<bytes.count {
            var byte = bytes[offset]
            if byte >= 0x41, byte <= 0x5A { byte |= 0x20 }
            if byte != expected[offset] { return false }
        }
        return true
    }

    private static func matches(
        _ bytes: UnsafeRawBufferPointer, from start: Int, _ text: StaticString, upTo length: Int
    )
        -> Bool
    {
        let expected = text.utf8Start
        for offset in 0..<length where bytes[start + offset] != expected[offset] { return false }
        return true
    }

    /// `bytes` (shorter than `text`) is the start of `text`.
    private static func isPrefix(_ bytes: UnsafeRawBufferPointer, of text: StaticString) -> Bool {
        bytes.count < text.utf8CodeUnitCount && matches(bytes, from: 0, text, upTo: bytes.count)
    }

    /// RFC 9110 `tchar`.
    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}

/// The first handler of a `serve` connection: answers click and pixel requests
/// (``FastPathResponder``) from the connection's bytes, before NIO's HTTP/1 decoder, with the
/// response written as bytes. The first request it does not take (another route, a token that
/// does not decode, a refused client, a head ``DirectRequestHead`` does not parse) goes to the
/// decoder with every byte after it, and so does the rest of the connection: the decoder and
/// Hummingbird then answer as on any connection. An incomplete head is kept (up to the head
/// limit) until its rest arrives; ``ConnectionDeadlines`` still closes the connection if it does
/// not come in time, since it sees no head either.
///
/// A response whose events must be journaled waits for its event loop's ``JournalBatch``: the
/// lines of every request read in one turn of the loop go to the journal in one append, and only
/// then are the responses written (503 instead if the append failed). Responses keep the order
/// of their requests.
final class DirectRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let responder: FastPathResponder
    let maxHeadBytes: Int
    private var batch: JournalBatch?
    private var deadlines: ConnectionDeadlines?
    private var context: ChannelHandlerContext?
    /// The start of a head whose rest has not come.
    private var partial: ByteBuffer?
    /// The decoder has the connection.
    private var passing = false
    /// A `Connection: close` request was answered: nothing after it is read.
    private var closing = false
    private var needsFlush = false
    /// Answers waiting for the batch, in request order.
    private var waiting: [(answer: DirectAnswer, isHEAD: Bool, close: Bool)] = []
    /// The connected address as text, made once per connection.
    private var peerText: String?

    init(responder: FastPathResponder, maxHeadBytes: Int) {
        self.responder = responder
        self.maxHeadBytes = maxHeadBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        batch = responder.batches.batch(for: context.eventLoop)
        deadlines = try? context.pipeline.syncOperations.handler(type: ConnectionDeadlines.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if passing {
            context.fireChannelRead(data)
            return
        }
        guard !closing else { return }
        var buffer = unwrapInboundIn(data)
        if var start = partial {
            partial = nil
            start.writeBuffer(&buffer)
            buffer = start
        }
        while buffer.readableBytes > 0 {
            let outcome = buffer.withUnsafeReadableBytes { DirectRequestHead.parse($0, maxBytes: maxHeadBytes) }
            switch outcome {
            case .head(let head, let length):
                guard let answer = responder.answer(head, peer: peer(context)) else {
                    handOver(buffer, context: context)
                    return
                }
                buffer.moveReaderIndex(forwardBy: length)
                respond(answer, isHEAD: head.isHEAD, close: head.close, context: context)
                if head.close {
                    closing = true
                    return
                }
            case .incomplete:
                partial = buffer
                return
            case .other:
                handOver(buffer, context: context)
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        // The handlers after this one hear of the end of a read only when they were given
        // something in it (each would pass it on for nothing: 3 % of a click's instructions).
        if passing { context.fireChannelReadComplete() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Shutting down: what waits goes out first (the connection state handler closes idle
        // connections on this event).
        if event is ChannelShouldQuiesceEvent, !waiting.isEmpty { batch?.commit() }
        context.fireUserInboundEventTriggered(event)
    }

    /// From now on the decoder reads the connection, starting with `bytes`.
    private func handOver(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        // Answers still waiting go out before anything the router answers.
        if !waiting.isEmpty { batch?.commit() }
        passing = true
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    private func respond(_ answer: DirectAnswer, isHEAD: Bool, close: Bool, context: ChannelHandlerContext) {
        if answer.lines.isEmpty, waiting.isEmpty {
            write(answer, isHEAD: isHEAD, close: close, context: context)
            needsFlush = true
        } else if let batch {
            if waiting.isEmpty { batch.enqueue(self) }
            batch.add(answer.lines)
            waiting.append((answer, isHEAD, close))
        }
    }

    /// Called by the batch once the lines of what waits are in the journal (or could not be
    /// written): writes the waiting responses and flushes.
    func release(journaled: Bool) {
        let answers = waiting
        waiting = []
        for (answer, _, _) in answers where journaled {
            for (type, machine) in answer.counted { responder.server.count(type, machine: machine) }
        }
        guard let context else { return }
        for (answer, isHEAD, close) in answers {
            var answer = answer
            if !journaled, !answer.lines.isEmpty { answer.response = .unavailable }
            write(answer, isHEAD: isHEAD, close: close, context: context)
        }
        needsFlush = false
        context.flush()
    }

    private func write(_ answer: DirectAnswer, isHEAD: Bool, close: Bool, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 512)
        responder.render(answer.response, isHEAD: isHEAD, close: close, into: &buffer)
        deadlines?.answeredDirectly()
        if close {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
        } else {
            context.write(NIOAny(buffer), promise: nil)
        }
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        if let peerText { return peerText }
        let text = context.channel.remoteAddress?.ipAddress ?? "unknown"
        peerText = text
        return text
    }
}

/// The journal lines of the requests one event loop read in one turn, appended in one write
/// when the turn's reads are done (a task the loop runs after its I/O), and the connections whose
/// responses wait for them. An event whose request got a response is in the journal, as with an
/// append per request; a turn of 30 clicks costs one `write` instead of 30.
final class JournalBatch: @unchecked Sendable {
    // Unchecked: touched only on `eventLoop` (every method asserts it).
    let eventLoop: any EventLoop
    let journal: any SynchronousEventJournal
    let server: TrackingServer
    private var lines: [String] = []
    private var handlers: [DirectRequestHandler] = []
    private var scheduled = false

    init(eventLoop: any EventLoop, journal: any SynchronousEventJournal, server: TrackingServer) {
        self.eventLoop = eventLoop
        self.journal = journal
        self.server = server
    }

    /// `handler` has responses waiting (called once until it is released).
    func enqueue(_ handler: DirectRequestHandler) {
        eventLoop.preconditionInEventLoop()
        handlers.append(handler)
        if !scheduled {
            scheduled = true
            eventLoop.execute { self.commit() }
        }
    }

    func add(_ more: [String]) { lines += more }

    /// Appends what is pending and releases the waiting responses (now, or from the scheduled task).
    func commit() {
        eventLoop.preconditionInEventLoop()
        scheduled = false
        guard !handlers.isEmpty || !lines.isEmpty else { return }
        let pending = lines
        let waiting = handlers
        lines = []
        handlers = []
        var journaled = true
        if !pending.isEmpty {
            do throws(StoreError) {
                try journal.appendNow(pending)
            } catch {
                journaled = false
                server.recordStoreFailure(error)
            }
        }
        for handler in waiting { handler.release(journaled: journaled) }
    }
}

/// One ``JournalBatch`` per event loop, made on first use.
final class JournalBatches: Sendable {
    let journal: any SynchronousEventJournal
    let server: TrackingServer
    private let batches = Mutex<[ObjectIdentifier: JournalBatch]>([:])

    init(journal: any SynchronousEventJournal, server: TrackingServer) {
        self.journal = journal
        self.server = server
    }

    func batch(for loop: any EventLoop) -> JournalBatch {
        batches.withLock { table in
            let key = ObjectIdentifier(loop)
            if let batch = table[key] { return batch }
            let batch = JournalBatch(eventLoop: loop, journal: journal, server: server)
            table[key] = batch
            return batch
        }
    }
}
