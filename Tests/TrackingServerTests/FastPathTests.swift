import Foundation
import HTTPTypes
import Linkstamp
import NIOHTTP1
import NIOHTTPTypesHTTP1
import Testing
import Tracking

@testable import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

/// The event-loop path for clicks and pixels (FastPath.swift): keep-alive and pipelined requests
/// mixing it with the router keep their order; a journal that fails still answers 503.
@Suite(.serialized) struct FastPathTests {
    /// The tracked URLs (paths) of one copy for reader@example.org: initial pixel, click,
    /// unsubscribe click, open pixel; and the List-Unsubscribe path.
    static func paths(_ setup: ServerTests.Setup) throws -> (body: [String], listUnsubscribe: String) {
        let transmission = try setup.engine().prepare(
            message: Array(ServerTests.message.utf8),
            envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]))
        let (urls, list) = try ServerTests.urls(
            in: try transmission.renderedBytes(try #require(transmission.copies.first)))
        try #require(urls.count == 4)
        return (urls.map(ServerTests.path), ServerTests.path(try #require(list)))
    }

    /// Splits a stream of HTTP/1.1 responses (each with Content-Length, or none for HEAD).
    static func responses(_ raw: [UInt8], heads: Set<Int> = []) -> [HTTPResult] {
        var out: [HTTPResult] = []
        var rest = raw[...]
        while let split = rest.firstRange(of: Array("\r\n\r\n".utf8)) {
            let head = Array(rest[rest.startIndex..<split.upperBound])
            let parsed = RawHTTP.parse(head)
            let length = heads.contains(out.count) ? 0 : Int(parsed.header("Content-Length") ?? "0") ?? 0
            let end = min(split.upperBound + length, rest.endIndex)
            out.append(
                HTTPResult(
                    status: parsed.status, headers: parsed.headers, body: Array(rest[split.upperBound..<end]),
                    closedWithoutResponse: false))
            rest = rest[end...]
        }
        return out
    }

    @Test func pipelinedKeepAliveMixesBothPathsInOrder() async throws {
        let setup = try ServerTests.Setup()
        let (urls, listUnsubscribe) = try Self.paths(setup)
        let running = try await RunningServer.start(try setup.server())
        // One connection, every request sent at once: click, health (router), pixel, the
        // unsubscribe page (router), HEAD pixel, an undecodable click (router, 404), click again
        // with Connection: close (answered, then the connection closes).
        let targets: [(String, String)] = [
            ("GET", urls[1]), ("GET", "/healthz"), ("GET", urls[3]), ("GET", listUnsubscribe), ("HEAD", urls[0]),
            ("GET", "/f/a/garbled/garbled/garbled"), ("GET", urls[1]),
        ]
        var text = ""
        for (index, (method, target)) in targets.enumerated() {
            text += "\(method) \(target) HTTP/1.1\r\nHost: t.example.net\r\nUser-Agent: Firefox/140.0\r\n"
            text += index == targets.count - 1 ? "Connection: close\r\n\r\n" : "\r\n"
        }
        let request = text
        let port = running.port
        let raw = await RawHTTP.offPool { () -> [UInt8] in
            let fd = RawHTTP.connectSocket(port: port)
            guard fd >= 0 else { return [] }
            defer { close(fd) }
            RawHTTP.sendAll(fd, Array(request.utf8))
            return RawHTTP.readAll(fd).bytes
        }
        let answers = Self.responses(raw, heads: [4])
        #expect(
            answers.map(\.status) == [302, 200, 200, 200, 200, 404, 302], "\(String(decoding: raw, as: UTF8.self))")
        if answers.count == 7 {
            #expect(answers[0].header("Location") == "https://shop.example.com/sale?x=1")
            #expect(answers[0].header("Cache-Control") == "no-store")
            #expect(answers[0].header("Date") != nil && answers[0].header("Server") == "linkstamp")
            #expect(answers[1].text == "ok\n")
            #expect(answers[2].body == TrackingServer.gif && answers[2].header("Content-Type") == "image/gif")
            #expect(answers[3].text.contains("<form method=\"post\">"))
            #expect(answers[4].header("Content-Length") == "43")
            #expect(answers[5].header("Location") == nil)
            // Nothing after the last response: the connection closed (readAll returned).
            #expect(answers[6].body.isEmpty)
        }
        let journal = Support.lines(setup.journalPath)
        #expect(journal.count == 4)
        #expect(journal.filter { $0.contains(#""type":"click""#) }.count == 2)
        #expect(journal.filter { $0.contains(#""type":"open""#) }.count == 1)
        #expect(journal.filter { $0.contains(#""type":"initial_open""#) }.count == 1)
        await running.stop()
    }

    /// The journal cannot be written: the click is not redirected (503, Retry-After), and no
    /// half line is left.
    @Test func journalFailureAnswers503() async throws {
        let setup = try ServerTests.Setup()
        let (urls, _) = try Self.paths(setup)
        let configuration = try setup.configuration()
        let server = TrackingServer(
            configuration: configuration, keyRing: try KeyRing(contentsOf: configuration.keyRingPath),
            journal: FileEventJournal(path: setup.directory + "/no/such/dir/events.jsonl"), suppression: nil,
            logger: Support.quietLogger)
        let running = try await RunningServer.start(server)
        for path in [urls[1], urls[3]] {
            let response = await running.get(path)
            #expect(response.status == 503)
            #expect(response.header("Retry-After") == "30")
            #expect(response.header("Location") == nil)
        }
        await running.stop()
    }

    /// The answer the direct path gives to `method path`, its lines appended to `journal` as the
    /// batch does; nil when the request goes to the decoder and the router.
    static func answer(
        _ responder: FastPathResponder, _ method: String, _ path: String, journal: (any SynchronousEventJournal)? = nil
    ) -> DirectAnswer? {
        let bytes = Array("\(method) \(path) HTTP/1.1\r\nHost: t.example.net\r\nUser-Agent: Firefox/140.0\r\n\r\n".utf8)
        let outcome = bytes.withUnsafeBytes { DirectRequestHead.parse($0, maxBytes: 16384) }
        guard case .head(let head, let length) = outcome, length == bytes.count,
            let answer = responder.answer(head, peer: "192.0.2.1")
        else { return nil }
        try? (journal ?? responder.journal).appendNow(answer.lines)
        return answer
    }

    /// Which requests the event-loop path takes: clicks and pixels that decode; not the rest.
    @Test func takesOnlyDecodedClicksAndPixels() throws {
        let setup = try ServerTests.Setup()
        let (urls, listUnsubscribe) = try Self.paths(setup)
        let server = try setup.server()
        let journal = FileEventJournal(path: setup.journalPath)
        let responder = FastPathResponder(server: server, journal: journal, serverName: "linkstamp")
        func answer(_ method: String, _ path: String) -> DirectAnswer? { Self.answer(responder, method, path) }
        // The unsubscribe link: the suppression list file is written synchronously, so here too
        // (its click and link_unsubscribe lines, and the address suppressed; first, as a click on
        // another link of the copy within a second would make it machine-made).
        #expect(answer("GET", urls[2])?.response == .redirect("https://acme.example/unsub"))
        #expect(Support.lines(setup.suppressionPath) == ["reader@example.org non_transactional"])
        #expect(answer("GET", urls[1])?.response == .redirect("https://shop.example.com/sale?x=1"))
        #expect(answer("HEAD", urls[3])?.response == .gif)
        #expect(answer("GET", listUnsubscribe) == nil)
        #expect(answer("POST", urls[1]) == nil)
        #expect(answer("GET", "/healthz") == nil)
        #expect(answer("GET", "/f/a/garbled/garbled/garbled") == nil)
        let lines = Support.lines(setup.journalPath)
        #expect(lines.count == 4)
        #expect(lines.dropFirst().first?.hasPrefix(#"{"msys":{"unsubscribe_event":{"type":"link_unsubscribe""#) == true)
        #expect(HTTPDateCache.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDateCache.format(1_796_617_845) == "Mon, 07 Dec 2026 04:30:45 GMT")
    }
}

/// A suppression store that suspends (as PostgreSQL's does).
struct SuspendingSuppression: SuppressionStore {
    let stored = MemoryEventJournal()
    func suppress(_ address: String, source: String) async throws(StoreError) {
        await Task.yield()
        try stored.append([address])
    }
}

extension FastPathTests {
    /// The codec's shortcut gives the request `HTTP1ToHTTPServerCodec` gives, for every form of
    /// request target.
    @Test func originFormShortcutMakesTheCodecsRequest() throws {
        let targets = [
            "/f/a/AgAB-x_y/AgAB/AgAB?x=1#frag", "/", "//double/slash", "/q/o/%41%2f;p?q=%20", "/a b",
            "http://t.example.net/f/a/x?y=1", "https://t.example.net", "*", "t.example.net:443",
        ]
        for target in targets {
            for method in [HTTPMethod.GET, .HEAD, .POST, .RAW(value: "PURGE")] {
                var head = HTTPRequestHead(version: .http1_1, method: method, uri: target)
                head.headers.add(name: "Host", value: "t.example.net")
                head.headers.add(name: "User-Agent", value: "Firefox/140.0")
                head.headers.add(name: "Cookie", value: "a=1; b=2")
                let expected = try HTTPRequest(head, secure: false, splitCookie: false)
                #expect(try OriginFormHTTPServerCodec.request(head) == expected, "\(method) \(target)")
            }
        }
        var bare = HTTPRequestHead(version: .http1_0, method: .GET, uri: "/healthz")
        bare.headers = [:]
        #expect(try OriginFormHTTPServerCodec.request(bare) == HTTPRequest(bare, secure: false, splitCookie: false))
    }

    /// With a suppression store that suspends, link unsubscribes go to the router, which still
    /// suppresses and journals them; plain clicks stay on the event loop.
    @Test func unsubscribeLinksWithAnAsynchronousStoreGoToTheRouter() async throws {
        let setup = try ServerTests.Setup()
        let (urls, _) = try Self.paths(setup)
        let configuration = try setup.configuration()
        let suppression = SuspendingSuppression()
        let server = TrackingServer(
            configuration: configuration, keyRing: try KeyRing(contentsOf: configuration.keyRingPath),
            journal: FileEventJournal(path: setup.journalPath), suppression: suppression,
            logger: Support.quietLogger)
        let responder = FastPathResponder(server: server, journal: MemoryEventJournal(), serverName: "linkstamp")
        #expect(Self.answer(responder, "GET", urls[2]) == nil)
        #expect(Self.answer(responder, "GET", urls[1])?.response == .redirect("https://shop.example.com/sale?x=1"))
        let running = try await RunningServer.start(server)
        let response = await running.get(urls[2])
        #expect(response.status == 302)
        #expect(suppression.stored.lines == ["reader@example.org"])
        #expect(Support.lines(setup.journalPath).count == 2)
        await running.stop()
    }

    /// The journal line's string writer escapes exactly as the JSON serializer does.
    @Test func lineWriterEscapesLikeTheSerializer() {
        for text in [
            "", "plain", "quote \" back \\ slash", "\u{0}\u{1}\u{8}\u{9}\n\u{c}\r\u{1f}\u{7f}", "é ✓ 🙂 \u{2028}",
        ] {
            var writer = EngagementEvent.LineWriter()
            writer.string(text)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == EngagementEvent.quoted(text), "\(text)")
        }
    }
}
