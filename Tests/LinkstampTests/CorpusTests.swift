import Foundation
import MIME
import SMTPAPI
import TestSupport
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Every message of the project's own corpus and, when present, the shared one (see `Corpora`)
/// through the whole pipeline.
@Suite struct CorpusTests {
    /// Prepares every corpus message for one recipient, recording (not throwing) refusals.
    /// `withoutAPIHeader` drops the message's `X-MSYS-API` field first, so the configuration
    /// alone decides (the project's own messages ask for tracking in that field).
    func prepared(_ source: CorpusSource, with engine: Engine, withoutAPIHeader: Bool = false) throws
        -> [(name: String, input: [UInt8], transmission: Transmission)]
    {
        var result: [(String, [UInt8], Transmission)] = []
        for url in try Corpora.files(source, .eml, suffix: ".eml") {
            var message = Array(try Data(contentsOf: url))
            if withoutAPIHeader { message = removingField("X-MSYS-API", from: message) }
            do {
                let transmission = try engine.prepare(
                    message: message, envelope: Envelope(sender: "s@example.com", recipients: ["r@example.org"]))
                result.append((url.lastPathComponent, message, transmission))
            } catch {
                Issue.record("\(url.lastPathComponent) refused: \(error)")
            }
        }
        return result
    }

    @Test(arguments: Corpora.sources)
    func corpusIsThere(_ source: CorpusSource) throws {
        let count = try Corpora.files(source, .eml, suffix: ".eml").count
        #expect(count > source.pick(own: 15, shared: 200), "the \(source) .eml corpus has only \(count) messages")
    }

    /// With tracking off and transactional mail, every copy is the input minus the X-MSYS-API
    /// and Bcc fields, byte for byte.
    @Test(arguments: Corpora.sources)
    func everyMessageGoesThroughUnchangedWithTrackingOff(_ source: CorpusSource) throws {
        let engine = try Fixture.engine { $0.transactional = true }
        var checked = 0
        let prepared = try prepared(source, with: engine, withoutAPIHeader: true)
        for (name, message, transmission) in prepared {
            let output = try transmission.renderedBytes(transmission.copies[0])
            let expected = removingField("Bcc", from: removingField("X-MSYS-API", from: message))
            if output != expected {
                Issue.record("\(name): output differs from the input")
            }
            checked += 1
        }
        #expect(checked == (try Corpora.files(source, .eml, suffix: ".eml").count))
    }

    /// With tracking on, nothing crashes, every tracked URL decodes, and every MIME part other
    /// than the tracked body parts keeps its bytes.
    @Test(arguments: Corpora.sources)
    func everyMessageGoesThroughWithTrackingOn(_ source: CorpusSource) throws {
        let engine = try Fixture.engine {
            $0.transactional = true
            $0.clickTracking = true
            $0.openTracking = true
        }
        var tracked = 0
        for (name, message, transmission) in try prepared(source, with: engine) {
            let output = try transmission.renderedBytes(transmission.copies[0])
            let before = try MessageStructure.parse(message)
            let after = try MessageStructure.parse(output)
            let (html, text) = before.trackableBodyParts()
            if html != nil || text != nil { tracked += 1 }
            guard before.parts.count == after.parts.count else {
                Issue.record("\(name): \(before.parts.count) parts became \(after.parts.count)")
                continue
            }
            for index in before.parts.indices
            where index != html && index != text && before.parts[index].children.isEmpty {
                if Array(message[before.parts[index].bodyRange]) != Array(output[after.parts[index].bodyRange]) {
                    Issue.record("\(name): part \(index) changed")
                }
            }
            let urls = try trackedURLs(in: output)
            for link in urls.html + urls.text {
                do {
                    _ = try TrackingDecoder.decode(
                        url: link, keyRing: Fixture.keyRing, now: Int64(Fixture.now.timeIntervalSince1970))
                } catch {
                    Issue.record("\(name): \(link) does not decode: \(error)")
                }
            }
        }
        #expect(tracked > source.pick(own: 12, shared: 100), "only \(tracked) messages with a tracked part")
    }

    /// Seeded random damage to real messages (bytes flipped, lines cut, boundaries broken) with
    /// tracking and CSS inlining on: every input either renders or is refused with an SMTP
    /// reply; nothing crashes.
    @Test(arguments: Corpora.sources)
    func damagedMessagesNeverCrashThePipeline(_ source: CorpusSource) throws {
        let engine = try Fixture.engine {
            $0.clickTracking = true
            $0.openTracking = true
        }
        var generator = SeededGenerator(seed: 0x5EED)
        let every = source.pick(own: 2, shared: 6)
        let samples = try Corpora.files(source, .eml, suffix: ".eml").enumerated()
            .filter { $0.offset % every == 0 }.map(\.element)
        var rendered = 0
        for url in samples {
            // The message's own X-MSYS-API goes: the one put in front asks for CSS inlining, and
            // two such fields are refused.
            let original = removingField("X-MSYS-API", from: Array(try Data(contentsOf: url)))
            guard !original.isEmpty else { continue }
            for _ in 0..<12 {
                var message = Array(Fixture.message("X-MSYS-API: {\"options\": {\"inline_css\": true}}\r\n")) + original
                for _ in 0..<Int.random(in: 1...8, using: &generator) {
                    let position = Int.random(in: 0..<message.count, using: &generator)
                    switch Int.random(in: 0..<4, using: &generator) {
                    case 0: message[position] = UInt8.random(in: 0...255, using: &generator)
                    case 1: message.insert(contentsOf: Array("\r\n--".utf8), at: position)
                    case 2:
                        message.removeSubrange(
                            position..<min(message.count, position + Int.random(in: 1...200, using: &generator)))
                    default: message.insert(contentsOf: Array("<a href=\"https://x.example/\">".utf8), at: position)
                    }
                    if message.isEmpty { message = [0x0A] }
                }
                do {
                    let transmission = try engine.prepare(
                        message: message, envelope: Envelope(sender: "", recipients: ["r@example.org"]))
                    _ = try transmission.renderedBytes(transmission.copies[0])
                    rendered += 1
                } catch {
                    #expect(error.code >= 400 && error.code < 600)
                }
            }
        }
        #expect(rendered > samples.count * 6)
    }
}
