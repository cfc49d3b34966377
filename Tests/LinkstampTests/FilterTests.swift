import Foundation
import SMTPAPI
import Testing

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

@Suite struct FilterTests {
    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "linkstamp-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs the filter with Batch SMTP written to a file and returns the stream.
    func batch(_ message: [UInt8], recipients: [String], engine: Engine, events: String? = nil) throws -> (
        SMTPReply?, [UInt8]
    ) {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/out.bsmtp"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var reply: SMTPReply?
        do {
            _ = try Filter.run(
                message: message, envelope: Envelope(sender: "s@example.com", recipients: recipients), engine: engine,
                output: .batchSMTP(fileDescriptor: descriptor), eventsPath: events)
        } catch { reply = error }
        close(descriptor)
        return (reply, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    @Test func batchSMTPRoundTripsDotStuffing() throws {
        let message = try Corpus.bundled("receipt.eml")
        let engine = try Fixture.engine()
        let (reply, stream) = try batch(
            message, recipients: ["customer@example.org", "second@example.org"], engine: engine)
        #expect(reply == nil)
        let text = stream.text
        #expect(text.hasPrefix("MAIL FROM:<s@example.com>\r\nRCPT TO:<customer@example.org>\r\nDATA\r\n"))
        #expect(text.hasSuffix("\r\n.\r\nQUIT\r\n"))
        #expect(text.contains("\r\n..\r\nA line that starts with a dot"))
        // Each transaction's DATA, unstuffed, is the copy with CRLF line ends.
        let transactions = text.components(separatedBy: "DATA\r\n").dropFirst()
        #expect(transactions.count == 2)
        let expected = Array(
            removingField("X-MSYS-API", from: message).text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        for transaction in transactions {
            let data = Array(transaction.components(separatedBy: "\r\n.\r\n")[0].utf8) + [0x0D, 0x0A]
            #expect(BatchSMTP.unstuff(data[...]) == expected)
        }
    }

    @Test func dotStuffingHandlesEveryLineEnd() {
        var output: [UInt8] = []
        BatchSMTP.appendData(Array(".a\n..b\r\nc\r.\n.".utf8), to: &output)
        #expect(output.text == "..a\r\n...b\r\nc\r\n..\r\n..\r\n.\r\n")
    }

    @Test func refusedMessageWritesNothing() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let message = try Corpus.bundled("invalid-header.eml")
        let engine = try Fixture.engine()
        let (reply, stream) = try batch(
            message, recipients: ["r@example.org"], engine: engine, events: folder + "/events.jsonl")
        #expect(reply?.code == 550)
        #expect(stream.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder + "/events.jsonl"))
        let out = folder + "/out"
        #expect(throws: SMTPReply.self) {
            try Filter.run(
                message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]), engine: engine,
                output: .directory(out), eventsPath: nil)
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] == [])
    }

    @Test func outDirHasOneFilePerCopyAndEnvelopes() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let message = try Corpus.bundled("newsletter.eml")
        let engine = try Fixture.engine()
        let summary = try Filter.run(
            message: message, envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]),
            engine: engine, output: .directory(folder + "/out"), eventsPath: folder + "/events.jsonl")
        #expect(summary.copies == 4)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder + "/out").sorted()
        #expect(names.count == 5)
        #expect(names.last == "envelopes.jsonl")
        let lines = try String(contentsOfFile: folder + "/out/envelopes.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["file"] as? String == names[0])
        #expect(first?["mail_from"] as? String == "news@acme.example")
        #expect(first?["rcpt_to"] as? String == "reader@example.org")
        #expect(first?["rcpt_type"] is NSNull)
        #expect(first?["ip_pool"] as? String == "marketing")
        #expect(first?["transmission_id"] as? String == summary.transmissionID)
        let last = try JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as? [String: Any]
        #expect(last?["rcpt_type"] as? String == "archive")
        #expect(last?["rcpt_to"] as? String == "archive@acme.example")
        // An LF or CRLF file keeps its line ends in --out-dir.
        let copy = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/out/" + names[0])))
        #expect(copy.text.hasPrefix("From: \"Acme News\" <news@acme.example>\r\n"))

        let events = try String(contentsOfFile: folder + "/events.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(events.count == 4)
        let event = try JSONSerialization.jsonObject(with: Data(events[1].utf8)) as? [String: Any]
        let body = (event?["msys"] as? [String: Any])?["message_event"] as? [String: Any]
        #expect(body?["type"] as? String == "injection")
        #expect(body?["rcpt_type"] as? String == "cc")
        #expect(body?["rcpt_to"] as? String == "editor@acme.example")
        #expect(body?["campaign_id"] as? String == "november-news")
        #expect(body?["rcpt_tags"] as? [String] == ["newsletter", "cafe"])
        #expect((body?["rcpt_meta"] as? [String: Any])?["segment"] as? String == "weekly")
        #expect(body?["transactional"] as? String == "0")
        #expect(body?["subject"] as? String == "November news \u{2014} caf\u{E9} edition")
        #expect(body?["msg_from"] as? String == "news@acme.example")
        #expect(Int(body?["msg_size"] as? String ?? "") ?? 0 > 1000)
        #expect(body?["ip_pool"] as? String == "marketing")
        #expect(body?["click_tracking"] as? Bool == true)
    }
}
