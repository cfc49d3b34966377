import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization
import Tracking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A journal whose append completes without suspending (a local file, memory). With one, the
/// click and pixel routes are answered directly on the connection's event loop: the line is
/// written before the response is, as with any journal.
public protocol SynchronousEventJournal: EventJournal {
    /// Appends `lines` (each one JSON object, no line break) as whole lines before returning, or
    /// throws.
    func appendNow(_ lines: [String]) throws(StoreError)
}

extension FileEventJournal: SynchronousEventJournal {
    /// Same as `append`.
    public func appendNow(_ lines: [String]) throws(StoreError) { try append(lines) }
}

extension MemoryEventJournal: SynchronousEventJournal {
    /// Same as `append`.
    public func appendNow(_ lines: [String]) throws(StoreError) { try append(lines) }
}

/// A suppression store whose write completes without suspending (the suppression list file).
/// With one (or none), link unsubscribes are answered on the event loop too.
public protocol SynchronousSuppressionStore: SuppressionStore {
    /// Same as `suppress`, before returning.
    func suppressNow(_ address: String, source: String) throws(StoreError)
}

extension FileSuppressionStore: SynchronousSuppressionStore {
    /// Same as `suppress`.
    public func suppressNow(_ address: String, source: String) throws(StoreError) {
        try suppress(address, source: source)
    }
}

/// What the direct path answers for one request: the response, the journal lines that must be
/// in the journal before it goes out, and the counters moved once they are.
struct DirectAnswer {
    enum Response: Equatable {
        /// `302` to the location.
        case redirect(String)
        /// `200`, the transparent GIF.
        case gif
        /// `503` (the journal or the suppression list could not be written).
        case unavailable
    }
    var response: Response
    /// The events' lines (none for an expired token's redirect).
    var lines: [String] = []
    /// The counters each line moves, once written.
    var counted: [(type: TrackedEventType, machine: MachineVerdict)] = []
}

/// The hot routes (`GET`/`HEAD` of `/f/…` clicks and `/q/…` pixels) without the router and
/// without a hop to Swift concurrency. Everything it does not answer itself (other routes, tokens
/// that do not decode, link unsubscribes when the suppression store is not synchronous, a refused
/// client) goes on to the Hummingbird router, which answers it as before.
struct FastPathResponder: Sendable {
    let server: TrackingServer
    let journal: any SynchronousEventJournal
    let serverName: String
    let dates = HTTPDateCache()
    /// Each event loop's pending journal lines (`JournalBatch`).
    let batches: JournalBatches
    /// Link unsubscribes are answered here: the server has no suppression store, or a synchronous
    /// one (not PostgreSQL: the router does those).
    let answersUnsubscribes: Bool
    let suppression: (any SynchronousSuppressionStore)?

    init(server: TrackingServer, journal: any SynchronousEventJournal, serverName: String) {
        self.server = server
        self.journal = journal
        self.serverName = serverName
        batches = JournalBatches(journal: journal, server: server)
        suppression = server.suppression as? any SynchronousSuppressionStore
        answersUnsubscribes = server.suppression == nil || suppression != nil
    }

    /// The answer to `head` from `peer` (the connected address, as text), or nil when the router
    /// is to answer it. Writes nothing to the journal: the caller appends `lines` before sending
    /// the response (a link unsubscribe's suppression is written here, before its lines, as on the
    /// router).
    func answer(_ head: DirectRequestHead, peer: String) -> DirectAnswer? {
        let path = head.path
        let client = server.client(
            peer: peer, forwardedFor: head.forwardedFor, userAgent: head.userAgent,
            acceptLanguage: head.acceptLanguage)
        if path.utf8.starts(with: "/f/".utf8) {
            return click(path, client: client, isHEAD: head.isHEAD)
        } else if path.utf8.starts(with: "/q/".utf8) {
            return pixel(path, client: client, isHEAD: head.isHEAD)
        }
        return nil
    }

    func click(_ path: String, client: EngagementEvent.Client, isHEAD: Bool) -> DirectAnswer? {
        let now = server.clock()
        guard let (event, expired) = server.decodeAllowingExpiry(path, now: now) else { return nil }
        // Link unsubscribes also write the suppression list: here only when that is synchronous.
        let unsubscribes = event.type == .link_unsubscribe
        guard event.type == .click || unsubscribes, let target = event.targetLinkURL,
            let location = TrackingServer.redirectLocation(target)
        else { return nil }
        guard !unsubscribes || answersUnsubscribes else { return nil }
        guard server.limiter.allow(client.ipAddress, now: now) else { return nil }
        var answer = DirectAnswer(response: .redirect(location))
        if expired {
            Metrics.Counter(label: "linkstamp_expired_clicks_total", factory: server.metrics).increment()
            return answer
        }
        // As the router's click route: the click line, for a link unsubscribe also its line and
        // (unless machine-made) the suppression, before the journal.
        let machine = server.classifier.classify(event, isHEAD: isHEAD, client: client, now: now)
        answer.lines.append(server.line(event, type: .click, client: client, machine: machine, now: now))
        answer.counted.append((.click, machine))
        if unsubscribes {
            answer.lines.append(server.line(event, type: .link_unsubscribe, client: client, machine: machine, now: now))
            answer.counted.append((.link_unsubscribe, machine))
            if !machine.likely, let store = suppression {
                do throws(StoreError) {
                    try store.suppressNow(event.rcptTo, source: TrackedEventType.link_unsubscribe.rawValue)
                } catch {
                    server.recordStoreFailure(error)
                    return DirectAnswer(response: .unavailable)
                }
            }
        }
        return answer
    }

    func pixel(_ path: String, client: EngagementEvent.Client, isHEAD: Bool) -> DirectAnswer? {
        let now = server.clock()
        guard let (event, expired) = server.decodeAllowingExpiry(path, now: now) else { return nil }
        guard event.type == .open || event.type == .initial_open else { return nil }
        guard server.limiter.allow(client.ipAddress, now: now) else { return nil }
        var answer = DirectAnswer(response: .gif)
        if !expired {
            let machine = server.classifier.classify(event, isHEAD: isHEAD, client: client, now: now)
            answer.lines.append(server.line(event, client: client, machine: machine, now: now))
            answer.counted.append((event.type, machine))
        }
        return answer
    }

    /// Writes `response` as HTTP/1.1 bytes (no body for `HEAD`); `close` adds `Connection: close`.
    func render(_ response: DirectAnswer.Response, isHEAD: Bool, close: Bool, into buffer: inout ByteBuffer) {
        switch response {
        case .redirect(let location):
            buffer.writeStaticString("HTTP/1.1 302 Found\r\nLocation: ")
            buffer.writeString(location)
            buffer.writeStaticString("\r\nCache-Control: no-store\r\nContent-Length: 0\r\n")
        case .gif:
            buffer.writeStaticString("HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n")
            buffer.writeStaticString("Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n")
            buffer.writeStaticString("Pragma: no-cache\r\nExpires: 0\r\nContent-Length: ")
            buffer.writeString(String(TrackingServer.gif.count))
            buffer.writeStaticString("\r\n")
        case .unavailable:
            buffer.writeStaticString("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html; charset=utf-8\r\n")
            buffer.writeStaticString("Cache-Control: no-store\r\nRetry-After: 30\r\nContent-Length: ")
            buffer.writeString(String(Self.unavailablePage.count))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("Date: ")
        buffer.writeString(dates.text(unixSeconds: Int64(server.clock())))
        buffer.writeStaticString("\r\nServer: ")
        buffer.writeString(serverName)
        buffer.writeStaticString(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n")
        guard !isHEAD else { return }
        switch response {
        case .redirect: break
        case .gif: buffer.writeBytes(TrackingServer.gif)
        case .unavailable: buffer.writeBytes(Self.unavailablePage)
        }
    }

    static let unavailablePage = Array(TrackingServer.tryAgainPage.utf8)
}

/// The `Date` header's text (IMF-fixdate), made once per second.
final class HTTPDateCache: Sendable {
    private let cached = Mutex<(second: Int64, text: String)>((-1, ""))

    func text(unixSeconds second: Int64) -> String {
        cached.withLock { cached in
            if cached.second != second { cached = (second, Self.format(second)) }
            return cached.text
        }
    }

    static func format(_ second: Int64) -> String {
        var time = time_t(second)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) "
            + "\(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// Hummingbird's HTTP/1.1 channel with `DirectRequestHandler` in front of its HTTP/1 decoder.
struct FastPathHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let responder: FastPathResponder

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            // Clicks and pixels straight from the bytes, before the HTTP/1 decoder.
            try operations.addHandler(
                DirectRequestHandler(
                    responder: responder, maxHeadBytes: responder.server.configuration.serve.maxHeaderBytes),
                position: .first)
            // The codec in its place, with the shortcut for origin-form targets.
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            try operations.addHandler(OriginFormHTTPServerCodec(), position: .after(codec))
            operations.removeHandler(codec, promise: nil)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Hummingbird's HTTP/1 codec (`HTTP1ToHTTPServerCodec`, which it puts in every HTTP/1 pipeline)
/// with one shortcut: a request target in origin form (`/…`, what browsers send) is the request's
/// path as it is, which is what the codec's own conversion finds too, after parsing the target
/// with `URLComponents` (the largest single cost of a click's request in the profile, ~400
/// characters per click URL). Any other target (absolute form, `*`) takes the codec's conversion.
/// Responses are converted as the codec does.
final class OriginFormHTTPServerCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The request as `HTTP1ToHTTPServerCodec(secure: false)` makes it.
    static func request(_ head: HTTPRequestHead) throws -> HTTPRequest {
        guard head.uri.utf8.first == UInt8(ascii: "/") else {
            return try HTTPRequest(head, secure: false, splitCookie: false)
        }
        return HTTPRequest(
            method: try HTTPRequest.Method(head.method), scheme: "http", authority: head.headers["Host"].first,
            path: head.uri, headerFields: HTTPFields(head.headers, splitCookie: false))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            do {
                context.fireChannelRead(wrapInboundOut(.head(try Self.request(head))))
            } catch {
                context.fireErrorCaught(error)
            }
        case .body(let body):
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers):
            context.fireChannelRead(wrapInboundOut(.end(trailers.map { HTTPFields($0, splitCookie: false) })))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            context.write(wrapOutboundOut(.head(HTTPResponseHead(response))), promise: promise)
        case .body(let body):
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
        case .end(let trailers):
            context.write(wrapOutboundOut(.end(trailers.map(HTTPHeaders.init))), promise: promise)
        }
    }
}

/// The event counters, made once per label set (a registry lookup per request otherwise).
final class EventCounters: Sendable {
    private struct EventKey: Hashable {
        var type: TrackedEventType
        var machine: Bool
    }
    private let events = Mutex<[EventKey: Metrics.Counter]>([:])
    private let reasons = Mutex<[String: Metrics.Counter]>([:])

    /// `linkstamp_events_total{type, machine}`.
    func event(_ type: TrackedEventType, machine: Bool, factory: any MetricsFactory) -> Metrics.Counter {
        events.withLock { table in
            let key = EventKey(type: type, machine: machine)
            if let counter = table[key] { return counter }
            let counter = Metrics.Counter(
                label: "linkstamp_events_total",
                dimensions: [("type", type.rawValue), ("machine", machine ? "true" : "false")], factory: factory)
            table[key] = counter
            return counter
        }
    }

    /// `linkstamp_machine_reasons_total{reason}` (the reasons are the classifier's few names).
    func machineReason(_ reason: String, factory: any MetricsFactory) -> Metrics.Counter {
        reasons.withLock { table in
            if let counter = table[reason] { return counter }
            let counter = Metrics.Counter(
                label: "linkstamp_machine_reasons_total", dimensions: [("reason", reason)], factory: factory)
            table[reason] = counter
            return counter
        }
    }
}
