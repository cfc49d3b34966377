import MailBytes
import Testing

/// `Base64.decodeIfValid` (one pass, a quantum at a time) against its definition: the lenient
/// decoding when the input is only alphabet bytes and line whitespace, `=` padding only at the
/// end (at most two, completing a quantum), no lone final sextet; nil otherwise.
@Suite struct Base64StrictTests {
    static func reference(_ bytes: [UInt8]) -> [UInt8]? {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var sextets = 0
        var padding = 0
        for b in bytes {
            if alphabet.contains(b) {
                if padding > 0 { return nil }
                sextets += 1
            } else if b == UInt8(ascii: "=") {
                padding += 1
            } else if ![0x0D, 0x0A, 0x20, 0x09].contains(b) {
                return nil
            }
        }
        guard sextets % 4 != 1, padding <= 2 else { return nil }
        if padding > 0 && (sextets + padding) % 4 != 0 { return nil }
        return Base64.decode(bytes[...])
    }

    @Test func agreesWithTheDefinition() {
        var state: UInt64 = 2045
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let symbols = Array("QUJDRGVm+/09xyz".utf8) + [0x3D, 0x0D, 0x0A, 0x20, 0x09, 0x2E]
        for round in 0..<3000 {
            let count = Int(next() % 40)
            // Mostly alphabet bytes; some rounds with whitespace, padding and stray bytes.
            let bytes: [UInt8] = (0..<count).map { _ in
                let pick = Int(next() % UInt64(round % 3 == 0 ? symbols.count : 12))
                return symbols[pick]
            }
            #expect(Base64.decodeIfValid(bytes[...]) == Self.reference(bytes), "\(bytes)")
        }
        let encoded = Array("TWFu\r\nTWE=\r\n".utf8)
        #expect(Base64.decodeIfValid(encoded[...]) == Array("ManMa".utf8))
        #expect(Base64.decodeIfValid(Array("TW Fu TQ".utf8)[...]) == Array("ManM".utf8))
        #expect(Base64.decodeIfValid(Array("TWFu=TWFu".utf8)[...]) == nil)
        #expect(Base64.decodeIfValid(Array("TWFuT".utf8)[...]) == nil)
    }
}
