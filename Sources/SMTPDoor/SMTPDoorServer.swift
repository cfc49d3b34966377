import Foundation
import Linkstamp
import NIOCore
import NIOPosix
import SMTPAPI
import Synchronization

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

    /// A server on NIO's shared event loops, relaying to `relayHost:relayPort`.
    /// `suppressionLookup` and `eventJournal`: see ``MessageDelivery``.
    public convenience init(
        settings: Settings, engine: Engine, relayHost: String, relayPort: Int, eventsPath: String?,
        suppressionLookup: (any SuppressionLookup)? = nil,
        eventJournal: (@Sendable ([String]) async throws -> Void)? = nil,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        let group = MultiThreadedEventLoopGroup.singleton
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
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let admitted = registry.admit(channel, limit: settings.limits.maxConnections)
                    try channel.pipeline.syncOperations.addHandler(
                        IdleStateHandler(readTimeout: .seconds(Int64(settings.limits.idleTimeoutSeconds))))
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPServerHandler(
                            session: SMTPServerSession(hostname: settings.hostname, limits: settings.limits),
                            delivery: delivery, admitted: admitted))
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
    }

    /// Connections now open (tests and logs).
    public var connectionCount: Int { registry.count }
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

    init(session: SMTPServerSession, delivery: MessageDelivery, admitted: Bool) {
        self.session = session
        self.delivery = delivery
        self.admitted = admitted
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
                context.eventLoop.makeFutureWithTask {
                    await delivery.deliver(message: message, envelope: envelope)
                }.assumeIsolated().whenSuccess { reply in
                    guard context.channel.isActive else { return }
                    self.perform(self.session.deliveryFinished(reply), context: context)
                }
            }
        }
        if pending.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(pending), promise: nil) }
    }
}
