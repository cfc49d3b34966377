#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension KeyRing {
    /// Reads and parses a key ring file.
    public init(contentsOf path: String) throws(TrackingError) {
        try self.init(contentsOf: path, limits: .default)
    }

    /// Reads and parses a key ring file, with explicit limits.
    public init(contentsOf path: String, limits: TrackingLimits) throws(TrackingError) {
        guard let bytes = try KeyRingFile.readFile(path, limit: limits.maxKeyRingFileBytes) else {
            throw .keyRingIO("read", path: path, reason: KeyRingFile.describe(ENOENT))
        }
        do {
            try self.init(parsing: bytes, limits: limits)
        } catch let error where error == .emptyKeyRing {
            throw .keyRingIO("use", path: path, reason: "the file holds no key")
        }
    }

    /// Writes the ring atomically: a temporary file (mode 0600) in the same directory is written,
    /// flushed to disk, then renamed over `path`. Readers see the old file or the new one.
    /// The directory must exist (``loadOrCreate(at:)`` creates missing ones).
    public func write(to path: String) throws(TrackingError) {
        let temp = try KeyRingFile.writeTemporary(Array(serialized().utf8), beside: path)
        guard rename(temp, path) == 0 else {
            let code = errno
            _ = unlink(temp)
            throw .keyRingIO("write", path: path, reason: KeyRingFile.describe(code))
        }
        KeyRingFile.syncDirectory(of: path)
    }

    /// Load, or create (with parent dirs 0700) when the file does not exist.
    ///
    /// Creation is exclusive: the new file is linked into place only if no other process created
    /// it first; if one did, its keys are loaded instead, so concurrent first runs agree.
    /// An existing file that cannot be read or parsed is an error, never replaced.
    public static func loadOrCreate(at path: String) throws(TrackingError) -> KeyRing {
        if let bytes = try KeyRingFile.readFile(path, limit: TrackingLimits.default.maxKeyRingFileBytes) {
            return try Self.parsingFile(bytes, path: path)
        }
        let ring = KeyRing.generate()
        if try KeyRingFile.createExclusively(Array(ring.serialized().utf8), at: path) {
            return ring
        }
        return try KeyRing(contentsOf: path)
    }

    /// Writes the ring to a new file (mode 0600, missing parent directories created 0700).
    /// Refuses when a file already exists at `path`, so a ring is never replaced by accident
    /// (replacing one orphans every URL its keys sealed).
    public func create(at path: String) throws(TrackingError) {
        guard try KeyRingFile.createExclusively(Array(serialized().utf8), at: path) else {
            throw .keyRingIO("create", path: path, reason: "a file already exists there")
        }
    }

    /// Rotation on disk: loads the ring at `path`, appends a fresh active key
    /// (``rotated()``), writes it back atomically and returns it. Old keys keep decoding.
    public static func rotate(at path: String) throws(TrackingError) -> KeyRing {
        let ring = try KeyRing(contentsOf: path).rotated()
        try ring.write(to: path)
        return ring
    }

    private static func parsingFile(_ bytes: [UInt8], path: String) throws(TrackingError) -> KeyRing {
        do {
            return try KeyRing(parsing: bytes)
        } catch let error where error == .emptyKeyRing {
            throw .keyRingIO("use", path: path, reason: "the file holds no key")
        }
    }
}

/// The POSIX calls behind the key ring file: reading with a size limit, owner-only temporary
/// files, parent directories created 0700.
enum KeyRingFile {
    static func describe(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "error \(code)" }
        return String(cString: message)
    }

    /// The file's bytes, or nil when it does not exist.
    static func readFile(_ path: String, limit: Int) throws(TrackingError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw .keyRingIO("read", path: path, reason: describe(code))
        }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .keyRingIO("read", path: path, reason: describe(errno))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit {
                throw .keyRingIO("read", path: path, reason: "file is larger than \(limit) bytes")
            }
        }
        return bytes
    }

    /// Writes `bytes` to a new owner-only (0600) file in the directory of `path`, flushed to
    /// disk, and returns its path. The caller renames or links it into place.
    static func writeTemporary(_ bytes: [UInt8], beside path: String) throws(TrackingError) -> String {
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next() as UInt64, radix: 36)
        let temp = "\(path).tmp-\(getpid())-\(suffix)"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .keyRingIO("write", path: path, reason: describe(errno)) }
        var failure: Int32 = 0
        // The umask cannot widen permissions, but be explicit in case the file system ignores it.
        if fchmod(fd, 0o600) != 0 { failure = errno }
        var written = 0
        while failure == 0 && written < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress.map { $0 + written }, buffer.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
            } else {
                written += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure != 0 {
            _ = unlink(temp)
            throw .keyRingIO("write", path: path, reason: describe(failure))
        }
        return temp
    }

    /// Puts `bytes` at `path` unless a file is already there (then returns false): parent
    /// directories are created 0700, a 0600 temporary file is written and hard-linked into
    /// place, which fails atomically when the name is taken.
    static func createExclusively(_ bytes: [UInt8], at path: String) throws(TrackingError) -> Bool {
        try makeParentDirectories(of: path)
        let temp = try writeTemporary(bytes, beside: path)
        defer { _ = unlink(temp) }
        if link(temp, path) == 0 {
            syncDirectory(of: path)
            return true
        }
        let code = errno
        if code == EEXIST { return false }
        // File systems without hard links: a rename, exclusive only up to this check.
        guard code == EPERM || code == ENOTSUP || code == EOPNOTSUPP || code == ENOSYS else {
            throw .keyRingIO("create", path: path, reason: describe(code))
        }
        if access(path, F_OK) == 0 { return false }
        guard rename(temp, path) == 0 else { throw .keyRingIO("create", path: path, reason: describe(errno)) }
        syncDirectory(of: path)
        return true
    }

    /// Best effort: make the rename durable.
    static func syncDirectory(of path: String) {
        let fd = open(parent(of: path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = close(fd)
    }

    /// The directory part of `path` ("." when there is none).
    static func parent(of path: String) -> String {
        let bytes = Array(path.utf8)
        var end = bytes.count
        while end > 1 && bytes[end - 1] == UInt8(ascii: "/") { end -= 1 }
        guard let slash = bytes[0..<end].lastIndex(of: UInt8(ascii: "/")) else { return "." }
        if slash == 0 { return "/" }
        return String(decoding: bytes[0..<slash], as: UTF8.self)
    }

    /// Creates every missing directory above `path` with mode 0700; existing ones are untouched.
    static func makeParentDirectories(of path: String) throws(TrackingError) {
        let directory = parent(of: path)
        let bytes = Array(directory.utf8)
        // Walk prefixes ending at each "/" and at the end, creating missing ones in order.
        var ends: [Int] = []
        for i in 1..<max(bytes.count, 1) where bytes[i] == UInt8(ascii: "/") && bytes[i - 1] != UInt8(ascii: "/") {
            ends.append(i)
        }
        ends.append(bytes.count)
        for end in ends where end > 0 {
            let prefix = String(decoding: bytes[0..<end], as: UTF8.self)
            if mkdir(prefix, 0o700) == 0 {
                _ = chmod(prefix, 0o700)
                continue
            }
            let code = errno
            guard code == EEXIST else {
                throw .keyRingIO("create directory for", path: path, reason: "\(prefix): \(describe(code))")
            }
            var info = stat()
            guard stat(prefix, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw .keyRingIO("create directory for", path: path, reason: "\(prefix) is not a directory")
            }
        }
    }
}
