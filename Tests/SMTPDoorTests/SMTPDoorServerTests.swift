import Foundation
import NIOCore
import NIOPosix
import SMTPAPI
import Testing
import Tracking

@testable import Linkstamp
@testable import SMTPDoor

/// The door through real sockets on 127.0.0.1: a plain client in front, a recording sink behind.
@Suite(.serialized) struct SMTPDoorServerTests {
    static let keyRing = KeyRing.generate()
    static let now = Date(timeIntervalSince1970: 1_795_680_000)

    static func engine() throws -> Engine {
        var configuration = Configuration()
        configuration.trackingDomain = "t.example.net"
        var engine = try Engine(configuration: configuration, keyRing: keyRing)
        engine.placeholderTokensForTesting = true
        return engine
    }

    /// A door in front of a sink, both on ephemeral ports.
    struct Rig: Sendable {
        let door: SMTPDoorServer
        let sink: SinkServer
        let port: Int
        let engine: Engine
        let events: String
        let log: Locked<[String]>

        func stop() {
            _ = try? blocking {
                await door.shutdown(graceSeconds: 5)
                await sink.close()
            }
            try? FileManager.default.removeItem(atPath: events)
        }
    }

    func rig(
        refusals: [String: String] = [:], dataReplyDelay: TimeAmount = .zero, closeAfterData: Bool = false,
        silentQuit: Bool = false, pipelining: Bool = true, prepareOnEventLoop: Bool = false,
        _ configure: @Sendable (inout SMTPServerLimits) -> Void = { _ in }
    ) throws -> Rig {
        let engine = try SMTPDoorServerTests.engine()
        var settings = SMTPDoorServer.Settings()
        settings.port = 0
        settings.hostname = "door.test"
        configure(&settings.limits)
        let events = NSTemporaryDirectory() + "/smtpd-events-\(UInt64.random(in: 0...UInt64.max)).jsonl"
        let fixed = settings
        let log = Locked<[String]>([])
        return try blocking {
            let group = MultiThreadedEventLoopGroup.singleton
            let sink = try await SinkServer(
                refusals: refusals, dataReplyDelay: dataReplyDelay, closeAfterData: closeAfterData,
                silentQuit: silentQuit, pipelining: pipelining,
                group: group)
            let relay = RelayClient(host: "127.0.0.1", port: sink.port, heloName: "door.test", group: group)
            var delivery = MessageDelivery(
                engine: engine, relay: relay, eventsPath: events, now: { SMTPDoorServerTests.now },
                log: { line in log.withLock { $0.append(line) } })
            delivery.prepareOnEventLoop = prepareOnEventLoop
            let door = SMTPDoorServer(settings: fixed, delivery: delivery, group: group)
            let address = try await door.start()
            return Rig(door: door, sink: sink, port: address.port ?? 0, engine: engine, events: events, log: log)
        }
    }

    static func newsletter() throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("corpus/newsletter.eml"), encoding: .utf8)
        // A line that must be dot-stuffed on the wire.
        return Array(
            text.replacingOccurrences(of: "Our menu (", with: ".Our menu (")
                .replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n").utf8)
    }

    static func dotStuffed(_ message: [UInt8]) -> [UInt8] {
        var wire: [UInt8] = []
        BatchSMTP.appendData(message, to: &wire)
        return wire
    }

    @Test(arguments: [false, true])
    func goodMessageReachesTheSinkAsEveryCopyByteForByte(prepareOnEventLoop: Bool) throws {
        let rig = try rig(prepareOnEventLoop: prepareOnEventLoop)
        defer { rig.stop() }
        let message = try SMTPDoorServerTests.newsletter()
        let client = try LineClient(port: rig.port)
        #expect(try client.reply()?.hasPrefix("220 door.test") == true)
        try client.send("EHLO app.test\r\n")
        #expect(try client.reply()?.contains("250-PIPELINING") == true)
        // Pipelined, as RFC 2920 allows: MAIL, RCPT and DATA in one write.
        try client.send("MAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n")
        #expect(try client.reply() == "250 2.1.0 Ok")
        #expect(try client.reply() == "250 2.1.5 Ok")
        #expect(try client.reply()?.hasPrefix("354") == true)
        try client.send(SMTPDoorServerTests.dotStuffed(message))
        let reply = try #require(try client.reply())
        #expect(reply.hasPrefix("250 2.0.0 Ok: queued as "))
        let id = try #require(UInt64(reply.split(separator: " ").last ?? ""))

        let expected = try rig.engine.prepare(
            message: message, envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]),
            now: SMTPDoorServerTests.now, transmissionID: id)
        let received = rig.sink.received.withLock { $0 }
        #expect(received.count == 4)
        #expect(received.map(\.recipients) == expected.copies.map { [$0.address] })
        #expect(received.allSatisfy { $0.sender == "news@acme.example" })
        for (copy, transaction) in zip(expected.copies, received) {
            let rendered = try expected.renderedBytes(copy)
            let unstuffed = BatchSMTP.unstuff(transaction.wire[...]) == rendered
            #expect(unstuffed, "copy \(copy.index) differs from Transmission.render")
            let onTheWire = transaction.wire + Array(".\r\n".utf8) == SMTPDoorServerTests.dotStuffed(rendered)
            #expect(onTheWire, "copy \(copy.index) is not dot-stuffed CRLF on the wire")
        }
        #expect(received.contains { $0.wire.text.contains("\r\n..Our menu (") })
        // The sink offers PIPELINING: MAIL, RCPT and DATA went out as one write.
        #expect(rig.sink.pipelinedReads.withLock { $0 } > 0)
        // And every later copy's MAIL, RCPT and DATA followed the previous copy's content.
        #expect(rig.sink.mailAfterContentInOneRead.withLock { $0 } > 0)

        let events = try String(contentsOfFile: rig.events, encoding: .utf8).split(separator: "\n")
        #expect(events.count == 4)
        #expect(
            events.allSatisfy { $0.contains("\"type\":\"injection\"") && $0.contains("\"transmission_id\":\"\(id)\"") })

        try client.send("QUIT\r\n")
        #expect(try client.reply() == "221 2.0.0 Bye")
        #expect(try client.readsEndOfStream())
    }

    @Test(arguments: [false, true])
    func badHeaderGets550OnTheClientsSocketAndNothingReachesTheSink(prepareOnEventLoop: Bool) throws {
        let rig = try rig(prepareOnEventLoop: prepareOnEventLoop)
        defer { rig.stop() }
        let message = Array(
            "From: a@x.test\r\nTo: b@y.test\r\nX-MSYS-API: {\"metadata\": [1]}\r\nSubject: s\r\n\r\nbody\r\n".utf8)
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(message))
        #expect(try client.reply() == "550 5.6.0 X-MSYS-API 'metadata' must be of type 'json object'")
        #expect(rig.sink.received.withLock { $0.isEmpty })
        #expect(rig.sink.commands.withLock { $0.isEmpty })
        #expect(
            rig.log.withLock { $0 } == [
                "from=<a@x.test> rcpts=1 size=\(message.count): "
                    + "550 5.6.0 X-MSYS-API 'metadata' must be of type 'json object'"
            ])
        #expect(!FileManager.default.fileExists(atPath: rig.events))
        // The session goes on.
        try client.send("NOOP\r\n")
        #expect(try client.reply() == "250 2.0.0 Ok")
    }

    @Test(arguments: [false, true])
    func oneRefusedCopyGivesATemporaryFailureAndNoEvents(prepareOnEventLoop: Bool) throws {
        let rig = try rig(
            refusals: ["audit@acme.example": "550 5.1.1 <audit@acme.example>: no such user"],
            prepareOnEventLoop: prepareOnEventLoop)
        defer { rig.stop() }
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(try SMTPDoorServerTests.newsletter()))
        let reply = try #require(try client.reply())
        #expect(reply.hasPrefix("451 4.4.0 1 of 4 copies not accepted by the relay; <audit@acme.example>: 550 5.1.1"))
        #expect(!FileManager.default.fileExists(atPath: rig.events))
        // The pooled relay connection was reset and is reused for the next message.
        try client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<3 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: s\r\n\r\nbody\r\n".utf8)))
        #expect(try client.reply()?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        #expect(rig.sink.commands.withLock { $0.filter { $0.hasPrefix("EHLO") }.count } == 1)
        #expect(rig.sink.commands.withLock { $0.contains("RSET") })
    }

    /// A copy refused in the middle of a message: the relay connection is reset and the copies
    /// after it are still handed over, in order, each byte for byte.
    @Test func aCopyRefusedInTheMiddleLeavesTheOthersIntact() throws {
        let sent = try newsletterWithSecondCopyRefused { "550 5.1.1 <\($0)>: no such user" }
        let (probe, rig, refused, reply) = (sent.probe, sent.rig, sent.refused, sent.reply)
        defer { rig.stop() }
        #expect(reply.hasPrefix("451 4.4.0 1 of 4 copies not accepted by the relay; <\(refused)>: 550 5.1.1"))
        let received = rig.sink.received.withLock { $0 }
        #expect(received.map(\.recipients) == [0, 2, 3].map { [probe.copies[$0].address] })
        #expect(received.allSatisfy { $0.wire.text.contains("\r\n..Our menu (") })
        #expect(rig.sink.commands.withLock { $0.contains("RSET") })
        #expect(!FileManager.default.fileExists(atPath: rig.events))
    }

    @Test func everyCopyRefusedPermanentlyGivesThePermanentReply() throws {
        let rig = try rig(refusals: ["b@y.test": "550 5.1.1 <b@y.test>: no such user"])
        defer { rig.stop() }
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: s\r\n\r\nbody\r\n".utf8)))
        #expect(try client.reply()?.hasPrefix("550 5.1.1 1 of 1 copies not accepted by the relay; <b@y.test>") == true)
    }

    @Test func unreachableRelayIsATemporaryFailure() throws {
        let engine = try SMTPDoorServerTests.engine()
        var settings = SMTPDoorServer.Settings()
        settings.port = 0
        let fixed = settings
        let door = try blocking {
            let group = MultiThreadedEventLoopGroup.singleton
            // A port nothing listens on: bind one, close it.
            let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
            let deadPort = probe.localAddress?.port ?? 1
            try await probe.close()
            let relay = RelayClient(host: "127.0.0.1", port: deadPort, heloName: "door.test", group: group)
            let door = SMTPDoorServer(
                settings: fixed, delivery: MessageDelivery(engine: engine, relay: relay, eventsPath: nil), group: group)
            try await door.start()
            return door
        }
        defer { _ = try? blocking { await door.shutdown(graceSeconds: 5) } }
        let port = try #require(try blocking { door.serverChannel.withLock { $0?.localAddress?.port } })
        let client = try LineClient(port: port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: s\r\n\r\nbody\r\n".utf8)))
        #expect(
            try client.reply()?.hasPrefix("451 4.4.0 1 of 1 copies not accepted by the relay; <b@y.test>: 451 4.4.1")
                == true)
    }

    @Test func megabyteCommandLineIsCutOffAndAnotherClientIsServed() throws {
        let rig = try rig()
        defer { rig.stop() }
        let bad = try LineClient(port: rig.port)
        _ = try bad.reply()
        try bad.send(Array(repeating: UInt8(ascii: "A"), count: 1 << 20))
        let good = try LineClient(port: rig.port)
        #expect(try good.reply()?.hasPrefix("220 ") == true)
        try good.send("EHLO app.test\r\n")
        #expect(try good.reply()?.hasPrefix("250-door.test") == true)
        try bad.send("\r\nNOOP\r\n")
        #expect(try bad.reply() == "500 5.5.2 Error: line too long")
        #expect(try bad.reply() == "250 2.0.0 Ok")
    }

    @Test func dataThatNeverEndsHitsTheIdleTimeout() throws {
        let rig = try rig { $0.idleTimeoutSeconds = 1 }
        defer { rig.stop() }
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send("Subject: never ends\r\n\r\nstill going")
        let started = Date()
        #expect(try client.reply() == "421 4.4.2 door.test Error: timeout exceeded")
        #expect(try client.readsEndOfStream())
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(rig.sink.received.withLock { $0.isEmpty })
    }

    @Test func connectionsPastTheLimitAreRefused() throws {
        let rig = try rig { $0.maxConnections = 2 }
        defer { rig.stop() }
        let first = try LineClient(port: rig.port)
        let second = try LineClient(port: rig.port)
        #expect(try first.reply()?.hasPrefix("220 ") == true)
        #expect(try second.reply()?.hasPrefix("220 ") == true)
        let third = try LineClient(port: rig.port)
        #expect(try third.reply() == "421 4.7.0 door.test Error: too many connections")
        #expect(try third.readsEndOfStream())
        // A freed slot is available again.
        try first.send("QUIT\r\n")
        #expect(try first.reply() == "221 2.0.0 Bye")
        #expect(try first.readsEndOfStream())
        var admitted = false
        for _ in 0..<50 where !admitted {
            let next = try LineClient(port: rig.port)
            admitted = try next.reply()?.hasPrefix("220 ") == true
            if !admitted { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(admitted)
    }

    @Test func shutdownTellsClients421() throws {
        let rig = try rig()
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\n")
        _ = try client.reply()
        rig.stop()
        #expect(try client.reply() == "421 4.3.2 door.test Service shutting down, try again later")
        #expect(try client.readsEndOfStream())
        #expect(throws: (any Error).self) { _ = try LineClient(port: rig.port) }
    }
}

extension SMTPDoorServerTests {
    /// The newsletter to reader@example.org (four copies) sent through a door whose relay answers
    /// the second copy's content with `refusal(address)`: the engine's copies for it (transmission
    /// id 1, as the door's), the rig (the caller stops it), that copy's address and the client's
    /// reply to the content. `client` stays open for more.
    func newsletterWithSecondCopyRefused(
        prepareOnEventLoop: Bool = false, _ refusal: (String) -> String
    ) throws -> (probe: Transmission, rig: Rig, refused: String, reply: String, client: LineClient) {
        let message = try SMTPDoorServerTests.newsletter()
        let probe = try SMTPDoorServerTests.engine().prepare(
            message: message, envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]),
            now: SMTPDoorServerTests.now, transmissionID: 1)
        try #require(probe.copies.count == 4)
        let refused = probe.copies[1].address
        let rig = try rig(refusals: [refused: refusal(refused)], prepareOnEventLoop: prepareOnEventLoop)
        do {
            let client = try LineClient(port: rig.port)
            _ = try client.reply()
            try client.send(
                "EHLO app.test\r\nMAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n")
            for _ in 0..<4 { _ = try client.reply() }
            try client.send(SMTPDoorServerTests.dotStuffed(message))
            let reply = try #require(try client.reply())
            return (probe, rig, refused, reply, client)
        } catch {
            rig.stop()
            throw error
        }
    }
}

extension SMTPDoorServerTests {
    @Test(arguments: [false, true])
    func shutdownLetsTheMessageBeingRelayedFinish(prepareOnEventLoop: Bool) throws {
        let rig = try rig(dataReplyDelay: .milliseconds(500), prepareOnEventLoop: prepareOnEventLoop)
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: s\r\n\r\nbody\r\n".utf8)))
        // The message is at the slow sink now; shut down meanwhile.
        var waited = 0
        while rig.sink.commands.withLock({ !$0.contains("DATA") }) && waited < 500 {
            Thread.sleep(forTimeInterval: 0.01)
            waited += 1
        }
        let started = Date()
        rig.stop()
        #expect(Date().timeIntervalSince(started) >= 0.2)
        #expect(try client.reply()?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        #expect(try client.reply() == "421 4.3.2 door.test Service shutting down, try again later")
        #expect(try client.readsEndOfStream())
        #expect(rig.sink.received.withLock { $0.count } == 1)
    }

    @Test(arguments: [false, true])
    func aRelayThatHangsUpIsReconnected(prepareOnEventLoop: Bool) throws {
        let rig = try rig(closeAfterData: true, prepareOnEventLoop: prepareOnEventLoop)
        defer { rig.stop() }
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\n")
        _ = try client.reply()
        for round in 0..<3 {
            try client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
            for _ in 0..<3 { _ = try client.reply() }
            try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: \(round)\r\n\r\nbody\r\n".utf8)))
            #expect(try client.reply()?.hasPrefix("250 2.0.0 Ok: queued as ") == true, "message \(round)")
        }
        #expect(rig.sink.received.withLock { $0.count } == 3)
    }

    /// A request written after the relay connection closed must fail, not wait for ever.
    @Test func aRequestOnAClosedRelayConnectionFails() throws {
        let outcome = try blocking { () -> String in
            let group = MultiThreadedEventLoopGroup.singleton
            let sink = try await SinkServer(group: group)
            let relay = RelayClient(host: "127.0.0.1", port: sink.port, heloName: "door.test", group: group)
            let connection = try await relay.connect()
            try await connection.channel.close()
            await sink.close()
            let result = Locked<String?>(nil)
            // Unstructured, so a send that never returns cannot hold the test up.
            Task {
                do {
                    _ = try await connection.send(Array("NOOP\r\n".utf8), replies: 1)
                    result.withLock { $0 = "answered" }
                } catch {
                    result.withLock { $0 = "failed" }
                }
            }
            for _ in 0..<300 {
                if let outcome = result.withLock({ $0 }) { return outcome }
                try await Task.sleep(for: .milliseconds(10))
            }
            return "hung"
        }
        #expect(outcome == "failed")
    }

    @Test func shutdownDoesNotWaitOnARelayThatIgnoresQUIT() throws {
        let rig = try rig(silentQuit: true)
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: s\r\n\r\nbody\r\n".utf8)))
        #expect(try client.reply()?.hasPrefix("250 ") == true)
        let started = Date()
        rig.stop()
        // The pooled relay connection is hung up on after 2 s (the relay's own timeout is 120 s).
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func aRelayWithoutPipeliningGetsOneCommandAtATime() throws {
        let rig = try rig(pipelining: false)
        defer { rig.stop() }
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\nMAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n")
        for _ in 0..<4 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(try SMTPDoorServerTests.newsletter()))
        #expect(try client.reply()?.hasPrefix("250 2.0.0 Ok: queued as ") == true)
        #expect(rig.sink.received.withLock { $0.count } == 4)
        #expect(rig.sink.pipelinedReads.withLock { $0 } == 0)
        #expect(rig.sink.mailAfterContentInOneRead.withLock { $0 } == 0)
        // Without 8BITMIME offered, no BODY= parameter.
        #expect(
            rig.sink.commands.withLock { $0.filter { $0.hasPrefix("MAIL FROM:") } }.allSatisfy { !$0.contains("BODY=") }
        )
    }

    @Test func aFloodOfConnectionsIsRefusedAndTheServerKeepsServing() throws {
        let rig = try rig { $0.maxConnections = 20 }
        defer { rig.stop() }
        var clients: [LineClient] = []
        for _ in 0..<300 { clients.append(try LineClient(port: rig.port)) }
        var greeted = 0
        var refused = 0
        for client in clients {
            let reply = try client.reply() ?? ""
            if reply.hasPrefix("220 ") { greeted += 1 }
            if reply.hasPrefix("421 4.7.0 ") { refused += 1 }
        }
        #expect(greeted == 20)
        #expect(refused == 280)
        clients.removeAll()
        var served = false
        for _ in 0..<100 where !served {
            let client = try LineClient(port: rig.port)
            if try client.reply()?.hasPrefix("220 ") == true {
                try client.send("NOOP\r\n")
                served = try client.reply() == "250 2.0.0 Ok"
            } else {
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        #expect(served)
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
