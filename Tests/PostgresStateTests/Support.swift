import Foundation
import Linkstamp
import Logging
import ServiceLifecycle
import TestSupport
import Testing
import Tracking
import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

enum Support {
    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var executable: String? { LinkstampBinary.url?.path }

    typealias Result = LinkstampBinary.Result

    /// Runs the real `linkstamp` binary.
    static func linkstamp(_ arguments: [String], stdin: [UInt8]) throws -> Result {
        guard executable != nil else {
            Issue.record("the linkstamp executable is not built (swift build first)")
            return Result(status: -1, stdout: [], stderr: "")
        }
        return try LinkstampBinary.run(arguments, stdin: stdin)
    }

    /// A folder with a key ring and a configuration file naming `databaseURL`.
    static func setup(databaseURL: String) throws -> (directory: String, configuration: String) {
        let directory = "/tmp/linkstamp-pgtest-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        _ = try KeyRing.loadOrCreate(at: directory + "/keys")
        let configuration = directory + "/linkstamp.conf"
        try """
        tracking_domain = t.example.net
        key_ring = \(directory)/keys
        click_tracking = true
        open_tracking = true
        machine_seconds_after_injection = 0
        database_url = \(databaseURL)
        """.write(toFile: configuration, atomically: true, encoding: .utf8)
        return (directory, configuration)
    }

    /// A newsletter to two envelope recipients and one cc.
    static let message = Array(
        """
        From: news@acme.example\r
        To: a@example.org, b@example.org\r
        Subject: News\r
        X-MSYS-API: {"campaign_id": "spring", "cc": [{"email": "C@Example.org"}]}\r
        MIME-Version: 1.0\r
        Content-Type: text/html; charset=utf-8\r
        \r
        <html><body><p>Hello</p><a href="https://shop.example.com/sale">Sale</a></body></html>\r

        """.utf8)

    /// The `https://t.example.net/…` URLs of a copy (body links, pixels, List-Unsubscribe).
    static func urls(in copy: String) -> [String] {
        // Header folds and quoted-printable soft line breaks (the copy's HTML is re-encoded).
        let unfolded = copy.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "=\r\n", with: "")
            .replacingOccurrences(of: "=3D", with: "=")
        var found: [String] = []
        var rest = Substring(unfolded)
        while let start = rest.range(of: "https://t.example.net/") {
            let tail = rest[start.lowerBound...]
            let end = tail.firstIndex { "\"<> \r\n".contains($0) } ?? tail.endIndex
            found.append(String(tail[..<end]))
            rest = tail[end...]
        }
        return found
    }

    static func path(_ url: String) -> String { String(url.dropFirst("https://t.example.net".count)) }

    /// One HTTP/1.1 request on a fresh connection (blocking, off the cooperative pool); the
    /// status code, or 0 when there was no response.
    static func request(port: Int, _ method: String, _ target: String, body: String? = nil) async -> Int {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: t.example.net\r\nConnection: close\r\n"
        if let body {
            text += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
        }
        text += "\r\n" + (body ?? "")
        let request = Array(text.utf8)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: blockingRequest(port: port, request)) }
        }
    }

    static func blockingRequest(port: Int, _ request: [UInt8]) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return 0 }
        var sent = 0
        while sent < request.count {
            let count = request.withUnsafeBytes {
                send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count <= 0 { return 0 }
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let line = String(decoding: response.prefix(32), as: UTF8.self)
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

/// A `serve` node running in-process on an ephemeral port.
final class Node: Sendable {
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ server: TrackingServer, services: [any Service]) async throws {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = server.application(host: "127.0.0.1", port: 0) { port in continuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: services + [app], logger: Support.quietLogger))
        task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw StoreError("server did not start") }
        self.port = port
        self.group = group
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
