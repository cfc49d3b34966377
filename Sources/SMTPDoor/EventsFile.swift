import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The events file, its descriptor kept open from one message to the next.
///
/// Each append is one `write` of whole lines on an `O_APPEND` descriptor under an exclusive
/// `flock`, as the filter's, so the door and filter processes can share one events file. Before
/// each append the path is looked up again (`stat`): when it no longer names the open file
/// (rotated away, or deleted) the file is opened anew, created if need be, so lines never go to
/// a rotated file once the new one is in place — as when the file was opened for every message.
final class EventsFile: Sendable {
    let path: String
    /// The open descriptor (-1: none) and the device and inode it was opened as.
    let state = Mutex<(descriptor: Int32, device: UInt64, inode: UInt64)>((-1, 0, 0))

    init(path: String) {
        self.path = path
    }

    deinit {
        state.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
    }

    /// Appends `bytes` (whole lines). Returns what went wrong, if anything.
    func append(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return nil }
        return state.withLock { file -> String? in
            var named = stat()
            let current =
                stat(path, &named) == 0 && UInt64(named.st_dev) == file.device && UInt64(named.st_ino) == file.inode
            if !current || file.descriptor < 0 {
                if file.descriptor >= 0 { close(file.descriptor) }
                file = (-1, 0, 0)
                let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
                guard descriptor >= 0 else { return "cannot open '\(path)': \(String(cString: strerror(errno)))" }
                var opened = stat()
                guard fstat(descriptor, &opened) == 0 else {
                    let problem = "cannot stat '\(path)': \(String(cString: strerror(errno)))"
                    close(descriptor)
                    return problem
                }
                file = (descriptor, UInt64(opened.st_dev), UInt64(opened.st_ino))
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
