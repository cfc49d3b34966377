/// Tests on eight bytes at once (one `UInt64` loaded from anywhere), for scans that look for the
/// rare byte in long runs of ordinary ones (a URL's characters, a header value, a JSON string).
/// Each test says exactly whether *some* byte of the word matches, not which one: a scan that
/// gets `true` looks at those eight bytes one at a time.
public enum ByteWord {
    /// The eight bytes at `offset` of `base`.
    @inlinable
    public static func load(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    }

    /// Some byte of `word` is below `limit` (`limit` at most 0x80).
    @inlinable
    public static func hasByte(below limit: UInt8, in word: UInt64) -> Bool {
        ((word &- 0x0101_0101_0101_0101 &* UInt64(limit)) & ~word & 0x8080_8080_8080_8080) != 0
    }

    /// Some byte of `word` is `byte`.
    @inlinable
    public static func hasByte(_ byte: UInt8, in word: UInt64) -> Bool {
        hasByte(below: 1, in: word ^ (0x0101_0101_0101_0101 &* UInt64(byte)))
    }

    /// Some byte of `word` is 0x80 or above.
    @inlinable
    public static func hasHighByte(_ word: UInt64) -> Bool { word & 0x8080_8080_8080_8080 != 0 }

    /// Some byte of `word` is not visible ASCII (0x21...0x7E): a space, a control byte, DEL or
    /// above.
    @inlinable
    public static func hasNonVisible(_ word: UInt64) -> Bool {
        hasByte(below: 0x21, in: word) || hasHighByte(word) || hasByte(0x7F, in: word)
    }

    /// Skips whole eight-byte words from `start` while `plain` says a word holds none of the
    /// bytes the caller looks for; returns where to go on one byte at a time (the first word that
    /// may hold one, or the tail shorter than a word before `end`).
    @inlinable
    public static func skip(_ base: UnsafeRawPointer, from start: Int, to end: Int, while plain: (UInt64) -> Bool)
        -> Int
    {
        var index = start
        while index + 8 <= end, plain(load(base, index)) { index += 8 }
        return index
    }
}
