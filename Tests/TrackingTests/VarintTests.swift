import TestSupport
import Testing

@testable import Tracking

@Suite struct VarintTests {
    @Test func varints() {
        var generator = SeededGenerator(seed: 9)
        var values: [UInt64] = [0, 1, 127, 128, 16_383, 16_384, UInt64.max, UInt64.max - 1, 1 << 63]
        for _ in 0..<200 { values.append(generator.next() >> (generator.next() % 64)) }
        var bytes: [UInt8] = []
        for value in values { Varint.append(value, to: &bytes) }
        var reader = ByteReader(bytes)
        for value in values { #expect(reader.readVarint() == value) }
        #expect(reader.remaining == 0)
        #expect(reader.readVarint() == nil)
        // 11 bytes, or a 10th byte above 1, overflow 64 bits.
        var overlong = ByteReader([UInt8](repeating: 0xFF, count: 10) + [0x01])
        #expect(overlong.readVarint() == nil)
        var tooBig = ByteReader([UInt8](repeating: 0xFF, count: 9) + [0x02])
        #expect(tooBig.readVarint() == nil)
        for value: Int64 in [0, -1, 1, Int64.max, Int64.min, 1_826_532_400] {
            #expect(Varint.unzigzag(Varint.zigzag(value)) == value)
        }
        #expect(Varint.zigzag(-1) == 1)
        #expect(Varint.zigzag(1) == 2)
    }
}
