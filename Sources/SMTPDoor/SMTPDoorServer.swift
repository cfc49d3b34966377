import Foundation
import Linkstamp
import NIOCore
import NIOPosix
import NIOSSL
import SMTPAPI
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The listening SMTP door: accepts clients up to the connection limit, runs one
/// `SMTPServerSession` per connection and hands each message to a `MessageDelivery`.
public final class SMTPDoorServer: Sendable {
    /// Where to listen, what to enforce and where the copies go.
    public struct Settings: Sendable {
        /// Listening host (default `127.0.0.1`).
        public var host: String = "127.0.0.1"
        /// Listening port (default 10025; 0 picks a free one).
        public var port: Int = 10025
        /// Name used in the greeting and the EHLO reply.
        public var hostname: String = "localhost"
        /// Client limits.
        public var limits = SMTPServerLimits()
        /// STARTTLS's server context (see `SMTPDoorTLS`); `nil`: STARTTLS is not offered.
        public var tls: NIOSSLContext?
        /// Refuse MAIL before STARTTLS (`530 5.7.0`).
        public var tlsRequired = false
        /// Checks AUTH passwords; `nil`: AUTH is not offered. The server shuts it down with itself.
        public var authenticator: SMTPAuthenticator?
        /// Refuse MAIL before a successful AUTH (`530 5.7.0`).
        public var authRequired = false
        /// Offer AUTH on connections without TLS too (loopback tests only).
        public var authWithoutTLS = false

        /// What the sessions offer and demand.
        var security: SMTPServerSession.Security {
            var security = SMTPServerSession.Security()
            security.startTLS = tls != nil
            security.tlsRequired = tlsRequired
            security.auth = authenticator != nil
            security.authRequired = authRequired
            security.authWithoutTLS = authWithoutTLS
            return security
        }

        /// The defaults.
        public init() {}
    }

    let settings: Settings
    let delivery: MessageDelivery
    let group: any EventLoopGroup
    let registry = ConnectionRegistry()
    let serverChannel = Mutex<(any Channel)?>(nil)

    /// A server; nothing listens until `start()`.
    public init(settings: Settings, delivery: MessageDelivery, group: any EventLoopGroup) {
        self.settings = settings
        self.delivery = delivery
        self.group = group
    }

    /// A server on the door's shared event loops (``eventLoopGroup``), relaying to
    /// `relayHost:relayPort`. `suppressionLookup` and `eventJournal`: see ``MessageDelivery``.
    public convenience init(
        settings: Settings, engine: Engine, relayHost: String, relayPort: Int, eventsPath: String?,
        suppressionLookup: (any SuppressionLookup)? = nil,
        eventJournal: (@Sendable ([String]) async throws -> Void)? = nil,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        let group = SMTPDoorServer.eventLoopGroup
        let relay = RelayClient(host: relayHost, port: relayPort, heloName: settings.hostname, group: group)
        var delivery = MessageDelivery(engine: engine, relay: relay, eventsPath: eventsPath, log: log)
        delivery.suppressionLookup = suppressionLookup
        delivery.eventJournal = eventJournal
        self.init(settings: settings, delivery: delivery, group: group)
    }

    /// Binds and starts accepting. Returns the bound address (its port when `port` was 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let settings = self.settings
        let delivery = self.delivery
        let registry = self.registry
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // A 4 KB message in one read, not three of NIO's initial 2 KB.
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 16_384, maximum: 65_536)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let admitted = registry.admit(channel, limit: settings.limits.maxConnections)
                    try channel.pipeline.syncOperations.addHandler(
                        IdleStateHandler(readTimeout: .seconds(Int64(settings.limits.idleTimeoutSeconds))))
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPServerHandler(
                            session: SMTPServerSession(
                                hostname: settings.hostname, limits: settings.limits, security: settings.security),
                            delivery: delivery, admitted: admitted, tls: settings.tls,
                            authenticator: settings.authenticator))
                    channel.closeFuture.whenComplete { _ in registry.remove(channel) }
                }
            }
            .bind(host: settings.host, port: settings.port)
            .get()
        serverChannel.withLock { $0 = channel }
        guard let address = channel.localAddress else { throw RelayError(description: "no local address") }
        return address
    }

    /// Graceful drain: stop accepting, tell idle clients `421 4.3.2`, let messages being relayed
    /// finish (their client gets the reply, then `421 4.3.2`), and return when every connection
    /// is closed or `graceSeconds` have passed (the rest are closed then).
    public func shutdown(graceSeconds: Int = 30) async {
        let listener = serverChannel.withLock { channel in
            let current = channel
            channel = nil
            return current
        }
        try? await listener?.close()
        let open = registry.all()
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(SMTPServerHandler.ShutdownEvent())
        }
        let deadline = ContinuousClock.now + .seconds(graceSeconds)
        for channel in open {
            while channel.isActive && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            if channel.isActive { try? await channel.close() }
        }
        await delivery.relay.shutdown()
        await settings.authenticator?.shutdown()
    }

    /// Connections now open (tests and logs).
    public var connectionCount: Int { registry.count }
}

extension SMTPDoorServer {
    /// The event loops of doors made with the relay address: one thread per CPU the process may
    /// run on (``usableCPUCount()``), created on first use and never shut down (as NIO's
    /// singleton). NIO's singleton counts every online CPU (or the cgroup's quota) and ignores
    /// the affinity mask, so a door pinned to one CPU (`taskset -c 0`) ran two loop threads on
    /// it: connections on both, a client connection's copies relayed over a connection of the
    /// other loop, the two threads taking turns on the one CPU (issue 12: about 15 % more CPU
    /// per message than with one loop).
    public static let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: usableCPUCount())

    /// The CPUs this process may run on (``ProcessCPUs``), at most NIO's `System.coreCount`
    /// (which honours a cgroup's CPU quota); at least 1.
    public static func usableCPUCount() -> Int { ProcessCPUs.usable(cores: System.coreCount) }
}

/// The open client connections, for the connection limit and the shutdown.
final class ConnectionRegistry: Sendable {
    let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Registers `channel`; `false` when the limit was reached (the channel is not kept).
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        channels.withLock { open in
            guard open.count < limit else { return false }
            open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func all() -> [any Channel] { channels.withLock { Array($0.values) } }

    var count: Int { channels.withLock { $0.count } }
}

/// Moves bytes between one client and its `SMTPServerSession`, and runs the deliveries.
final class SMTPServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Sent by `SMTPDoorServer.shutdown` to every connection.
    struct ShutdownEvent: Sendable {}

    var session: SMTPServerSession
    let delivery: MessageDelivery
    let admitted: Bool
    let tls: NIOSSLContext?
    let authenticator: SMTPAuthenticator?
    /// TLS was put in place and nothing was read through it yet (the handshake is not done).
    var handshaking = false

    init(
        session: SMTPServerSession, delivery: MessageDelivery, admitted: Bool, tls: NIOSSLContext? = nil,
        authenticator: SMTPAuthenticator? = nil
    ) {
        self.session = session
        self.delivery = delivery
        self.admitted = admitted
        self.tls = tls
        self.authenticator = authenticator
    }

    /// The client's address for the log.
    func peer(_ context: ChannelHandlerContext) -> String {
        guard let address = context.channel.remoteAddress, let ip = address.ipAddress else { return "unknown" }
        let host = ip.contains(":") ? "[\(ip)]" : ip
        return address.port.map { "\(host):\($0)" } ?? host
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard admitted else {
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeString("421 4.7.0 \(session.hostname) Error: too many connections\r\n")
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        perform(session.greeting(), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted else { return }
        handshaking = false  // application data comes only after the handshake
        let buffer = unwrapInboundIn(data)
        perform(session.receive(buffer.readableBytesView), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownEvent {
            perform(session.shutdown(), context: context)
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            perform(session.idleTimeout(), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if handshaking {
            handshaking = false
            delivery.log("TLS handshake with \(peer(context)) failed: \(error)")
        }
        context.close(promise: nil)
    }

    func perform(_ actions: [SMTPServerSession.Action], context: ChannelHandlerContext) {
        var pending = context.channel.allocator.buffer(capacity: 0)
        for action in actions {
            switch action {
            case .send(let bytes):
                pending.writeBytes(bytes)
            case .close:
                context.writeAndFlush(wrapOutboundOut(pending)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            case .deliver(let envelope, let message):
                if pending.readableBytes > 0 {
                    context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
                    pending.clear()
                }
                let delivery = self.delivery
                let user = session.authenticatedUser
                delivery.deliver(message: message, envelope: envelope, user: user, on: context.eventLoop)
                    .assumeIsolated().whenSuccess { reply in
                        guard context.channel.isActive else { return }
                        self.perform(self.session.deliveryFinished(reply), context: context)
                    }
            case .startTLS:
                // The 220 goes out in plaintext; everything after it through TLS. The handler is in
                // place before this read returns, so the next bytes read are the handshake.
                context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
                pending.clear()
                guard let tls else {
                    context.close(promise: nil)
                    return
                }
                do {
                    try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
                    handshaking = true
                } catch {
                    delivery.log("cannot start TLS with \(peer(context)): \(error)")
                    context.close(promise: nil)
                    return
                }
            case .authenticate(let user, let password):
                if pending.readableBytes > 0 {
                    context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
                    pending.clear()
                }
                guard let authenticator else {
                    perform(session.authenticationFinished(false), context: context)
                    return
                }
                let printable = MessageDelivery.sanitized(String(user.prefix(64)))
                authenticator.verify(user: user, password: password, on: context.eventLoop).assumeIsolated()
                    .whenComplete { result in
                        guard context.channel.isActive else { return }
                        let accepted = (try? result.get()) ?? false
                        self.delivery.log(
                            "auth \(accepted ? "ok" : "failed") user=<\(printable)> client=\(self.peer(context))")
                        self.perform(self.session.authenticationFinished(accepted), context: context)
                    }
            }
        }
        if pending.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(pending), promise: nil) }
    }
}
