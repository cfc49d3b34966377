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

/// A response made on the event loop: the head, and the body (not sent for `HEAD`).
struct FastAnswer {
    var head: HTTPResponse
    var body: ByteBuffer?
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
    /// Link unsubscribes are answered here: the server has no suppression store, or a synchronous
    /// one (not PostgreSQL: the router does those).
    let answersUnsubscribes: Bool
    let suppression: (any SynchronousSuppressionStore)?

    init(server: TrackingServer, journal: any SynchronousEventJournal, serverName: String) {
        self.server = server
        self.journal = journal
        self.serverName = serverName
        suppression = server.suppression as? any SynchronousSuppressionStore
        answersUnsubscribes = server.suppression == nil || suppression != nil
    }

    func answer(_ request: HTTPRequest, peer: String) -> FastAnswer? {
        guard request.method == .get || request.method == .head, let path = request.path else { return nil }
        let isHEAD = request.method == .head
        var answer: FastAnswer?
        if path.utf8.starts(with: "/f/".utf8) {
            answer = click(path, request, peer: peer, isHEAD: isHEAD)
        } else if path.utf8.starts(with: "/q/".utf8) {
            answer = pixel(path, request, peer: peer, isHEAD: isHEAD)
        }
        guard var answer else { return nil }
        let now = server.clock()
        answer.head.headerFields[.date] = dates.text(unixSeconds: Int64(now))
        answer.head.headerFields[.server] = serverName
        return answer
    }

    func click(_ path: String, _ request: HTTPRequest, peer: String, isHEAD: Bool) -> FastAnswer? {
        let now = server.clock()
        guard let (event, expired) = server.decodeAllowingExpiry(path, now: now) else { return nil }
        // Link unsubscribes also write the suppression list: here only when that is synchronous.
        let unsubscribes = event.type == .link_unsubscribe
        guard event.type == .click || unsubscribes, let target = event.targetLinkURL,
            let location = TrackingServer.redirectLocation(target)
        else { return nil }
        guard !unsubscribes || answersUnsubscribes else { return nil }
        let client = server.client(headers: request.headerFields, peer: peer)
        guard server.limiter.allow(client.ipAddress, now: now) else { return nil }
        if !expired {
            // As the router's click route: the click line, for a link unsubscribe also its line and
            // (unless machine-made) the suppression, before the journal.
            let machine = server.classifier.classify(event, isHEAD: isHEAD, client: client, now: now)
            var lines = [server.line(event, type: .click, client: client, machine: machine, now: now)]
            if unsubscribes {
                lines.append(server.line(event, type: .link_unsubscribe, client: client, machine: machine, now: now))
            }
            do throws(StoreError) {
                if unsubscribes, !machine.likely, let store = suppression {
                    try store.suppressNow(event.rcptTo, source: TrackedEventType.link_unsubscribe.rawValue)
                }
                try journal.appendNow(lines)
            } catch {
                return unavailable(error)
            }
            server.count(.click, machine: machine)
            if unsubscribes { server.count(.link_unsubscribe, machine: machine) }
        } else {
            Metrics.Counter(label: "linkstamp_expired_clicks_total", factory: server.metrics).increment()
        }
        return FastAnswer(
            head: HTTPResponse(
                status: .found, headerFields: [.location: location, .cacheControl: "no-store", .contentLength: "0"]),
            body: nil)
    }

    func pixel(_ path: String, _ request: HTTPRequest, peer: String, isHEAD: Bool) -> FastAnswer? {
        let now = server.clock()
        guard let (event, expired) = server.decodeAllowingExpiry(path, now: now) else { return nil }
        guard event.type == .open || event.type == .initial_open else { return nil }
        let client = server.client(headers: request.headerFields, peer: peer)
        guard server.limiter.allow(client.ipAddress, now: now) else { return nil }
        if !expired {
            let machine = server.classifier.classify(event, isHEAD: isHEAD, client: client, now: now)
            do { try journal.appendNow([server.line(event, client: client, machine: machine, now: now)]) } catch {
                return unavailable(error)
            }
            server.count(event.type, machine: machine)
        }
        return FastAnswer(head: Self.gifHead, body: Self.gifBody)
    }

    func unavailable(_ error: StoreError) -> FastAnswer {
        server.logger.error("cannot record event", metadata: ["error": "\(error)"])
        Metrics.Counter(label: "linkstamp_store_failures_total", factory: server.metrics).increment()
        let page = TrackingServer.page(title: "Try again", body: "<p>Please try again shortly.</p>")
        return FastAnswer(
            head: HTTPResponse(
                status: .serviceUnavailable,
                headerFields: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .retryAfter: "30",
                    .contentLength: String(page.utf8.count),
                ]),
            body: ByteBuffer(string: page))
    }

    static let gifHead = HTTPResponse(
        status: .ok,
        headerFields: [
            .contentType: "image/gif", .cacheControl: "no-cache, no-store, must-revalidate, max-age=0",
            .init("Pragma")!: "no-cache", .expires: "0", .contentLength: String(TrackingServer.gif.count),
        ])
    static let gifBody = ByteBuffer(bytes: TrackingServer.gif)
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

/// Sits after Hummingbird's connection state handler: answers the requests `FastPathResponder`
/// takes and passes every other request on. While a passed-on request is unanswered, every
/// later request is passed on too, so responses keep the order of their requests.
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let responder: FastPathResponder
    /// Requests passed on whose response has not ended.
    private var passedOn = 0
    /// The parts of the current request go on (its head did).
    private var passingCurrent = true
    private var needsFlush = false
    /// A `Connection: close` request was answered: whatever follows is not read.
    private var closing = false

    /// The connected address as text, made once per connection.
    private var peerText: String?

    init(responder: FastPathResponder) { self.responder = responder }

    private func peer(_ context: ChannelHandlerContext) -> String {
        if let peerText { return peerText }
        let text = context.channel.remoteAddress?.ipAddress ?? "unknown"
        peerText = text
        return text
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let request):
            if passedOn == 0, let answer = responder.answer(request, peer: peer(context)) {
                passingCurrent = false
                context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
                if let body = answer.body, request.method != .head {
                    context.write(wrapOutboundOut(.body(body)), promise: nil)
                }
                if let connection = request.headerFields[.connection], connection.lowercased().contains("close") {
                    // The last request of this connection: close once the response is out.
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    closing = true
                    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                        bound.value.close(promise: nil)
                    }
                } else {
                    context.write(wrapOutboundOut(.end(nil)), promise: nil)
                    needsFlush = true
                }
            } else {
                passingCurrent = true
                passedOn += 1
                context.fireChannelRead(data)
            }
        case .body, .end:
            // The body of an answered request (a GET has none worth reading) is dropped.
            if passingCurrent { context.fireChannelRead(data) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), passedOn > 0 { passedOn -= 1 }
        context.write(data, promise: promise)
    }
}

/// Hummingbird's HTTP/1.1 channel with `FastPathHandler` added after its connection state
/// handler (which so still sees every request and response: idle timeout, graceful shutdown).
struct FastPathHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let responder: FastPathResponder

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(FastPathHandler(responder: responder), position: .after(state))
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
