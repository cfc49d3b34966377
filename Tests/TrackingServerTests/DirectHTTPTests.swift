import Foundation
import NIOCore
import Testing

@testable import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

/// Clicks and pixels answered from the connection's bytes (DirectHTTP.swift): which heads the
/// parser takes and which it leaves to NIO's decoder, and the connection's deadlines and the
/// batched journal through real sockets.
@Suite(.serialized) struct DirectHTTPTests {
    static func parse(_ text: String, maxBytes: Int = 16384) -> DirectRequestHead.Outcome {
        Array(text.utf8).withUnsafeBytes { DirectRequestHead.parse($0, maxBytes: maxBytes) }
    }

    static func head(_ text: String) -> (DirectRequestHead, Int)? {
        if case .head(let head, let length) = parse(text) { return (head, length) }
        return nil
    }

    static func isOther(_ text: String, maxBytes: Int = 16384) -> Bool {
        if case .other = parse(text, maxBytes: maxBytes) { return true }
        return false
    }

    static let plain = "GET /f/a/b/c?x=1 HTTP/1.1\r\nHost: t.example.net\r\nUser-Agent: Firefox/140.0\r\n\r\n"

    @Test func takesThePlainHeadAndReadsItsFields() throws {
        let (head, length) = try #require(Self.head(Self.plain + "GET /q/"))
        #expect(length == Self.plain.utf8.count)
        #expect(head.path == "/f/a/b/c?x=1" && !head.isHEAD && !head.close)
        #expect(head.userAgent == "Firefox/140.0" && head.acceptLanguage == nil && head.forwardedFor == nil)
        let text =
            "HEAD /q/o/x HTTP/1.1\r\nuser-agent:  A \t\r\nUSER-AGENT: B\r\nAccept-Language: de\r\n"
            + "X-Forwarded-For: 192.0.2.1\r\nx-forwarded-for: 198.51.100.7, 203.0.113.9\r\n"
            + "Connection: keep-alive, Close\r\nContent-Length: 0\r\nCookie: a=\u{00E9}\r\n\r\n"
        let (other, _) = try #require(Self.head(text))
        #expect(other.isHEAD && other.path == "/q/o/x" && other.close)
        // Several fields of one name: joined as HTTPFields joins them.
        #expect(other.userAgent == "A, B" && other.acceptLanguage == "de")
        #expect(other.forwardedFor == "192.0.2.1, 198.51.100.7, 203.0.113.9")
    }

    /// Every prefix of a head it takes is incomplete, never taken or refused.
    @Test func everyPrefixIsIncomplete() {
        let bytes = Array(Self.plain.utf8)
        for end in 0..<bytes.count {
            let outcome = bytes[0..<end].withUnsafeBytes { DirectRequestHead.parse($0, maxBytes: 16384) }
            guard case .incomplete = outcome else {
                Issue.record("prefix of \(end) bytes: \(outcome)")
                return
            }
        }
    }

    /// What goes to the decoder (which answers, refuses or waits as for any request).
    @Test func leavesEverythingElseToTheDecoder() {
        let refused = [
            "POST /f/a HTTP/1.1\r\n\r\n", "get /f/a HTTP/1.1\r\n\r\n", "GET /healthz HTTP/1.1\r\n\r\n",
            "GET /u/a HTTP/1.1\r\n\r\n", "GET http://t.example.net/f/a HTTP/1.1\r\n\r\n", "GET /f HTTP/1.1\r\n\r\n",
            "GET /f/a HTTP/1.0\r\n\r\n", "GET /f/a HTTP/2.0\r\n\r\n", "GET /f/a  HTTP/1.1\r\n\r\n",
            "GET /f/a HTTP/1.1\n\n", "GET /f/a HTTP/1.1\r\nHost: x\n\r\n", "GET /f/a HTTP/1.1\r\nHost: x\rX\r\n\r\n",
            "GET /f/a HTTP/1.1\r\n\rX", "GET /f/\u{00E9} HTTP/1.1\r\n\r\n", "GET /f/a\tb HTTP/1.1\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /f/a HTTP/1.1\r\nContent-Length: 00\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", "GET /f/a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", "GET /f/a HTTP/1.1\r\nHost x\r\n\r\n",
            "GET /f/a HTTP/1.1\r\n: x\r\n\r\n", "GET /f/a HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "GET /f/a HTTP/1.1\r\nX: a\u{0}b\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nX: a\u{7F}\r\n\r\n", "\r\nGET /f/a HTTP/1.1\r\n\r\n", "PUT",
        ]
        for text in refused { #expect(Self.isOther(text), "\(text.debugDescription)") }
        // The head limit, and the field count.
        #expect(Self.isOther("GET /f/" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n\r\n", maxBytes: 64))
        #expect(Self.isOther("GET /f/a HTTP/1.1\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n", maxBytes: 64))
        #expect(Self.head("GET /f/a HTTP/1.1\r\nX: " + String(repeating: "a", count: 30) + "\r\n\r\n") != nil)
        let fields = (0..<100).map { "X-\($0): 1\r\n" }.joined()
        #expect(Self.head("GET /f/a HTTP/1.1\r\n" + fields + "\r\n") != nil)
        #expect(Self.isOther("GET /f/a HTTP/1.1\r\n" + fields + "X-100: 1\r\n\r\n"))
        // A huge request line is refused once it passes the limit, before its end arrives.
        #expect(Self.isOther("GET /f/" + String(repeating: "a", count: 20000)))
    }

    /// Through a socket: a head split over two writes is still answered directly; a connection
    /// answered only directly keeps its header deadline per request and is closed once quiet; a
    /// trickled click head is cut off at the header timeout.
    @Test func directHeadsKeepTheConnectionsDeadlines() async throws {
        let setup = try ServerTests.Setup(extra: "header_timeout_seconds = 1\nidle_timeout_seconds = 2")
        let (urls, _) = try FastPathTests.paths(setup)
        let click = urls[1]
        let running = try await RunningServer.start(try setup.server())
        let port = running.port
        let (answered, closedAfter) = await RawHTTP.offPool { () -> (Int, Double) in
            let fd = RawHTTP.connectSocket(port: port)
            defer { close(fd) }
            let request = Array("GET \(click) HTTP/1.1\r\nHost: t.example.net\r\n\r\n".utf8)
            var answered = 0
            var pending: [UInt8] = []
            for round in 0..<8 {
                if round == 0 {
                    // The first request in two parts, 200 ms apart.
                    guard RawHTTP.sendAll(fd, Array(request[0..<20])) else { break }
                    usleep(200_000)
                    guard RawHTTP.sendAll(fd, Array(request[20...])) else { break }
                } else {
                    guard RawHTTP.sendAll(fd, request) else { break }
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&probe, 1, 2000) > 0 else { break }
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                pending += chunk[..<count]
                if let end = pending.firstRange(of: Array("\r\n\r\n".utf8)),
                    String(decoding: pending[..<end.lowerBound], as: UTF8.self).hasPrefix("HTTP/1.1 302 Found")
                {
                    answered += 1
                    pending = []
                }
                usleep(300_000)
            }
            let start = Date()
            var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&probe, 1, 5000)
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            return (answered, count == 0 ? Date().timeIntervalSince(start) : -1)
        }
        #expect(answered == 8)
        #expect(closedAfter > 0 && closedAfter < 3, "closed after \(closedAfter) s")
        #expect(Support.lines(setup.journalPath).count == 8)
        let trickled = await RawHTTP.offPool { () -> Double in
            let fd = RawHTTP.connectSocket(port: port)
            defer { close(fd) }
            let start = Date()
            RawHTTP.sendAll(fd, Array("GET \(click) HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8))
            while Date().timeIntervalSince(start) < 8 {
                usleep(200_000)
                if !RawHTTP.sendAll(fd, [UInt8(ascii: "a")]) { break }
                var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&probe, 1, 0) > 0 { break }
            }
            return Date().timeIntervalSince(start)
        }
        #expect(trickled < 4, "a trickled click head held its connection \(trickled) s")
        #expect(Support.lines(setup.journalPath).count == 8)
        await running.stop()
    }

    /// Many clicks and pixels pipelined on several connections at once: every request answered in
    /// order on its connection, every event in the journal, once.
    @Test func batchedJournalKeepsEveryEventAndTheOrder() async throws {
        let setup = try ServerTests.Setup()
        let (urls, _) = try FastPathTests.paths(setup)
        let running = try await RunningServer.start(try setup.server())
        let port = running.port
        let perConnection = 40
        let connections = 6
        let results = await withTaskGroup(of: [Int].self) { group in
            for connection in 0..<connections {
                group.addTask {
                    await RawHTTP.offPool { () -> [Int] in
                        let fd = RawHTTP.connectSocket(port: port)
                        guard fd >= 0 else { return [] }
                        defer { close(fd) }
                        var text = ""
                        for index in 0..<perConnection {
                            // Alternating click and pixel; the last one closes.
                            let target = index % 2 == 0 ? urls[1] : urls[3]
                            text += "GET \(target) HTTP/1.1\r\nHost: t\r\nUser-Agent: c\(connection)\r\n"
                            text += index == perConnection - 1 ? "Connection: close\r\n\r\n" : "\r\n"
                        }
                        RawHTTP.sendAll(fd, Array(text.utf8))
                        return FastPathTests.responses(RawHTTP.readAll(fd).bytes).map(\.status)
                    }
                }
            }
            var all: [[Int]] = []
            for await statuses in group { all.append(statuses) }
            return all
        }
        let expected = (0..<perConnection).map { $0 % 2 == 0 ? 302 : 200 }
        #expect(results.count == connections)
        for statuses in results { #expect(statuses == expected) }
        let journal = Support.lines(setup.journalPath)
        #expect(journal.count == perConnection * connections)
        #expect(Set(journal.compactMap { try? Support.json($0) }.compactMap { event -> String? in
            ((event["msys"] as? [String: Any])?["track_event"] as? [String: Any])?["event_id"] as? String
        }).count == perConnection * connections)
        await running.stop()
    }
}

/// `serve` runs one event loop per CPU it may run on (its affinity mask), not per CPU of the machine.
@Suite struct ServeThreadsTests {
    @Test func allowedCPUsComeFromTheStatusMask() {
        #expect(TrackingServer.allowedCPUs(status: "Name:\tx\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n") == 1)
        #expect(TrackingServer.allowedCPUs(status: "Cpus_allowed:\tff,00000003\n") == 10)
        #expect(TrackingServer.allowedCPUs(status: "Cpus_allowed:\t0000000f\n") == 4)
        #expect(TrackingServer.allowedCPUs(status: "Name:\tx\n") == nil)
        #expect(TrackingServer.allowedCPUs(status: "Cpus_allowed:\tzz\n") == nil)
        let threads = TrackingServer.eventLoopThreads()
        #expect(threads >= 1 && threads <= System.coreCount)
    }

    /// Through the real binary's start-up: pinned to one CPU, one loop.
    @Test func aPinnedServeRunsOneLoop() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let mine = try #require(TrackingServer.allowedCPUs(status: status))
        #expect(TrackingServer.eventLoopThreads() == min(mine, System.coreCount))
    }
}
