import Foundation
import LinkstampPipeline

/// Where `linkstamp bench` writes copies: a ring of memory larger than the last-level cache,
/// so every copy lands in bytes no copy has touched for a long while, as a relay's copies land
/// in socket buffers and spool files, not in one hot buffer. Each copy starts on the next cache
/// line after the previous one; a write that runs past the end continues at the start. The
/// memory is written once when the ring is made, so page faults never fall inside a clock.
///
/// The memcpy limit and stamping write through the same ring, one copy after another, so their
/// ratio compares like with like.
public struct CopyRing: CopySink {
    /// 128 MiB: four times the 32 MiB last-level cache of the benchmark machine.
    public static let defaultByteCount = 128 << 20
    /// Copies start on a cache-line boundary.
    static let alignment = 64

    private let memory: Memory
    /// Bytes in the ring.
    public let capacity: Int
    /// Where the next write goes.
    public private(set) var position = 0
    /// Every byte written since the ring was made.
    public private(set) var written = 0

    /// A ring of `byteCount` bytes (at least one cache line), all written once.
    public init(byteCount: Int = CopyRing.defaultByteCount) {
        capacity = max(Self.alignment, byteCount / Self.alignment * Self.alignment)
        memory = Memory(byteCount: capacity)
    }

    /// Starts a copy: the next cache line after the bytes written so far.
    public mutating func startCopy() {
        position = (position + Self.alignment - 1) & ~(Self.alignment - 1)
        if position >= capacity { position = 0 }
    }

    /// Appends bytes at the current position, wrapping to the start of the ring at its end.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard var from = bytes.baseAddress else { return }
        var count = bytes.count
        written += count
        let base = memory.base
        while count > capacity - position {
            let room = capacity - position
            memcpy(base + position, from, room)
            from += room
            count -= room
            position = 0
        }
        memcpy(base + position, from, count)
        position += count
    }

    /// The byte at `offset` of the ring (tests).
    public func byte(at offset: Int) -> UInt8 {
        memory.base.load(fromByteOffset: offset % capacity, as: UInt8.self)
    }

    /// The ring's memory, freed with the last ring that refers to it.
    private final class Memory {
        let base: UnsafeMutableRawPointer

        init(byteCount: Int) {
            base = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 4096)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        }

        deinit { base.deallocate() }
    }
}
