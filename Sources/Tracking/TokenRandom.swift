#if canImport(Glibc)
    import Glibc
#endif

/// The random bits of token nonces.
enum TokenRandom {
    /// Fills `buffer` from the system's cryptographically secure generator: on Linux one
    /// `getentropy` call (one `getrandom` system call) for the whole nonce, where the standard
    /// library's generator makes one per 8 bytes.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
            // At most 256 bytes per call; a nonce is 16.
            if let base = buffer.baseAddress, buffer.count <= 256, getentropy(base, buffer.count) == 0 { return }
        #endif
        var generator = SystemRandomNumberGenerator()
        for index in 0..<buffer.count { buffer[index] = generator.next() }
    }
}
