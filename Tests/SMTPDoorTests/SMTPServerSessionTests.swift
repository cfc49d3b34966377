import Linkstamp
import SMTPAPI
import Testing

@testable import SMTPDoor

/// The ESMTP state machine alone: bytes in, actions out.
@Suite struct SMTPServerSessionTests {
    func session(_ configure: (inout SMTPServerLimits) -> Void = { _ in }) -> SMTPServerSession {
        var limits = SMTPServerLimits()
        configure(&limits)
        return SMTPServerSession(hostname: "door.test", limits: limits)
    }

    /// The text of every `.send`, joined.
    func sent(_ actions: [SMTPServerSession.Action]) -> String {
        actions.compactMap { action -> String? in
            if case .send(let bytes) = action { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }.joined()
    }

    func delivered(_ actions: [SMTPServerSession.Action]) -> (Envelope, [UInt8])? {
        for action in actions {
            if case .deliver(let envelope, let message) = action { return (envelope, message) }
        }
        return nil
    }

    @Test func greetingAndEHLOAdvertiseTheExtensions() {
        var door = session { $0.maxMessageBytes = 1000 }
        #expect(sent(door.greeting()) == "220 door.test ESMTP Linkstamp\r\n")
        #expect(
            sent(door.receive(Array("EHLO client.test\r\n".utf8)))
                == "250-door.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n")
        #expect(sent(door.receive(Array("HELO client.test\r\n".utf8))) == "250 door.test\r\n")
    }

    @Test func pipelinedTransactionInOneChunkDeliversTheUnstuffedMessage() {
        var door = session()
        let input =
            "EHLO c\r\nMAIL FROM:<a@x.test> BODY=8BITMIME SIZE=40\r\n"
            + "RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n" + "Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n"
        let actions = door.receive(Array(input.utf8))
        #expect(
            sent(actions).hasSuffix(
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"))
        let delivery = delivered(actions)
        #expect(delivery?.0 == Envelope(sender: "a@x.test", recipients: ["b@y.test", "c@y.test"]))
        #expect(delivery.map { String(decoding: $0.1, as: UTF8.self) } == "Subject: hi\r\n\r\n.dot\r\n")
        #expect(door.isBusy)
        // QUIT waited in the buffer until the reply.
        let after = door.deliveryFinished(SMTPReply(code: 250, enhancedStatus: "2.0.0", text: "Ok: queued as 7"))
        #expect(sent(after) == "250 2.0.0 Ok: queued as 7\r\n221 2.0.0 Bye\r\n")
        #expect(after.last == .close)
    }

    @Test func dataSplitAtEveryByteGivesTheSameMessage() {
        let input = Array(
            "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nA\r\n.\r\n..\r\n.x.\r\n\r\n.\r\n".utf8)
        var door = session()
        var message: [UInt8]?
        for byte in input {
            if let found = delivered(door.receive([byte])) { message = found.1 }
        }
        #expect(message.map { String(decoding: $0, as: UTF8.self) } == "A\r\n")
        // The rest (".." is not the end) is read after the reply.
        let next = door.deliveryFinished(SMTPReply(code: 250, enhancedStatus: "2.0.0", text: "Ok"))
        #expect(sent(next).hasPrefix("250 2.0.0 Ok\r\n500 5.5.2"))
    }

    @Test func bareLFInDataRefusesTheMessageAtItsEnd() {
        var door = session()
        _ = door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n".utf8))
        var actions = door.receive(Array("Subject: x\n\r\n.\n".utf8))
        #expect(delivered(actions) == nil)
        #expect(sent(actions) == "")
        actions = door.receive(Array("body\r\n.\r\n".utf8))
        #expect(delivered(actions) == nil)
        #expect(sent(actions).hasPrefix("550 5.6.11 "))
        // The session goes on.
        #expect(sent(door.receive(Array("NOOP\r\n".utf8))) == "250 2.0.0 Ok\r\n")
    }

    @Test func sizeLimitsRefuseWith552() {
        var door = session { $0.maxMessageBytes = 10 }
        _ = door.receive(Array("EHLO c\r\n".utf8))
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test> SIZE=11\r\n".utf8))).hasPrefix("552 5.3.4 "))
        _ = door.receive(Array("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n".utf8))
        let actions = door.receive(Array("0123456789\r\n.\r\n".utf8))
        #expect(delivered(actions) == nil)
        #expect(sent(actions).hasPrefix("552 5.3.4 "))
    }

    @Test func overlongCommandLineIsDiscardedAndTheSessionGoesOn() {
        var door = session()
        var actions = door.receive(Array(repeating: UInt8(ascii: "A"), count: 100_000))
        #expect(actions.isEmpty)
        #expect(door.buffer.count <= 100_000)
        actions = door.receive(Array("AAAA\r\nNOOP\r\n".utf8))
        #expect(sent(actions) == "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n")
        // A line of exactly 512 bytes with its CRLF is allowed.
        let longest = "NOOP " + String(repeating: "x", count: 505) + "\r\n"
        #expect(longest.utf8.count == 512)
        #expect(sent(door.receive(Array(longest.utf8))) == "250 2.0.0 Ok\r\n")
        #expect(
            sent(door.receive(Array(("NOOP " + String(repeating: "x", count: 506) + "\r\n").utf8))).hasPrefix(
                "500 5.5.2"))
    }

    @Test func sequenceAndSyntaxErrors() {
        var door = session()
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))).hasPrefix("503 5.5.1"))
        _ = door.receive(Array("EHLO c\r\n".utf8))
        #expect(sent(door.receive(Array("RCPT TO:<b@y.test>\r\n".utf8))).hasPrefix("503 5.5.1"))
        #expect(sent(door.receive(Array("DATA\r\n".utf8))).hasPrefix("503 5.5.1"))
        #expect(sent(door.receive(Array("MAIL FROM:a@x.test\r\n".utf8))).hasPrefix("501 5.5.4"))
        #expect(sent(door.receive(Array("MAIL FROM:<not an address>\r\n".utf8))).hasPrefix("501 5.1.7"))
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test> AUTH=<>\r\n".utf8))).hasPrefix("555 5.5.4"))
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))) == "250 2.1.0 Ok\r\n")
        #expect(sent(door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))).hasPrefix("503 5.5.1"))
        #expect(sent(door.receive(Array("RCPT TO:<>\r\n".utf8))).hasPrefix("501 5.1.3"))
        #expect(sent(door.receive(Array("RCPT TO:<bé@y.test>\r\n".utf8))).hasPrefix("553 5.6.7"))
        #expect(sent(door.receive(Array("DATA\r\n".utf8))).hasPrefix("554 5.5.1"))
        #expect(sent(door.receive(Array("VRFY root\r\nEXPN staff\r\n".utf8))).hasPrefix("502 5.5.1"))
        #expect(sent(door.receive(Array("RSET\r\nRCPT TO:<b@y.test>\r\n".utf8))).hasPrefix("250 2.0.0 Ok\r\n503 5.5.1"))
        #expect(sent(door.receive(Array("FOO\r\n".utf8))) == "500 5.5.2 Error: command not recognized\r\n")
    }

    @Test func tooManyErrorsCloseTheConnection() {
        var door = session { $0.maxErrors = 3 }
        let actions = door.receive(Array("X\r\nX\r\nX\r\nNOOP\r\n".utf8))
        #expect(sent(actions).hasSuffix("421 4.7.0 door.test Error: too many errors\r\n"))
        #expect(actions.last == .close)
        #expect(door.isClosed)
    }

    @Test func recipientAndMessageLimits() {
        var door = session {
            $0.maxRecipients = 2
            $0.maxMessagesPerConnection = 1
        }
        _ = door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\n".utf8))
        #expect(
            sent(door.receive(Array("RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nRCPT TO:<d@y.test>\r\n".utf8)))
                == "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Error: too many recipients\r\n")
        let actions = door.receive(Array("DATA\r\nx\r\n.\r\n".utf8))
        #expect(delivered(actions)?.0.recipients == ["b@y.test", "c@y.test"])
        _ = door.deliveryFinished(SMTPReply(code: 250, enhancedStatus: "2.0.0", text: "Ok"))
        let next = door.receive(Array("MAIL FROM:<a@x.test>\r\n".utf8))
        #expect(sent(next).hasPrefix("421 4.7.0 "))
        #expect(next.last == .close)
    }

    @Test func replyCode421FromTheEngineClosesTheConnection() {
        var door = session()
        _ = door.receive(
            Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n".utf8))
        let actions = door.deliveryFinished(SMTPReply.uniqueIDFailure)
        #expect(sent(actions) == "421 4.3.3 [internal] smtpapi unable to generate unique transmission id\r\n")
        #expect(actions.last == .close)
    }

    @Test func shutdownWaitsForTheMessageBeingRelayed() {
        var door = session()
        _ = door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n".utf8))
        #expect(door.shutdown().isEmpty)
        #expect(door.idleTimeout().isEmpty)
        let actions = door.deliveryFinished(SMTPReply(code: 250, enhancedStatus: "2.0.0", text: "Ok: queued as 1"))
        #expect(
            sent(actions)
                == "250 2.0.0 Ok: queued as 1\r\n421 4.3.2 door.test Service shutting down, try again later\r\n")
        #expect(actions.last == .close)

        var idle = session()
        let now = idle.shutdown()
        #expect(sent(now).hasPrefix("421 4.3.2 "))
        #expect(now.last == .close)
    }

    @Test func pipelinedInputWhileBusyIsBounded() {
        var door = session { $0.maxPendingBytes = 100 }
        _ = door.receive(Array("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n".utf8))
        #expect(door.receive(Array(repeating: UInt8(ascii: "N"), count: 100)).isEmpty)
        let actions = door.receive([UInt8(ascii: "N")])
        #expect(sent(actions).hasPrefix("421 4.7.0 "))
        #expect(actions.last == .close)
    }
}
