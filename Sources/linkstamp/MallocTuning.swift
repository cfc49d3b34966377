#if canImport(Glibc)
    import Glibc
#endif

/// glibc malloc's thresholds for a process that runs the engine on several threads.
///
/// By default glibc serves every allocation above 128 KiB (rising with use, up to 32 MiB) with
/// its own `mmap` and gives it back with `munmap`, and trims the heap's top as soon as 128 KiB
/// are free. A large message's buffers are then fresh pages every time (page faults), and in a
/// process with more than one thread each `munmap` or trim also interrupts the other cores to
/// flush their TLBs. With two threads on the HTML corpus that made every message cost 16 % more
/// CPU than on one. Raising both thresholds keeps those buffers in the heap for reuse; the
/// price is up to `trimThreshold` of freed memory kept by the process.
enum MallocTuning {
    /// Allocations below this come from the heap.
    static let mmapThreshold: Int32 = 64 << 20
    /// Free memory at the heap's top kept before it is given back.
    static let trimThreshold: Int32 = 128 << 20

    /// Sets both thresholds (glibc only; elsewhere, or without `mallopt`, nothing).
    static func apply() {
        #if canImport(Glibc)
            // <malloc.h> is not part of Swift's Glibc module: `mallopt` is looked up by name.
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            _ = mallopt(-3, mmapThreshold)  // M_MMAP_THRESHOLD
            _ = mallopt(-1, trimThreshold)  // M_TRIM_THRESHOLD
        #endif
    }
}
