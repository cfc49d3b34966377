/// TestSupport owns what every test target shares and no product needs: today, the one seeded
/// random-number generator the fuzz-style tests draw from, so a failing case replays exactly.

/// SplitMix64 (Steele, Lea and Flood, 2014): small, seeded, reproducible across runs and machines.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
