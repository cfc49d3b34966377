import Testing

@testable import Linkstamp

/// The bench's destination ring: each copy starts on a fresh cache line, and a write that runs
/// past the end goes on at the start, byte for byte.
@Suite struct CopyRingTests {
    @Test func copiesStartOnTheNextCacheLine() {
        var ring = CopyRing(byteCount: 4096)
        ring.startCopy()
        #expect(ring.position == 0)
        [UInt8](repeating: 1, count: 10).withUnsafeBytes { ring.write($0) }
        #expect(ring.position == 10)
        ring.startCopy()
        #expect(ring.position == 64)
        [UInt8](repeating: 2, count: 64).withUnsafeBytes { ring.write($0) }
        ring.startCopy()
        #expect(ring.position == 128)
        #expect(ring.written == 74)
        #expect(ring.byte(at: 9) == 1)
        #expect(ring.byte(at: 10) == 0)
        #expect(ring.byte(at: 64) == 2)
    }

    @Test func aWritePastTheEndWrapsToTheStart() {
        var ring = CopyRing(byteCount: 256)
        #expect(ring.capacity == 256)
        [UInt8](repeating: 0, count: 200).withUnsafeBytes { ring.write($0) }
        ring.startCopy()
        // 200 rounds up to 256, the end of the ring: the next copy starts at 0.
        #expect(ring.position == 0)
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        bytes.withUnsafeBytes { ring.write($0) }
        // 300 bytes from 0 of a 256-byte ring: the last 44 overwrite the start.
        #expect(ring.position == 44)
        #expect(ring.written == 500)
        #expect(ring.byte(at: 0) == UInt8(truncatingIfNeeded: 256))
        #expect(ring.byte(at: 43) == UInt8(truncatingIfNeeded: 299))
        #expect(ring.byte(at: 44) == 44)
        #expect(ring.byte(at: 255) == 255)
    }

    @Test func theDefaultRingIsLargerThanTheLastLevelCache() {
        #expect(CopyRing.defaultByteCount >= 64 << 20)
    }
}
