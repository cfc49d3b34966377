import Foundation
import Linkstamp
import MIME
import Testing
import Tracking

@testable import TrackingServer

/// Issue 11: `linkstamp serve` through real sockets, against copies the filter wrote.
@Suite(.serialized) struct ServerTests {
    static let message = """
        From: news@acme.example\r
        To: reader@example.org\r
        Subject: Spring\r
        X-MSYS-API: {"campaign_id":"spring-sale","metadata":{"list":"42","tier":"gold"},"tags":["promo","eu"],"options":{"open_tracking":true,"click_tracking":true}}\r
        MIME-Version: 1.0\r
        Content-Type: text/html; charset=utf-8\r
        \r
        <html><body><p><a href="https://shop.example.com/sale?x=1" data-msys-linkname="hero button">Sale</a></p>\r
        <p><a href="https://acme.example/unsub" data-msys-unsubscribe="1">Unsubscribe</a></p></body></html>\r

        """

    /// A configured relay in a temporary directory: key ring, empty suppression list.
    struct Setup {
        let directory: String
        let configurationPath: String
        let suppressionPath: String
        let journalPath: String

        init(extra: String = "") throws {
            directory = try Support.temporaryDirectory()
            configurationPath = directory + "/linkstamp.conf"
            suppressionPath = directory + "/suppressed.txt"
            journalPath = directory + "/events.jsonl"
            _ = FileManager.default.createFile(atPath: suppressionPath, contents: Data())
            _ = try KeyRing.loadOrCreate(at: directory + "/keys")
            let text = """
                tracking_domain = t.example.net
                key_ring = \(directory)/keys
                suppression_list = \(suppressionPath)
                machine_seconds_after_injection = 0
                \(extra)
                """
            try text.write(toFile: configurationPath, atomically: true, encoding: .utf8)
        }

        func engine() throws -> Engine { try Engine.load(configurationPath: configurationPath) }
        func configuration() throws -> Configuration { try Configuration(contentsOf: configurationPath) }

        /// The server as `linkstamp serve` builds it; with `clock`, one whose time the test sets.
        func server(clock: TestClock? = nil) throws -> TrackingServer {
            let configuration = try configuration()
            let ring = try KeyRing(contentsOf: configuration.keyRingPath)
            if let clock {
                return TrackingServer(
                    configuration: configuration, keyRing: ring, journal: FileEventJournal(path: journalPath),
                    suppression: FileSuppressionStore(path: suppressionPath), logger: Support.quietLogger,
                    clock: { clock.now })
            }
            return try TrackingServer.fromConfiguration(
                configuration, eventsPath: journalPath, logger: Support.quietLogger)
        }
    }

    /// The tracked URLs of a copy's HTML body, in order, and its List-Unsubscribe https URL.
    static func urls(in copy: [UInt8]) throws -> (body: [String], listUnsubscribe: String?) {
        let structure = try MessageStructure.parse(copy)
        let part = try #require(structure.parts.last)
        let body = TransferCoding.decode(copy[part.bodyRange], part.transferEncoding)
        let header = String(decoding: copy[..<part.bodyRange.lowerBound], as: UTF8.self)
        let tokenBytes = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/".utf8)
        func find(_ bytes: [UInt8]) -> [String] {
            bytes.ranges(of: Array("https://t.example.net/".utf8)).map { range in
                var end = range.upperBound
                while end < bytes.count, tokenBytes.contains(bytes[end]) { end += 1 }
                return String(decoding: bytes[range.lowerBound..<end], as: UTF8.self)
            }
        }
        let unfolded = header.replacingOccurrences(of: "\r\n ", with: " ")
        return (find(body), find(Array(unfolded.utf8)).first)
    }

    static func path(_ url: String) -> String {
        String(url.dropFirst("https://t.example.net".count))
    }

    @Test func endToEnd() async throws {
        let setup = try Setup()
        let transmission = try setup.engine().prepare(
            message: Array(Self.message.utf8),
            envelope: Envelope(sender: "news@acme.example", recipients: ["Reader@Example.org"]))
        let copy = try transmission.renderedBytes(try #require(transmission.copies.first))
        let (urls, listUnsubscribe) = try Self.urls(in: copy)
        // initial-open pixel, two links, open pixel
        #expect(urls.count == 4, "\(urls)")
        guard urls.count == 4, let listUnsubscribe else { return }
        #expect(
            urls[0].contains("/q/i/") && urls[1].contains("/f/") && urls[2].contains("/f/") && urls[3].contains("/q/o/")
        )

        // Seconds pass between the reader's requests (so none looks like a scanner's burst).
        let clock = TestClock(Date().timeIntervalSince1970 + 60)
        let running = try await RunningServer.start(try setup.server(clock: clock))
        do {
            // Click: 302 to the target, no-store, one click event with what the message said.
            let click = await running.get(Self.path(urls[1]), headers: ["User-Agent: Firefox/140.0"])
            #expect(click.status == 302)
            #expect(click.header("Location") == "https://shop.example.com/sale?x=1")
            #expect(click.header("Cache-Control") == "no-store")
            var journal = Support.lines(setup.journalPath)
            #expect(journal.count == 1)
            let event = try #require(try Support.json(journal[0])["msys"] as? [String: Any])
            let track = try #require(event["track_event"] as? [String: Any])
            #expect(track["type"] as? String == "click")
            #expect(track["campaign_id"] as? String == "spring-sale")
            #expect(track["rcpt_meta"] as? [String: String] == ["list": "42", "tier": "gold"])
            #expect(track["rcpt_tags"] as? [String] == ["promo", "eu"])
            #expect(track["rcpt_to"] as? String == "reader@example.org")
            #expect(track["target_link_name"] as? String == "hero button")
            #expect(track["target_link_url"] as? String == "https://shop.example.com/sale?x=1")
            #expect(track["ip_address"] as? String == "127.0.0.1")
            #expect(track["user_agent"] as? String == "Firefox/140.0")
            #expect(track["transmission_id"] as? String == transmission.transmissionIDString)
            #expect(track["click_tracking"] as? Bool == true)
            #expect(track["open_tracking"] as? Bool == true)
            #expect((track["event_id"] as? String).flatMap(UInt64.init) != nil)
            #expect((track["timestamp"] as? String).flatMap(Int64.init) != nil)
            let machine = try #require(track["machine"] as? [String: Any])
            #expect(machine["likely"] as? Bool == false)

            // Pixels: the 43-byte GIF, open and initial_open events.
            for (url, type) in [(urls[3], "open"), (urls[0], "initial_open")] {
                clock.advance(5)
                let pixel = await running.get(Self.path(url))
                #expect(pixel.status == 200)
                #expect(pixel.body == TrackingServer.gif && pixel.body.count == 43)
                #expect(pixel.header("Content-Type") == "image/gif")
                #expect(pixel.header("Cache-Control")?.contains("no-cache") == true)
                journal = Support.lines(setup.journalPath)
                #expect(journal.last?.contains(#"{"msys":{"track_event":{"type":"\#(type)""#) == true)
            }

            // The unsubscribe link: a click and a link_unsubscribe, and the address is suppressed.
            clock.advance(5)
            let unsubscribeClick = await running.get(Self.path(urls[2]))
            #expect(unsubscribeClick.status == 302)
            journal = Support.lines(setup.journalPath)
            #expect(journal.suffix(2).first?.contains(#""type":"click""#) == true)
            #expect(journal.last?.hasPrefix(#"{"msys":{"unsubscribe_event":{"type":"link_unsubscribe""#) == true)
            #expect(Support.lines(setup.suppressionPath) == ["reader@example.org non_transactional"])
            try Data().write(to: URL(fileURLWithPath: setup.suppressionPath))

            // GET /u/ never unsubscribes: a page with a POST form.
            let page = await running.get(Self.path(listUnsubscribe))
            #expect(page.status == 200)
            #expect(page.text.contains("<form method=\"post\">"))
            #expect(Support.lines(setup.suppressionPath).isEmpty)
            let count = Support.lines(setup.journalPath).count

            // RFC 8058 one-click POST: 200, list_unsubscribe event, suppression.
            let post = await RawHTTP.request(
                port: running.port, "POST", Self.path(listUnsubscribe),
                headers: ["Content-Type: application/x-www-form-urlencoded"], body: "List-Unsubscribe=One-Click")
            #expect(post.status == 200)
            journal = Support.lines(setup.journalPath)
            #expect(journal.count == count + 1)
            #expect(journal.last?.hasPrefix(#"{"msys":{"unsubscribe_event":{"type":"list_unsubscribe""#) == true)
            #expect(Support.lines(setup.suppressionPath) == ["reader@example.org non_transactional"])

            // The next filter run for that address writes a policy_rejection instead of a copy.
            let outDirectory = setup.directory + "/out"
            try FileManager.default.createDirectory(atPath: outDirectory, withIntermediateDirectories: true)
            let eventsPath = setup.directory + "/filter-events.jsonl"
            let summary = try Filter.run(
                message: Array(Self.message.utf8),
                envelope: Envelope(
                    sender: "news@acme.example", recipients: ["reader@example.org", "other@example.org"]),
                engine: try setup.engine(), output: .directory(outDirectory), eventsPath: eventsPath)
            #expect(summary.copies == 1 && summary.suppressed == 1)
            let filterEvents = Support.lines(eventsPath)
            #expect(filterEvents.contains { $0.contains("policy_rejection") && $0.contains("reader@example.org") })

            // Health and metrics.
            #expect(await running.get("/healthz").status == 200)
            let metrics = await running.get("/metrics")
            #expect(
                metrics.text.contains(#"linkstamp_events_total{type="click",machine="false"} 2"#), "\(metrics.text)")
        }
        await running.stop()
    }

    @Test func refusedTokensGet404WithoutLocation() async throws {
        let setup = try Setup()
        let transmission = try setup.engine().prepare(
            message: Array(Self.message.utf8),
            envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]))
        let copy = try transmission.renderedBytes(try #require(transmission.copies.first))
        let urls = try Self.urls(in: copy).body
        try #require(urls.count == 4)
        let click = Self.path(urls[1])
        let running = try await RunningServer.start(try setup.server())
        do {
            // Forged: one character of the recipient token changed.
            var forged = Array(click.utf8)
            let at = forged.count - 20
            forged[at] = forged[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            // Other ring: the same message sealed under another key ring.
            let otherRing = KeyRing.generate()
            let builder = TrackingURLBuilder(domain: "t.example.net", keyRing: otherRing)
            let tid = try #require(UInt64(transmission.transmissionIDString))
            let recipient = RecipientInfo(
                transmissionID: tid, messageID: "m", rcptTo: "reader@example.org", rcptType: nil,
                expires: Int64(Date().timeIntervalSince1970) + 3600)
            let otherClick = try builder.clickURL(
                link: LinkInfo(transmissionID: tid, index: 0, target: "https://evil.example/"),
                message: MessageInfo(transmissionID: tid, injectionTime: 0), recipient: recipient)
            // Garbled, wrong kind (a click token under /q/), not a token at all, a non-http target.
            let ownRing = try KeyRing(contentsOf: try setup.configuration().keyRingPath)
            let own = TrackingURLBuilder(domain: "t.example.net", keyRing: ownRing)
            let javascript = try own.clickURL(
                link: LinkInfo(transmissionID: tid, index: 0, target: "javascript:alert(1)"),
                message: MessageInfo(transmissionID: tid, injectionTime: 0), recipient: recipient)
            let recipientSegment = String(click.split(separator: "/").last ?? "")
            for target in [
                String(decoding: forged, as: UTF8.self), Self.path(otherClick), "/f/a/garbled/garbled/garbled",
                "/q/o/" + recipientSegment, "/f/", Self.path(javascript),
            ] {
                let response = await running.get(target)
                #expect(response.status == 404, "\(target)")
                #expect(response.header("Location") == nil)
                #expect(response.text.contains("not valid"), "\(target)")
            }
            #expect(Support.lines(setup.journalPath).isEmpty)

            // Expired: the click still redirects, with no event; the pixel still answers.
            let expired = RecipientInfo(
                transmissionID: tid, messageID: "m", rcptTo: "reader@example.org", rcptType: nil, expires: 1000)
            let expiredClick = try own.clickURL(
                link: LinkInfo(transmissionID: tid, index: 0, target: "https://shop.example.com/old"),
                message: MessageInfo(transmissionID: tid, injectionTime: 0), recipient: expired)
            let response = await running.get(Self.path(expiredClick))
            #expect(response.status == 302)
            #expect(response.header("Location") == "https://shop.example.com/old")
            let expiredPixel = try own.url(
                .open, message: MessageInfo(transmissionID: tid, injectionTime: 0), recipient: expired)
            #expect(await running.get(Self.path(expiredPixel)).body == TrackingServer.gif)
            #expect(Support.lines(setup.journalPath).isEmpty)
        }
        await running.stop()
    }

    @Test func tooManyRequestsFromOneSourceGet403() async throws {
        let setup = try Setup(extra: "rate_limit_requests = 3\nrate_limit_window_seconds = 60")
        let running = try await RunningServer.start(try setup.server())
        var statuses: [Int] = []
        for _ in 0..<5 { statuses.append(await running.get("/q/o/x/y").status) }
        #expect(statuses == [404, 404, 404, 403, 403])
        #expect(await running.get("/healthz").status == 200)
        await running.stop()
    }

    @Test func hugeRequestLineAndSlowClientAreCutOff() async throws {
        let setup = try Setup(extra: "header_timeout_seconds = 1")
        let running = try await RunningServer.start(try setup.server())
        let port = running.port
        // A 1 MB request line: the connection is closed (with a 4xx at most), never served.
        let huge = await RawHTTP.offPool { () -> (HTTPResult, Bool) in
            let fd = RawHTTP.connectSocket(port: port)
            defer { close(fd) }
            let line = "GET /f/" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n"
            RawHTTP.sendAll(fd, Array(line.utf8))
            let (bytes, timedOut) = RawHTTP.readAll(fd)
            return (RawHTTP.parse(bytes), timedOut)
        }
        #expect(!huge.1, "the server kept the connection open")
        #expect(huge.0.closedWithoutResponse || huge.0.status >= 400)
        // A client that trickles its header is cut off after the header timeout; others are served.
        async let slow = RawHTTP.offPool { () -> Double in
            let fd = RawHTTP.connectSocket(port: port)
            defer { close(fd) }
            let start = Date()
            RawHTTP.sendAll(fd, Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8))
            while Date().timeIntervalSince(start) < 8 {
                usleep(200_000)
                if !RawHTTP.sendAll(fd, [UInt8(ascii: "a")]) { break }
                var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&probe, 1, 0) > 0 { break }  // closed (EOF readable)
            }
            return Date().timeIntervalSince(start)
        }
        let served = await running.get("/healthz")
        #expect(served.status == 200)
        let elapsed = await slow
        #expect(elapsed < 5, "slow client held its connection \(elapsed) s")
        #expect(await running.get("/healthz").status == 200)
        await running.stop()
    }

    /// The header deadline restarts after every response: a kept-alive connection that sends a
    /// request every 300 ms stays open past the timeout; once it goes quiet it is closed.
    @Test func headerDeadlineRestartsAfterEachResponse() async throws {
        let setup = try Setup(extra: "header_timeout_seconds = 1")
        let running = try await RunningServer.start(try setup.server())
        let port = running.port
        let (answered, closedAfter) = await RawHTTP.offPool {
            RawHTTP.keepAliveRounds(
                port: port, request: Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8), rounds: 8,
                answered: { $0.firstRange(of: Array("ok\n".utf8)) != nil })
        }
        #expect(answered == 8)
        #expect(closedAfter > 0 && closedAfter < 3, "closed after \(closedAfter) s")
        await running.stop()
    }

    /// `scanner_trap_link = true`: the filter adds one invisible link per HTML copy; a request for
    /// it is a machine click, and so are that copy's clicks right after; a machine-classified
    /// link_unsubscribe records its event but does not suppress.
    @Test func scannerTrapAndMachineUnsubscribe() async throws {
        let setup = try Setup(extra: "scanner_trap_link = true")
        let transmission = try setup.engine().prepare(
            message: Array(Self.message.utf8),
            envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]))
        let copy = try transmission.renderedBytes(try #require(transmission.copies.first))
        let urls = try Self.urls(in: copy).body
        // initial pixel, two links, the trap, the open pixel
        try #require(urls.count == 5, "\(urls)")
        let html = String(decoding: copy, as: UTF8.self)
        #expect(
            html.contains("style=3D\"display:none\" aria-hidden=3D\"true\"")
                || html.contains("style=\"display:none\" aria-hidden=\"true\""))
        let clock = TestClock(Date().timeIntervalSince1970 + 60)
        let running = try await RunningServer.start(try setup.server(clock: clock))
        do {
            let trap = await running.get(Self.path(urls[3]))
            #expect(trap.status == 302)
            var journal = Support.lines(setup.journalPath)
            #expect(journal.last?.contains(#""machine":{"likely":true,"reasons":["scanner_trap_link"]}"#) == true)
            // The unsubscribe link of that copy 3 s later: machine, so no suppression.
            clock.advance(3)
            let unsubscribe = await running.get(Self.path(urls[2]))
            #expect(unsubscribe.status == 302)
            journal = Support.lines(setup.journalPath)
            #expect(journal.last?.contains(#""type":"link_unsubscribe""#) == true)
            #expect(journal.last?.contains(#""likely":true"#) == true)
            #expect(Support.lines(setup.suppressionPath).isEmpty)
            // A HEAD (link scanners check links this way) is machine too.
            clock.advance(60)
            let head = await RawHTTP.request(port: running.port, "HEAD", Self.path(urls[1]))
            #expect(head.status == 302)
            #expect(Support.lines(setup.journalPath).last?.contains(#""reasons":["head_request"]"#) == true)
        }
        await running.stop()
    }

    /// Behind a proxy (`trust_forwarded_for`), the event's address is the one the proxy appended;
    /// a HEAD of a pixel answers the headers without the GIF.
    @Test func forwardedForAndHeadPixel() async throws {
        let setup = try Setup(extra: "trust_forwarded_for = true")
        let transmission = try setup.engine().prepare(
            message: Array(Self.message.utf8),
            envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]))
        let urls = try Self.urls(in: try transmission.renderedBytes(try #require(transmission.copies.first))).body
        try #require(urls.count == 4)
        let running = try await RunningServer.start(
            try setup.server(clock: TestClock(Date().timeIntervalSince1970 + 60)))
        do {
            let pixel = await running.get(Self.path(urls[3]), headers: ["X-Forwarded-For: 10.9.9.9, 203.0.113.7"])
            #expect(pixel.status == 200)
            #expect(Support.lines(setup.journalPath).last?.contains(#""ip_address":"203.0.113.7""#) == true)
            let head = await RawHTTP.request(port: running.port, "HEAD", Self.path(urls[0]))
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(Support.lines(setup.journalPath).last?.contains(#""reasons":["head_request"]"#) == true)
        }
        await running.stop()
    }

    @Test func eventIDsAreUniqueAndIncreasing() {
        let generator = EventIDGenerator()
        var previous: UInt64 = 0
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = generator.next(nowMilliseconds: 1_795_000_000_000)
            let value = UInt64(id) ?? 0
            #expect(value > previous)
            previous = value
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }

    @Test func journalNeverKeepsHalfALine() throws {
        let directory = try Support.temporaryDirectory()
        let journal = FileEventJournal(path: directory + "/events.jsonl")
        try journal.append(["{\"a\":1}", "{\"b\":2}"])
        #expect(Support.lines(directory + "/events.jsonl") == ["{\"a\":1}", "{\"b\":2}"])
        // A journal that cannot be written throws instead of pretending.
        let missing = FileEventJournal(path: directory + "/no/such/dir/events.jsonl")
        #expect(throws: StoreError.self) { try missing.append(["{}"]) }
    }
}
