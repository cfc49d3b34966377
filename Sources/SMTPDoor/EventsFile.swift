import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The events file, its descriptor kept open from one message to the next.
///
/// Each append is one `write` of whole lines on an `O_APPEND` descriptor under an exclusive
/// `flock`, as the filter's, so the door and filter processes can share one events file. The
/// path is looked up again (`stat`) before an append when `recheckInterval` (0.5 s) has passed
/// since the last look: when it no longer names the open file (rotated away, or deleted) the
/// file is opened anew, created if need be. So after a rotation, lines go to the rotated file for
/// at most that interval, then to the new one (one `stat` per message was 1 % of the door's CPU
/// with one recipient, issue 12).
final class EventsFile: Sendable {
    let path: String
    /// Nanoseconds (monotonic clock) between two looks at the path.
    let recheckInterval: UInt64
    /// The open descriptor (-1: none), the device and inode it was opened as, and when the path
    /// was last looked at (monotonic nanoseconds).
    let state = Mutex<(descriptor: Int32, device: UInt64, inode: UInt64, checked: UInt64)>((-1, 0, 0, 0))

    init(path: String, recheckInterval: UInt64 = 500_000_000) {
        self.path = path
        self.recheckInterval = recheckInterval
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    deinit {
        state.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
    }

    /// Appends `bytes` (whole lines). Returns what went wrong, if anything.
    func append(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return nil }
        return state.withLock { file -> String? in
            let now = EventsFile.monotonicNanoseconds()
            var current = file.descriptor >= 0 && now &- file.checked < recheckInterval
            if !current {
                var named = stat()
                current =
                    stat(path, &named) == 0 && UInt64(named.st_dev) == file.device
                    && UInt64(named.st_ino) == file.inode
                file.checked = now
            }
            if !current || file.descriptor < 0 {
                if file.descriptor >= 0 { close(file.descriptor) }
                file = (-1, 0, 0, now)
                let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
                guard descriptor >= 0 else { return "cannot open '\(path)': \(String(cString: strerror(errno)))" }
                var opened = stat()
                guard fstat(descriptor, &opened) == 0 else {
                    let problem = "cannot stat '\(path)': \(String(cString: strerror(errno)))"
                    close(descriptor)
                    return problem
                }
                file = (descriptor, UInt64(opened.st_dev), UInt64(opened.st_ino), now)
            }
            let descriptor = file.descriptor
            _ = flock(descriptor, LOCK_EX)
            defer { _ = flock(descriptor, LOCK_UN) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return "cannot write '\(path)': \(String(cString: strerror(errno)))"
                }
                offset += written
            }
            return nil
        }
    }
}
