import Foundation
import Synchronization

@testable import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

/// One request the test receiver got.
struct ReceivedRequest: Sendable {
    var method: String
    var target: String
    var headers: [String: String]
    var body: [UInt8]
    /// What the receiver answered (0: closed without answering).
    var answered: Int

    var batchID: String? { headers["x-messagesystems-batch-id"] }
    /// The body as a JSON array of objects, if it is one.
    var events: [[String: Any]]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]]
    }
    /// The `event_id` of every event in the body.
    var eventIDs: [String] {
        (events ?? []).compactMap { object in
            ((object["msys"] as? [String: Any])?.values.first as? [String: Any])?["event_id"] as? String
        }
    }
}

/// A webhook receiver on an ephemeral loopback port: plain blocking sockets, one thread per
/// connection, `Connection: close` after every answer. It answers the statuses in `plan` in
/// order (0: close without answering), then 200; `delay` holds each answer back.
final class WebhookReceiver: Sendable {
    let port: Int
    private let listener: Int32
    private let state = Mutex<(requests: [ReceivedRequest], plan: [Int], delay: Double, arrivals: Int)>(([], [], 0, 0))

    init(plan: [Int] = [], delay: Double = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 64) == 0 else { throw StoreError("receiver cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        state.withLock {
            $0.plan = plan
            $0.delay = delay
        }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var requests: [ReceivedRequest] { state.withLock { $0.requests } }
    /// Requests whose head and body arrived (answered or not yet).
    var arrivals: Int { state.withLock { $0.arrivals } }
    /// Every event id delivered with a 2xx answer.
    var acknowledgedEventIDs: [String] { requests.filter { (200..<300).contains($0.answered) }.flatMap(\.eventIDs) }

    func setPlan(_ plan: [Int]) { state.withLock { $0.plan = plan } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread.detachNewThread { [self] in serve(connection) }
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headEnd: Range<Int>?
        var contentLength = 0
        var head: [String] = []
        while true {
            if let end = headEnd, data.count >= end.upperBound + contentLength { break }
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            data += buffer[0..<n]
            if headEnd == nil, let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                headEnd = end
                head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                for line in head.dropFirst() where line.lowercased().hasPrefix("content-length:") {
                    contentLength =
                        Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
        guard let end = headEnd else { return }
        let requestLine = head.first?.split(separator: " ").map(String.init) ?? []
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let (status, delay) = state.withLock { state -> (Int, Double) in
            state.arrivals += 1
            return (state.plan.isEmpty ? 200 : state.plan.removeFirst(), state.delay)
        }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        let request = ReceivedRequest(
            method: requestLine.first ?? "", target: requestLine.dropFirst().first ?? "", headers: headers,
            body: Array(data[end.upperBound..<(end.upperBound + contentLength)]), answered: status)
        state.withLock { $0.requests.append(request) }
        guard status != 0 else { return }
        let answer = "HTTP/1.1 \(status) X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        _ = RawHTTP.sendAll(connection, Array(answer.utf8))
    }
}

enum Wait {
    /// Polls `condition` every 20 ms, `seconds / 0.02` times at least; whether it came true.
    /// Counted in polls, not wall time: while other suites hold every thread of the task pool
    /// (the whole suite runs in parallel), the work waited for is held back too.
    static func until(seconds: Double = 30, _ condition: @Sendable () -> Bool) async -> Bool {
        for _ in 0..<Int(seconds / 0.02) {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
