import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Linkstamp
import Logging
import MailBytes
import Metrics
import NIOCore
import NIOHTTPTypes
import Prometheus
import ServiceLifecycle
import Tracking

/// The request context of the endpoint: Hummingbird's core storage and the client address.
public struct TrackingRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connected peer.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// `linkstamp serve`: answers every tracked URL the filter writes. Stateless (everything an
/// event needs travels in the tokens); the journal and the suppression list are the only state
/// it writes, each behind a protocol.
///
/// Routes: `GET`/`HEAD /f/…` (302 to the decoded http(s) target, `click` and for unsubscribe
/// links `link_unsubscribe`), `GET`/`HEAD /q/…` (43-byte GIF, `open`/`initial_open`), `GET /u/…`
/// (a page with a POST button; never unsubscribes), `POST /u/…` (RFC 8058 one-click:
/// `list_unsubscribe`, suppression), `/healthz`, `/metrics`. Anything that does not decode: 404
/// with a small page and no `Location`. An expired click still redirects but records nothing.
public struct TrackingServer: Sendable {
    /// The filter's configuration (its `serve` keys are this server's).
    public let configuration: Configuration
    let keyRing: KeyRing
    let journal: any EventJournal
    let suppression: (any SuppressionStore)?
    let classifier: MachineClassifier
    let limiter: RateLimiter
    let ids = EventIDGenerator()
    let counters = EventCounters()
    /// Opened link and message tokens of `keyRing` (the same ones come with every click of a campaign).
    let tokens = TokenCache()
    let registry: PrometheusCollectorRegistry
    let metrics: PrometheusMetricsFactory
    let logger: Logger
    let clock: @Sendable () -> Double

    /// A server over `keyRing`, writing events to `journal` and unsubscribes to `suppression`
    /// (nil: unsubscribes are recorded as events only). `clock` gives unix seconds.
    public init(
        configuration: Configuration, keyRing: KeyRing, journal: any EventJournal,
        suppression: (any SuppressionStore)?, proxyRanges: [AddressRange] = [], logger: Logger,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.configuration = configuration
        self.keyRing = keyRing
        self.journal = journal
        self.suppression = suppression
        let settings = configuration.serve
        classifier = MachineClassifier(
            secondsAfterInjection: Int64(settings.machineSecondsAfterInjection), proxyRanges: proxyRanges)
        limiter = RateLimiter(limit: settings.rateLimitRequests, windowSeconds: settings.rateLimitWindowSeconds)
        registry = PrometheusCollectorRegistry()
        metrics = PrometheusMetricsFactory(registry: registry)
        self.logger = logger
        self.clock = clock
    }

    /// The Hummingbird application listening on `host:port` (port 0: an ephemeral port, reported
    /// to `onServerRunning`).
    /// `eventLoopGroup`: where connections run (NIO's shared group unless given).
    public func application(
        host: String, port: Int, eventLoopGroup: (any EventLoopGroup)? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: TrackingRequestContext.self)
        let server = self
        router.get("/healthz") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: server.registry.emitToBuffer())))
        }
        router.get("/f/**") { request, context in await server.click(request, context: context) }
        router.head("/f/**") { request, context in await server.click(request, context: context) }
        router.get("/q/**") { request, context in await server.pixel(request, context: context) }
        router.head("/q/**") { request, context in await server.pixel(request, context: context) }
        router.get("/u/**") { request, context in await server.unsubscribePage(request, context: context) }
        router.post("/u/**") { request, context in await server.unsubscribe(request, context: context) }
        // Every other path: the same small 404 page.
        for path in ["**", "/f", "/q", "/u"] {
            router.get(RouterPath(path)) { _, _ in server.notFound("no_route") }
            router.head(RouterPath(path)) { _, _ in server.notFound("no_route") }
            router.post(RouterPath(path)) { _, _ in server.notFound("no_route") }
        }
        let settings = configuration.serve
        let headerTimeout = TimeAmount.seconds(Int64(settings.headerTimeoutSeconds))
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                ConnectionDeadlines(
                    headerTimeout: headerTimeout, idleTimeout: .seconds(Int64(settings.idleTimeoutSeconds)))
            ],
            idleTimeout: nil,
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: settings.maxHeaderBytes, maxHeaderListSize: 2 * settings.maxHeaderBytes,
                maxHeaderFieldCount: 100))
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                let channel = HTTP1Channel(responder: responder, configuration: http1)
                // A journal that appends synchronously: clicks and pixels are answered on the
                // event loop (FastPath.swift); every other request goes through the router.
                guard let journal = server.journal as? any SynchronousEventJournal else { return channel }
                return FastPathHTTP1Channel(
                    inner: channel,
                    responder: FastPathResponder(server: server, journal: journal, serverName: "linkstamp"))
            },
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: "linkstamp",
                availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
            logger: logger)
    }

    // MARK: Routes

    /// Decodes a tracked URL path. A token that only expired still decodes, with `expired` set
    /// (the recipient still reaches the content; the event is not recorded); `nil` when it does
    /// not decode at all (forged, other key ring, garbled, wrong kind).
    func decodeAllowingExpiry(_ path: String, now: Double) -> (event: TrackedEvent, expired: Bool)? {
        do {
            return (
                try TrackingDecoder.decode(
                    url: path, keyRing: keyRing, now: Int64(now), limits: .default, cache: tokens),
                false
            )
        } catch  where error.isExpired {
            guard
                let stale = try? TrackingDecoder.decode(
                    url: path, keyRing: keyRing, now: Int64.min, limits: .default, cache: tokens)
            else {
                return nil
            }
            return (stale, true)
        } catch {
            return nil
        }
    }

    func click(_ request: Request, context: TrackingRequestContext) async -> Response {
        let now = clock()
        let client = self.client(request, context: context)
        guard limiter.allow(client.ipAddress, now: now) else { return refused(.forbidden, "rate_limited") }
        guard let (event, expired) = decodeAllowingExpiry(request.head.path ?? "", now: now) else {
            return notFound("undecodable")
        }
        guard event.type == .click || event.type == .link_unsubscribe, let target = event.targetLinkURL,
            let location = Self.redirectLocation(target)
        else { return notFound("not_redirectable") }
        if !expired {
            let machine = classifier.classify(event, isHEAD: request.method == .head, client: client, now: now)
            var lines = [line(event, type: .click, client: client, machine: machine, now: now)]
            let unsubscribes = event.type == .link_unsubscribe
            if unsubscribes {
                lines.append(line(event, type: .link_unsubscribe, client: client, machine: machine, now: now))
            }
            do {
                if unsubscribes, !machine.likely {
                    try await suppression?.suppress(event.rcptTo, source: TrackedEventType.link_unsubscribe.rawValue)
                }
                try await journal.append(lines)
            } catch {
                return unavailable(error)
            }
            count(.click, machine: machine)
            if unsubscribes { count(.link_unsubscribe, machine: machine) }
        } else {
            Metrics.Counter(label: "linkstamp_expired_clicks_total", factory: metrics).increment()
        }
        return Response(
            status: .found, headers: [.location: location, .cacheControl: "no-store", .contentLength: "0"])
    }

    func pixel(_ request: Request, context: TrackingRequestContext) async -> Response {
        let now = clock()
        let client = self.client(request, context: context)
        guard limiter.allow(client.ipAddress, now: now) else { return refused(.forbidden, "rate_limited") }
        let event: TrackedEvent
        do {
            event = try TrackingDecoder.decode(url: request.head.path ?? "", keyRing: keyRing, now: Int64(now))
        } catch  where error.isExpired {
            return Self.gifResponse
        } catch {
            return notFound("undecodable")
        }
        guard event.type == .open || event.type == .initial_open else { return notFound("wrong_route") }
        let machine = classifier.classify(event, isHEAD: request.method == .head, client: client, now: now)
        do { try await journal.append([line(event, client: client, machine: machine, now: now)]) } catch {
            return unavailable(error)
        }
        count(event.type, machine: machine)
        return Self.gifResponse
    }

    func unsubscribePage(_ request: Request, context: TrackingRequestContext) async -> Response {
        let now = clock()
        let client = self.client(request, context: context)
        guard limiter.allow(client.ipAddress, now: now) else { return refused(.forbidden, "rate_limited") }
        guard
            (try? TrackingDecoder.decode(url: request.head.path ?? "", keyRing: keyRing, now: Int64(now)))?.type
                == .list_unsubscribe
        else { return notFound("undecodable") }
        return html(.ok, Self.confirmPage)
    }

    func unsubscribe(_ request: Request, context: TrackingRequestContext) async -> Response {
        let now = clock()
        let client = self.client(request, context: context)
        guard limiter.allow(client.ipAddress, now: now) else { return refused(.forbidden, "rate_limited") }
        guard let event = try? TrackingDecoder.decode(url: request.head.path ?? "", keyRing: keyRing, now: Int64(now)),
            event.type == .list_unsubscribe
        else { return notFound("undecodable") }
        var request = request
        guard let body = try? await request.collectBody(upTo: 4096),
            String(buffer: body).contains("List-Unsubscribe=One-Click")
        else { return refused(.badRequest, "bad_unsubscribe_body") }
        do {
            try await suppression?.suppress(event.rcptTo, source: TrackedEventType.list_unsubscribe.rawValue)
            try await journal.append([line(event, client: client, machine: nil, now: now)])
        } catch {
            return unavailable(error)
        }
        count(.list_unsubscribe, machine: nil)
        return html(.ok, Self.donePage)
    }

    // MARK: Parts

    func client(_ request: Request, context: TrackingRequestContext) -> EngagementEvent.Client {
        client(headers: request.headers, remoteAddress: context.remoteAddress)
    }

    func client(headers: HTTPFields, remoteAddress: SocketAddress?) -> EngagementEvent.Client {
        client(headers: headers, peer: remoteAddress?.ipAddress ?? "unknown")
    }

    /// The client of a request from `peer` (the connected address, as text).
    func client(headers: HTTPFields, peer: String) -> EngagementEvent.Client {
        client(
            peer: peer, forwardedFor: headers[Self.forwardedFor], userAgent: headers[.userAgent],
            acceptLanguage: headers[.acceptLanguage])
    }

    /// The client from its request's fields (several of one name joined with ", ").
    func client(peer: String, forwardedFor: String?, userAgent: String?, acceptLanguage: String?)
        -> EngagementEvent.Client
    {
        var address = peer
        if configuration.serve.trustForwardedFor, let forwarded = forwardedFor {
            // The proxy in front of us appends the address it saw: the last entry.
            if let last = forwarded.split(separator: ",").last?.trimmingASCIISpaces(), !last.isEmpty {
                address = String(last)
            }
        }
        return EngagementEvent.Client(ipAddress: address, userAgent: userAgent, acceptLanguage: acceptLanguage)
    }

    /// Logs and counts a journal or suppression list that could not be written.
    func recordStoreFailure(_ error: any Error) {
        logger.error("cannot record event", metadata: ["error": "\(error)"])
        Metrics.Counter(label: "linkstamp_store_failures_total", factory: metrics).increment()
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func line(
        _ event: TrackedEvent, type: TrackedEventType? = nil, client: EngagementEvent.Client, machine: MachineVerdict?,
        now: Double
    ) -> String {
        EngagementEvent.line(
            event, type: type, eventID: ids.next(nowMilliseconds: UInt64(max(now, 0) * 1000)), timestamp: Int64(now),
            client: client, machine: machine)
    }

    func count(_ type: TrackedEventType, machine: MachineVerdict?) {
        counters.event(type, machine: machine?.likely == true, factory: metrics).increment()
        for reason in machine?.reasons ?? [] {
            counters.machineReason(reason, factory: metrics).increment()
        }
    }

    /// The `Location` for a decoded target: only `http`/`https`, with bytes a header cannot carry
    /// percent-encoded; nil for anything else.
    static func redirectLocation(_ target: String) -> String? {
        let bytes = target.utf8
        guard Self.hasPrefixIgnoringCase(bytes, "http://") || Self.hasPrefixIgnoringCase(bytes, "https://") else {
            return nil
        }
        // Most targets need no escaping: the same string.
        let needsEscape =
            bytes.withContiguousStorageIfAvailable { Self.hasNonVisibleASCII(UnsafeRawBufferPointer($0)) }
            ?? bytes.contains { $0 <= 0x20 || $0 >= 0x7F }
        if !needsEscape { return target }
        var out = ""
        for byte in target.utf8 {
            if byte <= 0x20 || byte >= 0x7F {
                guard byte != 0x0D, byte != 0x0A else { return nil }
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }

    /// Some byte of `buffer` is a space, a control byte or not ASCII (eight at a time).
    static func hasNonVisibleASCII(_ buffer: UnsafeRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress else { return false }
        let start = ByteWord.skip(base, from: 0, to: buffer.count) { !ByteWord.hasNonVisible($0) }
        return buffer[start...].contains { $0 <= 0x20 || $0 >= 0x7F }
    }

    /// Whether `bytes` start with `prefix` (lowercase ASCII), ignoring ASCII case.
    static func hasPrefixIgnoringCase(_ bytes: String.UTF8View, _ prefix: StaticString) -> Bool {
        prefix.withUTF8Buffer { prefix in
            var index = bytes.startIndex
            for expected in prefix {
                guard index != bytes.endIndex else { return false }
                let byte = bytes[index]
                let lower = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                guard lower == expected else { return false }
                index = bytes.index(after: index)
            }
            return true
        }
    }

    func notFound(_ reason: String) -> Response {
        refused(.notFound, reason)
    }

    func refused(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Metrics.Counter(label: "linkstamp_refused_total", dimensions: [("reason", reason)], factory: metrics)
            .increment()
        let text: String
        switch status {
        case .forbidden: text = "Too many requests."
        case .badRequest: text = "Bad request."
        default: text = "This link is not valid."
        }
        return html(status, Self.page(title: text, body: "<p>\(text)</p>"))
    }

    func unavailable(_ error: any Error) -> Response {
        recordStoreFailure(error)
        var response = html(.serviceUnavailable, Self.tryAgainPage)
        response.headers[.retryAfter] = "30"
        return response
    }

    func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func page(title: String, body: String) -> String {
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">"
            + "<title>\(title)</title></head><body>\(body)</body></html>\n"
    }

    /// `GET /u/…`: a button that POSTs the RFC 8058 body to the same URL (a GET never unsubscribes).
    static let confirmPage = page(
        title: "Unsubscribe",
        body: "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
            + "<p>Stop receiving these emails?</p><button type=\"submit\">Unsubscribe</button></form>")
    /// The page of a `503` (the journal or the suppression list could not be written).
    static let tryAgainPage = page(title: "Try again", body: "<p>Please try again shortly.</p>")
    static let donePage = page(title: "Unsubscribed", body: "<p>You are unsubscribed.</p>")

    /// A transparent 1×1 GIF, 43 bytes.
    public static let gif: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]
    static var gifResponse: Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "image/gif", .cacheControl: "no-cache, no-store, must-revalidate, max-age=0",
                .init("Pragma")!: "no-cache", .expires: "0",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: gif)))
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The connection's two clocks, checked by one timer: a request head must come within
/// `headerTimeout` of the connection's start or of the last response's end (a client that sends a
/// head slowly, or sends nothing, cannot hold a connection while others wait); and a connection
/// with nothing to read for `idleTimeout` is closed, except while a request read whole is being
/// answered (Hummingbird's idle rule, which this replaces: its own is off, as it cannot see the
/// requests ``DirectRequestHandler`` answers before its decoder; that handler reports them here).
///
/// Moving a deadline later only changes a field; the timer, when due, checks and sets itself
/// again for the deadline that moved (a timer scheduled and cancelled per request was 3 % of a
/// click's instructions). Only a deadline that moves earlier than the timer replaces it.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount
    /// When the connection is closed unless a request head has come; nil while one is read or answered.
    private var headDue: NIODeadline?
    /// The last read (a request part, or a request answered before the decoder) or response end.
    private var lastActive = NIODeadline.now()
    /// Requests whose head came and whose response has not ended.
    private var inProgress = 0
    /// A request's head came and its end has not.
    private var reading = false
    private var context: ChannelHandlerContext?
    /// The pending check and when it runs.
    private var timer: Scheduled<Void>?
    private var timerDue: NIODeadline?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        lastActive = .now()
        headDue = lastActive + headerTimeout
        rearm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        timerDue = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActive = .now()
        switch unwrapInboundIn(data) {
        case .head:
            inProgress += 1
            reading = true
            headDue = nil
        case .body:
            break
        case .end:
            reading = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), inProgress > 0 {
            inProgress -= 1
            if inProgress == 0 { answered() }
        }
        context.write(data, promise: promise)
    }

    /// A request was read and answered before the decoder.
    func answeredDirectly() {
        if inProgress == 0 { answered() }
    }

    private func answered() {
        lastActive = .now()
        headDue = lastActive + headerTimeout
        rearm()
    }

    /// The earliest deadline in force.
    private var due: NIODeadline? {
        var due = headDue
        if inProgress == 0 || reading {
            let idle = lastActive + idleTimeout
            due = due.map { min($0, idle) } ?? idle
        }
        return due
    }

    /// A timer no later than the earliest deadline.
    private func rearm() {
        guard let due, let context else { return }
        if let timerDue, timerDue <= due { return }
        timer?.cancel()
        timerDue = due
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) { bound.value.check() }
    }

    private func check() {
        timer = nil
        timerDue = nil
        guard let due, let context else { return }  // a request is being answered: its end re-arms
        if due <= .now() {
            context.close(promise: nil)
        } else {
            rearm()
        }
    }
}
