import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
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
            "GET /f/a HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", "GET /f/a HTTP/1.1\r\nConnection: close\t\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nContent-Length: 0\t\r\n\r\n", "GET /f/a HTTP/1.1\r\nHost x\r\n\r\n",
            "GET /f/a HTTP/1.1\r\n: x\r\n\r\n", "GET /f/a HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "GET /f/a HTTP/1.1\r\nX: a\u{0}b\r\n\r\n",
            "GET /f/a HTTP/1.1\r\nX: a\u{7F}\r\n\r\n", "\r\nGET /f/a HTTP/1.1\r\n\r\n", "PUT",
        ]
        for text in refused { #expect(Self.isOther(text), "\(text.debugDescription)") }
        // The head limit, and the field count.
        #expect(Self.isOther("GET /f/" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n\r\n", maxBytes: 64))
        #expect(
            Self.isOther("GET /f/a HTTP/1.1\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n", maxBytes: 64))
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
        let request = Array("GET \(click) HTTP/1.1\r\nHost: t.example.net\r\n\r\n".utf8)
        // The first request in two parts, 200 ms apart.
        let (answered, closedAfter) = await RawHTTP.offPool {
            RawHTTP.keepAliveRounds(port: port, request: request, rounds: 8, splitFirstAt: 20) { pending in
                guard let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
                return String(decoding: pending[..<end.lowerBound], as: UTF8.self).hasPrefix("HTTP/1.1 302 Found")
            }
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

    /// Graceful shutdown closes a kept-alive connection that only had direct answers (the
    /// connection state handler never saw its requests) and the server stops.
    @Test func shutdownClosesADirectKeepAliveConnection() async throws {
        let setup = try ServerTests.Setup()
        let (urls, _) = try FastPathTests.paths(setup)
        let running = try await RunningServer.start(try setup.server())
        let port = running.port
        let fd = RawHTTP.connectSocket(port: port)
        defer { close(fd) }
        let request = "GET \(urls[1]) HTTP/1.1\r\nHost: t\r\n\r\n"
        let first = await RawHTTP.offPool { () -> String in
            RawHTTP.sendAll(fd, Array(request.utf8))
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return count > 0 ? String(decoding: chunk[..<count], as: UTF8.self) : ""
        }
        #expect(first.hasPrefix("HTTP/1.1 302 Found"))
        let started = Date()
        await running.stop()
        #expect(Date().timeIntervalSince(started) < 5, "shutdown waited for the kept-alive connection")
        let rest = await RawHTTP.offPool { RawHTTP.readAll(fd) }
        #expect(!rest.timedOut && rest.bytes.isEmpty, "the connection was not closed")
        #expect(Support.lines(setup.journalPath).count == 1)
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
        #expect(
            Set(
                journal.compactMap { try? Support.json($0) }.compactMap { event -> String? in
                    ((event["msys"] as? [String: Any])?["track_event"] as? [String: Any])?["event_id"] as? String
                }
            ).count == perConnection * connections)
        await running.stop()
    }
}

/// Differential check of the direct parser against NIO's HTTP/1 decoder (llhttp), which reads
/// every request the direct path does not: on thousands of mutated heads, whatever the direct
/// parser takes, NIO reads as the same request (method, target, version, the fields the tracking
/// routes use, keep-alive) with no body. (The reverse is not required: what the direct parser
/// leaves, NIO judges.)
@Suite struct DirectHTTPDifferentialTests {
    static let heads = [
        DirectHTTPTests.plain,
        "HEAD /q/o/AgAB-x_y/AgAB HTTP/1.1\r\nHost: t.example.net\r\nAccept-Language: de, en;q=0.5\r\n"
            + "X-Forwarded-For: 192.0.2.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        "GET /f/a/b/c HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (X11)\r\nuser-agent: second\r\nCookie: a=b\r\n\r\n",
    ]
    static let alphabet: [UInt8] = [
        0x00, 0x09, 0x0A, 0x0D, 0x20, 0x3A, 0x2C, 0x2F, 0x61, 0x47, 0x7F, 0x80, 0xFF, 0x22, 0x3F, 0x23, 0x25,
    ]

    static func nioRead(_ bytes: ArraySlice<UInt8>) throws -> (HTTPRequestHead, [HTTPServerRequestPart]) {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        var parts: [HTTPServerRequestPart] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        guard case .head(let head) = parts.first else { throw NoHead(parts: "\(parts)") }
        return (head, Array(parts.dropFirst()))
    }

    struct NoHead: Error { var parts: String }

    /// The values as the router sees them (`HTTPFields`: surrounding blanks trimmed, RFC 9110's
    /// optional whitespace), several joined with ", ".
    static func joined(_ values: [String]) -> String? {
        values.isEmpty
            ? nil
            : values.map { value in
                String(
                    value.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            }.joined(separator: ", ")
    }

    @Test func whatItTakesNIOReadsTheSame() throws {
        // LINKSTAMP_DIFFERENTIAL_ROUNDS and _SEED run it longer or elsewhere (by hand).
        let environment = ProcessInfo.processInfo.environment
        let rounds = environment["LINKSTAMP_DIFFERENTIAL_ROUNDS"].flatMap { Int($0) } ?? 100_000
        var state: UInt64 = environment["LINKSTAMP_DIFFERENTIAL_SEED"].flatMap { UInt64($0) } ?? 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(truncatingIfNeeded: state >> 1)
        }
        var taken = 0
        for round in 0..<rounds {
            var bytes = Array(Self.heads[round % Self.heads.count].utf8)
            for _ in 0...(next() % 3) {
                let at = next() % bytes.count
                let byte =
                    next() % 4 == 0 ? UInt8(truncatingIfNeeded: next()) : Self.alphabet[next() % Self.alphabet.count]
                switch next() % 3 {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: if bytes.count > 1 { bytes.remove(at: at) }
                }
            }
            let outcome = bytes.withUnsafeBytes { DirectRequestHead.parse($0, maxBytes: 16384) }
            guard case .head(let head, let length) = outcome else { continue }
            taken += 1
            let text = String(decoding: bytes[0..<length], as: UTF8.self).debugDescription
            let nio: HTTPRequestHead
            let rest: [HTTPServerRequestPart]
            do { (nio, rest) = try Self.nioRead(bytes[0..<length]) } catch {
                Issue.record("taken directly, refused by NIO (\(error)): \(text)")
                continue
            }
            #expect(nio.method == (head.isHEAD ? .HEAD : .GET), "\(text)")
            #expect(nio.uri == head.path, "\(text)")
            #expect(nio.version == .http1_1, "\(text)")
            #expect(Self.joined(nio.headers["User-Agent"]) == head.userAgent, "\(text)")
            #expect(Self.joined(nio.headers["Accept-Language"]) == head.acceptLanguage, "\(text)")
            #expect(Self.joined(nio.headers["X-Forwarded-For"]) == head.forwardedFor, "\(text)")
            #expect(nio.isKeepAlive == !head.close, "\(text)")
            if rest.count != 1 { Issue.record("not one end after the head: \(rest) \(text)") }
            if case .end = rest.first {} else { Issue.record("a body after the head: \(rest) \(text)") }
        }
        #expect(taken > rounds / 10, "only \(taken) mutated heads were taken")
    }
}
