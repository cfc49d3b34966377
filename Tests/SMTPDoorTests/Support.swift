import Dispatch
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs async work from a synchronous test and waits for it, so blocking socket reads in the
/// test never occupy the cooperative threads the server's deliveries need.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Locked<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { value in
        guard let value else { throw TestFailure("no result") }
        return try value.get()
    }
}

/// A value shared between a test's threads.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One transaction the sink accepted: envelope and the DATA bytes as they came on the wire
/// (CRLF, dot-stuffed, without the final "." line).
struct SinkTransaction: Sendable, Hashable {
    var sender: String
    var recipients: [String]
    var wire: [UInt8]
}

/// A small SMTP server that records what it receives, for the door to relay to. It offers
/// PIPELINING and refuses the recipients it is told to with the reply it is given.
final class SinkServer: Sendable {
    let refusals: [String: String]
    /// How long the sink waits before answering the end of DATA.
    let dataReplyDelay: TimeAmount
    /// Close the connection right after answering the end of DATA (a relay that hangs up).
    let closeAfterData: Bool
    /// Never answer QUIT (a relay that hangs).
    let silentQuit: Bool
    /// Offer PIPELINING in the EHLO reply.
    let pipelining: Bool
    /// Reads that held a whole MAIL, RCPT and DATA group (the client pipelined them).
    let pipelinedReads = Mutex<Int>(0)
    /// MAIL commands read together with the end of the previous message's content (the client
    /// pipelined the next transaction behind the content).
    let mailAfterContentInOneRead = Mutex<Int>(0)
    let received = Mutex<[SinkTransaction]>([])
    let commands = Mutex<[String]>([])
    let channel: any Channel

    init(
        refusals: [String: String] = [:], dataReplyDelay: TimeAmount = .zero, closeAfterData: Bool = false,
        silentQuit: Bool = false, pipelining: Bool = true, group: any EventLoopGroup
    ) async throws {
        self.pipelining = pipelining
        self.silentQuit = silentQuit
        self.refusals = refusals
        self.dataReplyDelay = dataReplyDelay
        self.closeAfterData = closeAfterData
        let box = Locked<SinkServer?>(nil)
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let sink = box.withLock({ $0 }) else { throw TestFailure("sink not ready") }
                    try channel.pipeline.syncOperations.addHandler(SinkHandler(sink: sink))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        box.withLock { $0 = self }
    }

    var port: Int { channel.localAddress?.port ?? 0 }

    func close() async { try? await channel.close() }
}

final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let sink: SinkServer
    var buffer: [UInt8] = []
    var inData = false
    var current = SinkTransaction(sender: "", recipients: [], wire: [])

    init(sink: SinkServer) { self.sink = sink }

    func channelActive(context: ChannelHandlerContext) {
        reply("220 sink.test ESMTP\r\n", context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let chunk = String(decoding: unwrapInboundIn(data).readableBytesView, as: UTF8.self)
        if chunk.hasPrefix("MAIL FROM:") && chunk.contains("\r\nRCPT TO:") && chunk.hasSuffix("\r\nDATA\r\n") {
            sink.pipelinedReads.withLock { $0 += 1 }
        }
        buffer += unwrapInboundIn(data).readableBytesView
        var out = ""
        var delay = TimeAmount.zero
        var contentEnded = false
        while true {
            if inData {
                let end: [UInt8] = Array("\r\n.\r\n".utf8)
                // The content so far started right after DATA's CRLF; look for CRLF "." CRLF with
                // the CRLF belonging to the last content line.
                let probe = [0x0D, 0x0A] + buffer
                guard let found = firstRange(of: end, in: probe) else { break }
                let contentEnd = found.lowerBound  // in probe coordinates
                current.wire = contentEnd >= 2 ? Array(probe[2..<(contentEnd + 2)]) : []
                buffer.removeFirst(found.upperBound - 2)
                inData = false
                sink.received.withLock { $0.append(current) }
                contentEnded = true
                out += "250 2.0.0 Ok: queued as SINK\r\n"
                delay = sink.dataReplyDelay
                continue
            }
            guard let lf = buffer.firstIndex(of: 0x0A) else { break }
            let line = String(decoding: buffer[..<lf], as: UTF8.self).trimmingCharacters(in: .newlines)
            buffer.removeFirst(lf + 1)
            sink.commands.withLock { $0.append(line) }
            let upper = line.uppercased()
            if upper.hasPrefix("EHLO") {
                out += sink.pipelining ? "250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n" : "250 sink.test\r\n"
            } else if upper.hasPrefix("MAIL FROM:") {
                if contentEnded { sink.mailAfterContentInOneRead.withLock { $0 += 1 } }
                current = SinkTransaction(sender: SinkHandler.address(line), recipients: [], wire: [])
                out += "250 2.1.0 Ok\r\n"
            } else if upper.hasPrefix("RCPT TO:") {
                let address = SinkHandler.address(line)
                if let refusal = sink.refusals[address] {
                    out += refusal + "\r\n"
                } else {
                    current.recipients.append(address)
                    out += "250 2.1.5 Ok\r\n"
                }
            } else if upper == "DATA" {
                if current.recipients.isEmpty {
                    out += "554 5.5.1 Error: no valid recipients\r\n"
                } else {
                    inData = true
                    out += "354 go ahead\r\n"
                }
            } else if upper == "RSET" {
                out += "250 2.0.0 Ok\r\n"
            } else if upper == "QUIT" {
                if !sink.silentQuit { out += "221 2.0.0 Bye\r\n" }
            } else {
                out += "502 5.5.2 what\r\n"
            }
        }
        guard !out.isEmpty else { return }
        if delay == .zero {
            reply(out, context: context)
            if sink.closeAfterData && out.contains("queued as SINK") { context.close(promise: nil) }
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) { self.reply(out, context: context) }
        }
    }

    func reply(_ text: String, context: ChannelHandlerContext) {
        var bytes = context.channel.allocator.buffer(capacity: text.utf8.count)
        bytes.writeString(text)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    static func address(_ line: String) -> String {
        guard let open = line.firstIndex(of: "<"), let close = line.firstIndex(of: ">") else { return "" }
        return String(line[line.index(after: open)..<close])
    }
}

func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
    guard needle.count <= haystack.count else { return nil }
    var index = 0
    while index + needle.count <= haystack.count {
        if haystack[index] == needle[0] && Array(haystack[index..<(index + needle.count)]) == needle {
            return index..<(index + needle.count)
        }
        index += 1
    }
    return nil
}

/// A plain blocking TCP client (POSIX sockets), the way an application speaks to the door. Its
/// read timeout is generous: in a full `swift test` run other suites may keep the cooperative
/// threads the door's deliveries run on busy for a while.
final class LineClient {
    let descriptor: Int32
    var pending: [UInt8] = []

    init(port: Int, timeoutSeconds: Int = 60) throws {
        #if canImport(Glibc)
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw TestFailure("socket failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw TestFailure("connect failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                #if canImport(Glibc)
                    Glibc.send(
                        descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset, Int32(MSG_NOSIGNAL))
                #else
                    Darwin.send(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset, 0)
                #endif
            }
            guard written > 0 else { throw TestFailure("send failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Reads one whole reply (all its lines); `nil` at end of stream.
    func reply() throws -> String? {
        var text = ""
        while true {
            guard let line = try line() else { return text.isEmpty ? nil : text }
            text += line + "\n"
            let bytes = Array(line.utf8)
            if bytes.count < 4 || bytes[3] == UInt8(ascii: " ") { return text.trimmingCharacters(in: .newlines) }
        }
    }

    /// `true` once the server closed the connection (reads EOF; a reset counts too).
    func readsEndOfStream() throws -> Bool {
        while true {
            guard let line = try line() else { return true }
            _ = line
        }
    }

    func line() throws -> String? {
        while true {
            if let lf = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<lf], as: UTF8.self).trimmingCharacters(in: .newlines)
                pending.removeFirst(lf + 1)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return nil }
            if count < 0 {
                if errno == ECONNRESET { return nil }
                throw TestFailure("recv failed: \(String(cString: strerror(errno)))")
            }
            pending += chunk[..<count]
        }
    }
}
