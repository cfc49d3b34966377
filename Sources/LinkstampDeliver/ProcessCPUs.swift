#if canImport(Glibc)
    import Glibc
#endif

/// The CPUs this process may run on, for servers that size their event-loop groups: NIO's own
/// count (`System.coreCount`) follows a cgroup's CPU quota but not the affinity mask, so a server
/// pinned to one CPU (`taskset -c 0`, systemd's `CPUAffinity=`) ran a loop per online CPU, the
/// loops taking turns on the one.
public enum ProcessCPUs {
    /// The CPUs in the calling thread's affinity mask (`sched_getaffinity`); nil where that cannot
    /// be read (not Linux).
    public static func allowed() -> Int? {
        #if os(Linux)
            // glibc declares sched_getaffinity only with _GNU_SOURCE, which Swift's Glibc module
            // is not built with: look it up.
            typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
            guard let symbol = dlsym(nil, "sched_getaffinity") else { return nil }
            let getAffinity = unsafeBitCast(symbol, to: GetAffinity.self)
            var mask = [UInt64](repeating: 0, count: 16)  // cpu_set_t: 1024 CPUs
            let status = mask.withUnsafeMutableBytes { getAffinity(0, $0.count, $0.baseAddress) }
            guard status == 0 else { return nil }
            let allowed = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            return allowed > 0 ? allowed : nil
        #else
            return nil
        #endif
    }

    /// Event-loop threads for a server: the allowed CPUs, at most `cores` (NIO's count), at least 1.
    public static func usable(cores: Int) -> Int {
        max(1, min(allowed() ?? cores, cores))
    }
}
