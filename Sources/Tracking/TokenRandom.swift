import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The random bits of token nonces.
enum TokenRandom {
    /// Fills `buffer` from the system's cryptographically secure generator. On Linux, buffers of
    /// up to 64 bytes (a nonce is 16) are served from a pool that one `getentropy` call (one
    /// `getrandom` system call) fills with 256 bytes: 16 nonces per system call where there was
    /// one each (issue 12: 18 calls per 10-recipient message in the SMTP door). Every byte is
    /// handed out once and then zeroed in the pool; a forked child refills before its first
    /// nonce (`pthread_atfork`), so parent and child never share one. Larger buffers, and any
    /// failure, take the direct path: one `getentropy`, or the standard library's generator.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
            if buffer.count <= 64, forkHandlerRegistered, pool.withLock({ $0.take(into: buffer) }) { return }
            // At most 256 bytes per call.
            if let base = buffer.baseAddress, buffer.count <= 256, getentropy(base, buffer.count) == 0 { return }
        #endif
        var generator = SystemRandomNumberGenerator()
        for index in 0..<buffer.count { buffer[index] = generator.next() }
    }

    #if canImport(Glibc)
        /// Random bytes not yet handed out: `bytes[next...]`, drawn in fork generation
        /// `generation`.
        struct Pool {
            static let capacity = 256
            var bytes = [UInt8](repeating: 0, count: capacity)
            var next = capacity
            var generation: UInt64 = 0
            /// How many times the pool was filled (tests).
            var fills = 0

            /// Copies the next `out.count` bytes to `out` and zeroes them here, refilling first
            /// when too few are left or the process forked since the last fill. `false`: the
            /// system gave no random bytes (nothing was written).
            mutating func take(into out: UnsafeMutableRawBufferPointer) -> Bool {
                let current = TokenRandom.forkGeneration.load(ordering: .acquiring)
                if current != generation || Pool.capacity - next < out.count {
                    let filled = bytes.withUnsafeMutableBytes { raw -> Bool in
                        guard let base = raw.baseAddress else { return false }
                        return getentropy(base, raw.count) == 0
                    }
                    guard filled else {
                        next = Pool.capacity
                        return false
                    }
                    next = 0
                    generation = current
                    fills += 1
                }
                let range = next..<(next + out.count)
                bytes.withUnsafeMutableBytes { raw in
                    out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[range]))
                    UnsafeMutableRawBufferPointer(rebasing: raw[range]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                next += out.count
                return true
            }
        }

        static let pool = Mutex(Pool())
        /// Bumped in a forked child (`pthread_atfork`): the pool's bytes are the parent's.
        static let forkGeneration = Atomic<UInt64>(0)
        static let forkHandlerRegistered: Bool =
            pthread_atfork(nil, nil, { _ = TokenRandom.forkGeneration.add(1, ordering: .releasing) }) == 0
    #endif
}
