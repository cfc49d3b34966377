import Foundation
import Linkstamp
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import Tracking

@testable import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP response as a plain socket client saw it.
struct HTTPResult: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    /// The connection was closed or reset without any response.
    var closedWithoutResponse: Bool

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A plain blocking socket client (run off the cooperative pool).
enum RawHTTP {
    static func connectSocket(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0 ? fd : -1
    }

    /// Sends all of `bytes`; false once the peer has closed or reset.
    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// One keep-alive connection sends `request` `rounds` times, 300 ms apart, reading after each
    /// until `answered` says the bytes so far hold its response (the first request in two writes
    /// 200 ms apart when `splitFirstAt` is given); then, quiet, waits up to 5 s for the server to
    /// close. Returns the responses counted and the seconds until the close (-1: not closed).
    static func keepAliveRounds(
        port: Int, request: [UInt8], rounds: Int, splitFirstAt: Int? = nil, answered: ([UInt8]) -> Bool
    ) -> (answered: Int, closedAfter: Double) {
        let fd = connectSocket(port: port)
        defer { close(fd) }
        var count = 0
        var pending: [UInt8] = []
        for round in 0..<rounds {
            if round == 0, let split = splitFirstAt {
                guard sendAll(fd, Array(request[0..<split])) else { break }
                usleep(200_000)
                guard sendAll(fd, Array(request[split...])) else { break }
            } else {
                guard sendAll(fd, request) else { break }
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&probe, 1, 2000) > 0 else { break }
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard got > 0 else { break }
            pending += chunk[..<got]
            if answered(pending) {
                count += 1
                pending = []
            }
            usleep(300_000)
        }
        // Quiet now: closed within the timeout (and the timer's own lateness).
        let start = Date()
        var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&probe, 1, 5000)
        var byte: UInt8 = 0
        let closed = read(fd, &byte, 1) == 0
        return (count, closed ? Date().timeIntervalSince(start) : -1)
    }

    /// Reads until the peer closes (or the 10 s receive timeout).
    static func readAll(_ fd: Int32) -> (bytes: [UInt8], timedOut: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                out += buffer[0..<n]
            } else if n == 0 {
                return (out, false)
            } else {
                return (out, errno == EAGAIN || errno == EWOULDBLOCK)
            }
        }
    }

    static func parse(_ raw: [UInt8]) -> HTTPResult {
        guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else {
            return HTTPResult(status: 0, headers: [], body: [], closedWithoutResponse: true)
        }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return HTTPResult(
            status: status, headers: headers, body: Array(raw[split.upperBound...]), closedWithoutResponse: false)
    }

    static func blockingRequest(port: Int, _ request: String) -> HTTPResult {
        let fd = connectSocket(port: port)
        guard fd >= 0 else { return HTTPResult(status: 0, headers: [], body: [], closedWithoutResponse: true) }
        defer { close(fd) }
        sendAll(fd, Array(request.utf8))
        return parse(readAll(fd).bytes)
    }

    /// Runs blocking socket work on a thread outside Swift's cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }

    static func request(
        port: Int, _ method: String, _ target: String, headers: [String] = [], body: String? = nil
    ) async -> HTTPResult {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: t.example.net\r\nConnection: close\r\n"
        for header in headers { text += header + "\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        let request = text
        return await offPool { blockingRequest(port: port, request) }
    }
}

/// A server running in-process on an ephemeral port.
final class RunningServer: Sendable {
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    static func start(_ server: TrackingServer) async throws -> RunningServer {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = server.application(host: "127.0.0.1", port: 0) { port in continuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: server.logger))
        let task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw StoreError("server did not start") }
        return RunningServer(port: port, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    func get(_ target: String, headers: [String] = []) async -> HTTPResult {
        await RawHTTP.request(port: port, "GET", target, headers: headers)
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    private let time: Mutex<Double>
    init(_ start: Double) { time = Mutex(start) }
    var now: Double { time.withLock { $0 } }
    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
}

enum Support {
    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "linkstamp-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func lines(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func json(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }
}
