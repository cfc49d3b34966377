import Testing

@testable import LinkstampPipeline

/// The prepare stage's fast paths against the plain definitions they replace.
@Suite struct PrepareInternalsTests {
    /// The definition: 16 hex digits of the id, then the index's hex digits padded to 6.
    static func referenceMessageID(_ id: UInt64, _ index: Int) -> String {
        let high = String(id, radix: 16)
        let low = String(UInt32(truncatingIfNeeded: index), radix: 16)
        return String(repeating: "0", count: 16 - high.count) + high
            + String(repeating: "0", count: max(0, 6 - low.count)) + low
    }

    @Test func messageIDsAreTheHexDigitsOfIdAndIndex() {
        let ids: [UInt64] = [0, 1, 0xABC, 0x0123_4567_89AB_CDEF, UInt64.max, 1 << 63]
        let indexes = [0, 9, 10, 15, 16, 255, 0xFFFFF, 0xFFFFFF, 0x100_0000, 0xFFF_FFFF, 0x1000_0000, -1, Int.max]
        for id in ids {
            for index in indexes {
                #expect(Transmission.messageID(transmissionID: id, index: index) == Self.referenceMessageID(id, index))
            }
        }
    }

    /// The byte-by-byte definition: a line counts its bytes other than CR, LF ends it.
    static func referenceFits(_ pieces: [[UInt8]], limit: Int) -> Bool {
        var length = 0
        for piece in pieces {
            for byte in piece {
                if byte == 0x0A {
                    length = 0
                } else if byte != 0x0D {
                    length += 1
                    if length > limit { return false }
                }
            }
        }
        return true
    }

    @Test func lineMeasureAgreesWithTheByteLoop() {
        var generator = SplitMix(seed: 13)
        let alphabet: [UInt8] = [0x61, 0x62, 0x0D, 0x0A, 0x20, 0xC3, 0x80]
        for round in 0..<400 {
            let limit = [1, 5, 20, 998][round % 4]
            var pieces: [[UInt8]] = []
            for _ in 0..<Int(generator.next() % 4) + 1 {
                let count = Int(generator.next() % 120)
                // Mostly letters so that lines grow; some rounds have long lines only.
                pieces.append(
                    (0..<count).map { _ in
                        let pick = generator.next() % 16
                        return pick < 9 || round % 7 == 0 ? alphabet[Int(pick % 2)] : alphabet[Int(pick % 7)]
                    })
            }
            var length = 0
            var fits = true
            for piece in pieces where fits {
                fits = piece.withUnsafeBufferPointer { LineMeasure.fits($0, lineLength: &length, limit: limit) }
            }
            #expect(fits == Self.referenceFits(pieces, limit: limit), "round \(round)")
            let flat = pieces.flatMap { $0 }
            #expect(flat.withUnsafeBufferPointer { LineMeasure.hasEightBitByte($0) } == flat.contains { $0 >= 0x80 })
        }
    }

    @Test func eightBitBytesAreFoundAtEveryOffset() {
        for count in 0..<80 {
            for position in 0..<count {
                var bytes = [UInt8](repeating: 0x7F, count: count)
                bytes[position] = 0x80
                #expect(bytes.withUnsafeBufferPointer { LineMeasure.hasEightBitByte($0) })
                bytes[position] = 0x41
                #expect(!bytes.withUnsafeBufferPointer { LineMeasure.hasEightBitByte($0) })
            }
        }
    }

    @Test func normalizedAddressIsTheLowerCasedAddress() {
        for address in ["a@b.example", "A@B.example", "ÄÖ@example.org", "x@EXAMPLE.ORG", "", "é@e.example"] {
            #expect(Copy.normalize(address) == address.lowercased())
        }
    }
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
