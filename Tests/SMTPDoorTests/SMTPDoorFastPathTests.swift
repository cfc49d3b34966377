import Foundation
import Linkstamp
import NIOCore
import Testing

@testable import SMTPDoor

/// The door's per-message path, in a task and on the client connection's event loop
/// (`prepareOnEventLoop`, issue 12): the events file kept open across messages but following
/// rotation, engine refusals answered in order, and every copy byte for byte.
extension SMTPDoorServerTests {
    /// One message for `recipient` through `client`; returns the door's reply.
    func relayOne(_ client: LineClient, to recipient: String) throws -> String? {
        try client.send("MAIL FROM:<news@acme.example>\r\nRCPT TO:<\(recipient)>\r\nDATA\r\n")
        for _ in 0..<3 { _ = try client.reply() }
        try client.send(SMTPDoorServerTests.dotStuffed(Array("Subject: s\r\n\r\nbody\r\n".utf8)))
        return try client.reply()
    }

    static func lines(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
    }

    @Test(arguments: [false, true])
    func eventsGoToTheFileThePathNamesAfterRotationAndDeletion(prepareOnEventLoop: Bool) throws {
        let rig = try rig(prepareOnEventLoop: prepareOnEventLoop)
        defer {
            rig.stop()
            try? FileManager.default.removeItem(atPath: rig.events + ".1")
        }
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send("EHLO app.test\r\n")
        _ = try client.reply()
        #expect(try relayOne(client, to: "one@example.org")?.hasPrefix("250 2.0.0") == true)
        #expect(try relayOne(client, to: "two@example.org")?.hasPrefix("250 2.0.0") == true)
        let first = SMTPDoorServerTests.lines(rig.events)
        #expect(first.count == 2)
        #expect(
            first.allSatisfy { $0.hasPrefix(#"{"msys":{"message_event":{"type":"injection""#) && $0.hasSuffix("}}}") })
        #expect(
            first[0].contains(#""rcpt_to":"one@example.org""#) && first[1].contains(#""rcpt_to":"two@example.org""#))

        // Rotated (renamed away): the next line goes to a new file at the path, not the old one.
        try FileManager.default.moveItem(atPath: rig.events, toPath: rig.events + ".1")
        Thread.sleep(forTimeInterval: 0.6)  // the path is looked at again every 0.5 s
        #expect(try relayOne(client, to: "three@example.org")?.hasPrefix("250 2.0.0") == true)
        #expect(SMTPDoorServerTests.lines(rig.events + ".1").count == 2)
        let after = SMTPDoorServerTests.lines(rig.events)
        #expect(after.count == 1)
        #expect(after.first?.contains(#""rcpt_to":"three@example.org""#) == true)

        // Deleted: created again.
        try FileManager.default.removeItem(atPath: rig.events)
        Thread.sleep(forTimeInterval: 0.6)
        #expect(try relayOne(client, to: "four@example.org")?.hasPrefix("250 2.0.0") == true)
        #expect(SMTPDoorServerTests.lines(rig.events).map { $0.contains(#""rcpt_to":"four@example.org""#) } == [true])
    }

    /// The path is looked at again only once `recheckInterval` has passed: until then lines go
    /// to the open (rotated) file, then to a new file at the path.
    @Test func eventsFileLooksAtThePathAgainAfterItsInterval() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "events-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let file = EventsFile(path: path, recheckInterval: 300_000_000)
        #expect(file.append(Array("one\n".utf8)) == nil)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        #expect(file.append(Array("two\n".utf8)) == nil)  // within the interval: the open file
        Thread.sleep(forTimeInterval: 0.4)
        #expect(file.append(Array("three\n".utf8)) == nil)  // looked again: a new file
        #expect(SMTPDoorServerTests.lines(path + ".1") == ["one", "two"])
        #expect(SMTPDoorServerTests.lines(path) == ["three"])
        // With no interval every append looks (as before the interval).
        let eager = EventsFile(path: path, recheckInterval: 0)
        #expect(eager.append(Array("four\n".utf8)) == nil)
        try FileManager.default.removeItem(atPath: path)
        #expect(eager.append(Array("five\n".utf8)) == nil)
        #expect(SMTPDoorServerTests.lines(path) == ["five"])
    }

    /// A 421 in the middle of a run of copies (the relay closing) ends the run: the copies
    /// before it stay delivered, the rest are not handed over, the client gets 451, and the
    /// next message goes out over a new relay connection.
    @Test(arguments: [false, true])
    func a421InTheMiddleOfTheCopiesEndsTheRunAndTheNextMessageIsRelayed(prepareOnEventLoop: Bool) throws {
        let sent = try newsletterWithSecondCopyRefused(prepareOnEventLoop: prepareOnEventLoop) { _ in
            "421 4.3.2 sink shutting down"
        }
        let (probe, rig, closing, reply, client) = (sent.probe, sent.rig, sent.refused, sent.reply, sent.client)
        defer { rig.stop() }
        #expect(reply.hasPrefix("451 4.4.0 3 of 4 copies not accepted by the relay; <\(closing)>: 421 4.3.2"))
        #expect(rig.sink.received.withLock { $0.map(\.recipients) } == [[probe.copies[0].address]])
        #expect(!FileManager.default.fileExists(atPath: rig.events))
        // The next message: every copy relayed (the closed connection is not reused).
        #expect(try relayOne(client, to: "five@example.org")?.hasPrefix("250 2.0.0") == true)
        #expect(rig.sink.received.withLock { $0.last?.recipients } == ["five@example.org"])
    }

    @Test(arguments: [false, true])
    func manyPipelinedRefusedMessagesAreAnsweredInOrder(prepareOnEventLoop: Bool) throws {
        let count = 2000
        let rig = try rig(prepareOnEventLoop: prepareOnEventLoop) {
            $0.maxMessagesPerConnection = count + 1
            $0.maxPendingBytes = 4 << 20
        }
        defer { rig.stop() }
        let refused = SMTPDoorServerTests.dotStuffed(
            Array("From: a@x.test\r\nX-MSYS-API: {\"metadata\": [1]}\r\nSubject: s\r\n\r\nbody\r\n".utf8))
        var wire = Array("EHLO app.test\r\n".utf8)
        for index in 0..<count {
            wire += Array("MAIL FROM:<a\(index)@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n".utf8) + refused
        }
        wire += Array("NOOP\r\n".utf8)
        let client = try LineClient(port: rig.port)
        _ = try client.reply()
        try client.send(wire)
        #expect(try client.reply()?.hasPrefix("250-door.test") == true)
        var answered = 0
        for _ in 0..<count {
            guard try client.reply() == "250 2.1.0 Ok", try client.reply() == "250 2.1.5 Ok",
                try client.reply()?.hasPrefix("354 ") == true,
                try client.reply() == "550 5.6.0 X-MSYS-API 'metadata' must be of type 'json object'"
            else { break }
            answered += 1
        }
        #expect(answered == count)
        #expect(try client.reply() == "250 2.0.0 Ok")
        let logged = rig.log.withLock { $0 }
        #expect(logged.count == count)
        #expect(logged.last?.hasPrefix("from=<a\(count - 1)@x.test> rcpts=1") == true)
        #expect(rig.sink.commands.withLock { $0.isEmpty })
    }
}

/// The byte loops of the DATA path against the plain implementations they replace.
@Suite struct DataPathEquivalenceTests {
    /// Random content made of the bytes that matter: ".", CR, LF and text.
    static func randomContent(_ generator: inout some RandomNumberGenerator, length: Int) -> [UInt8] {
        let alphabet = Array(".\r\naZ .".utf8)
        return (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
    }

    @Test func relayFramingIsBatchSMTPsByteForByte() {
        var generator = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = [[], Array(".".utf8), Array("\r".utf8), Array("\n".utf8), Array("a\r\n.\r\n".utf8)]
        for length in 0..<40 { inputs.append(DataPathEquivalenceTests.randomContent(&generator, length: length)) }
        for _ in 0..<2000 {
            inputs.append(DataPathEquivalenceTests.randomContent(&generator, length: Int.random(in: 0...300)))
        }
        for input in inputs {
            var expected: [UInt8] = []
            BatchSMTP.appendData(input, to: &expected)
            var buffer = ByteBuffer()
            RelayConnection.appendData(input, to: &buffer)
            #expect(Array(buffer.readableBytesView) == expected, "\(input)")
        }
    }

    /// Lines that mostly end in CRLF (runs the relay framing copies at once), now and then with
    /// a bare CR or LF, a line starting with ".", or no line end at the very end.
    @Test func relayFramingOfMostlyCRLFLinesIsBatchSMTPsByteForByte() {
        var generator = SystemRandomNumberGenerator()
        let ends: [[UInt8]] = [[13, 10], [13, 10], [13, 10], [13, 10], [13], [10], [13, 13, 10], []]
        for _ in 0..<2000 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                if Int.random(in: 0..<4, using: &generator) == 0 { input.append(UInt8(ascii: ".")) }
                input += Array("line text".utf8).prefix(Int.random(in: 0...9, using: &generator))
                input += ends[Int.random(in: 0..<ends.count, using: &generator)]
            }
            var expected: [UInt8] = []
            BatchSMTP.appendData(input, to: &expected)
            var buffer = ByteBuffer()
            RelayConnection.appendData(input, to: &buffer)
            #expect(Array(buffer.readableBytesView) == expected, "\(input)")
        }
    }

    /// Relay replies and MAIL/RCPT arguments are read as bytes when they are ASCII: the same
    /// results as the `Character` readings.
    @Test func byteReadingsOfRepliesAndPathsMatchTheCharacterReadings() {
        var generator = SystemRandomNumberGenerator()
        let replyPieces = ["2", "5", "0", "1", ".", " ", "x", "1234", "2.0.0", "5.7.1", "4.4.2", "", "..", "Ok"]
        for code in [250, 550, 451, 354, 0, 999] {
            for _ in 0..<300 {
                let line = (0..<Int.random(in: 0...5, using: &generator)).map { _ in
                    replyPieces[Int.random(in: 0..<replyPieces.count, using: &generator)]
                }.joined()
                let reply = RelayReply(code: code, lines: [line])
                #expect(reply.smtpReply == reply.characterSMTPReply(line), "\(code) '\(line)'")
            }
        }
        let pathPieces = ["FROM:", "from:", "To:", "TO:", "<", ">", " ", "@", ":", ",", "a", "b@c.d", "SIZE=10", "x"]
        for keyword in ["FROM:", "TO:"] {
            for _ in 0..<3000 {
                let argument = (0..<Int.random(in: 0...7, using: &generator)).map { _ in
                    pathPieces[Int.random(in: 0..<pathPieces.count, using: &generator)]
                }.joined()
                let fast = SMTPServerSession.path(Substring(argument), keyword: keyword)
                let slow = SMTPServerSession.characterPath(Substring(argument), keyword: keyword)
                #expect(fast?.0 == slow?.0, "\(keyword) '\(argument)'")
                #expect(fast?.1 == slow?.1, "\(keyword) '\(argument)'")
            }
        }
    }

    /// DATA content with CRLF line ends only, dot-stuffed, read in random pieces, gives back the
    /// content; with a bare CR or LF anywhere it is refused, however it is split.
    @Test func dataInRandomPiecesIsUnstuffedOrRefusedAsAWhole() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<600 {
            var content = DataPathEquivalenceTests.randomContent(&generator, length: Int.random(in: 0...400))
            let clean = round % 2 == 0
            if clean {
                // Every CR and LF made part of a CRLF.
                var normalized: [UInt8] = []
                for byte in content where byte != 0x0A {
                    normalized += byte == 0x0D ? [0x0D, 0x0A] : [byte]
                }
                content = normalized
            }
            var wire: [UInt8] = []
            BatchSMTP.appendData(content, to: &wire)  // adds CRLF when missing and ".\r\n"
            var expected = content
            if !expected.isEmpty && !(expected.count >= 2 && expected.suffix(2) == [0x0D, 0x0A]) {
                expected += [0x0D, 0x0A]
            }
            var door = SMTPServerSession(hostname: "door.test")
            _ = door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n".utf8))
            var actions: [SMTPServerSession.Action] = []
            var offset = 0
            while offset < wire.count {
                let piece = min(wire.count - offset, Int.random(in: 1...64, using: &generator))
                actions += door.receive(wire[offset..<(offset + piece)])
                offset += piece
            }
            let message = actions.lazy.compactMap { action -> [UInt8]? in
                if case .deliver(_, let message) = action { return message }
                return nil
            }.first
            if clean {
                #expect(message == expected, "\(content)")
            } else if content.contains(0x0D) || content.contains(0x0A) {
                // BatchSMTP turned bare line ends into CRLF: the wire is clean, the content too.
                #expect(message != nil)
            }
        }
    }

    @Test func bareLineEndsAreRefusedInAnyPiece() {
        for bare in ["a\rb\r\n", "a\nb\r\n", "\r\r\n", ".\n.\r\n"] {
            let wire = Array("\(bare).\r\n".utf8)
            for piece in 1...4 {
                var door = SMTPServerSession(hostname: "door.test")
                _ = door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n".utf8))
                var actions: [SMTPServerSession.Action] = []
                var offset = 0
                while offset < wire.count {
                    let end = min(wire.count, offset + piece)
                    actions += door.receive(wire[offset..<end])
                    offset = end
                }
                let replies = actions.compactMap { action -> String? in
                    if case .send(let bytes) = action { return String(decoding: bytes, as: UTF8.self) }
                    return nil
                }.joined()
                #expect(replies.hasPrefix("550 5.6.11"), "\(bare.debugDescription) in pieces of \(piece): \(replies)")
            }
        }
    }
}
