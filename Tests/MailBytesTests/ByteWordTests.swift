import Testing

@testable import MailBytes

/// `ByteWord`'s eight-at-once tests agree with a byte-by-byte look, for every byte value at every
/// position, and on pseudo-random words (which put several special bytes in one word).
@Suite struct ByteWordTests {
    static func naive(_ bytes: [UInt8]) -> (below: [UInt8: Bool], equal: [UInt8: Bool], high: Bool) {
        var below: [UInt8: Bool] = [:]
        var equal: [UInt8: Bool] = [:]
        for limit: UInt8 in [0x01, 0x20, 0x21, 0x80] { below[limit] = bytes.contains { $0 < limit } }
        for byte: UInt8 in [0x00, 0x22, 0x23, 0x2F, 0x3F, 0x5C, 0x7F, 0xFF] { equal[byte] = bytes.contains(byte) }
        return (below, equal, bytes.contains { $0 >= 0x80 })
    }

    static func check(_ bytes: [UInt8]) -> Bool {
        let word = bytes.withUnsafeBytes { ByteWord.load($0.baseAddress!, 0) }
        let expected = naive(bytes)
        for (limit, any) in expected.below where ByteWord.hasByte(below: limit, in: word) != any { return false }
        for (byte, any) in expected.equal where ByteWord.hasByte(byte, in: word) != any { return false }
        guard ByteWord.hasNonVisible(word) == bytes.contains(where: { $0 < 0x21 || $0 > 0x7E }) else { return false }
        return ByteWord.hasHighByte(word) == expected.high
    }

    @Test func everyByteAtEveryPosition() {
        for filler: UInt8 in [0x41, 0x7E, 0x21] {
            for position in 0..<8 {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = UInt8(value)
                    #expect(Self.check(bytes), "filler \(filler) byte \(value) at \(position)")
                }
            }
        }
    }

    @Test func pseudoRandomWords() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let bytes = (0..<8).map { UInt8(truncatingIfNeeded: state >> (UInt64($0) * 8)) }
            if !Self.check(bytes) {
                Issue.record("\(bytes)")
                return
            }
        }
    }

    /// `skip` stops at the first whole word that may hold the byte, or before a tail shorter
    /// than a word, never past `end`.
    @Test func skipStopsAtTheWordOrTheTail() {
        for length in 0..<40 {
            for target in -1..<length {
                var bytes = [UInt8](repeating: 0x61, count: length)
                if target >= 0 { bytes[target] = 0x3F }
                let stop = bytes.withUnsafeBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return ByteWord.skip(base, from: 0, to: length) { !ByteWord.hasByte(0x3F, in: $0) }
                }
                let expected = target >= 0 && target < length / 8 * 8 ? target / 8 * 8 : length / 8 * 8
                #expect(stop == expected, "length \(length), ? at \(target)")
            }
        }
    }
}
