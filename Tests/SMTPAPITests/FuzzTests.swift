import TestSupport
import Testing

@testable import SMTPAPI

/// Seeded random inputs: never a crash; always either a header or a one-line ASCII 550 reply.
@Suite struct FuzzTests {

    static let seed = Array(
        #"""
        {"campaign_id":"=?UTF-8?Q?caf=C3=A9?=","metadata":{"a":[1,-2.5e3,true,null,"\u00e9\ud83d\ude00"]},
         "tags":["t"],"cc":[{"email":"a@example.com","name":"A"}],"bcc":["b@[IPv6:::1]"],
         "archive":["\"q\"@x.y"],"options":{"open_tracking":false,"ip_pool":"p"}}
        """#.utf8)

    /// Checks one outcome and returns whether the input was accepted.
    @discardableResult
    static func check(_ bytes: [UInt8]) -> Bool {
        switch outcome(bytes: bytes) {
        case .success:
            return true
        case .failure(let reply):
            #expect(reply.code == 550 && reply.enhancedStatus == "5.6.0")
            #expect(reply.text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "\(reply.text)")
            return false
        }
    }

    @Test func randomBytes() {
        var generator = SeededGenerator(seed: 2026)
        let alphabet = Array(#"{}[]":,\ "#.utf8) + [0x0D, 0x0A, 0x09, 0xC3, 0xA9, 0xFF, 0x3D, 0x3F]
        for round in 0..<3000 {
            let length = Int.random(in: 0..<64, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                round.isMultiple(of: 2)
                    ? UInt8.random(in: 0...255, using: &generator)
                    : alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
            }
            Self.check(bytes)
        }
    }

    @Test func mutatedValidHeaders() {
        #expect(Self.check(Self.seed))
        var generator = SeededGenerator(seed: 8259)
        var acceptedCount = 0
        for _ in 0..<3000 {
            var bytes = Self.seed
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes.remove(at: position)
                default: bytes.insert(bytes[Int.random(in: 0..<bytes.count, using: &generator)], at: position)
                }
            }
            if Self.check(bytes) { acceptedCount += 1 }
        }
        // Some mutations land in strings and survive; most break something.
        #expect(acceptedCount > 0 && acceptedCount < 3000)
    }

    @Test func randomEncodedWords() {
        var generator = SeededGenerator(seed: 2047)
        let pieces = [
            "=?", "?=", "?", "UTF-8", "utf-8", "ISO-8859-1", "Q", "B", "b", "=C3", "=A9", "_", "=", "YQ", "==", " ",
            "\t", "a", "\u{E9}",
        ]
        for _ in 0..<2000 {
            let word = (0..<Int.random(in: 1...12, using: &generator)).map { _ in
                pieces[Int.random(in: 0..<pieces.count, using: &generator)]
            }.joined()
            Self.check(Array(word.utf8))
            Self.check(Array("{\"campaign_id\":\"\(word)\",\"tags\":[\"\(word)\"]}".utf8))
        }
    }
}
