import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where engagement events go: one JSON object per line, each written whole before the HTTP
/// response is sent. The file journal is the default; PostgreSQL (`database_url`) implements the
/// same. A synchronous implementation satisfies the requirement too.
public protocol EventJournal: Sendable {
    /// Appends `lines` (each one JSON object, no line break) as whole lines, or throws.
    func append(_ lines: [String]) async throws(StoreError)
}

/// Addresses unsubscribed through the endpoint, read by `linkstamp filter`.
public protocol SuppressionStore: Sendable {
    /// Records `address` as suppressed for non-transactional mail; `source` says why (the event
    /// type: `list_unsubscribe`, `link_unsubscribe`).
    func suppress(_ address: String, source: String) async throws(StoreError)
}

/// A journal or suppression store that could not record.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed.
    public var description: String
    /// An error with its text.
    public init(_ description: String) { self.description = description }
}

/// Appends whole lines to a file: `O_APPEND`, an exclusive `flock` around each write (so
/// concurrent writers and the filter never interleave, and a filter's roll-back, which truncates
/// back to where its own lines began, never removes ours), and on a short or failed write the
/// file is truncated back to where it was, so no half line is ever left behind. A half line left
/// by a writer that was killed mid-write is ended with a line break before the next append.
///
/// The descriptor stays open between appends (an `open`/`close` per event was the largest cost
/// of the endpoint's journal). Each append still looks the path up (`stat`, under the lock): when
/// the name points to another file (rotated by `mv`, or deleted) the descriptor is closed and the
/// name opened again, so a rotation is noticed at the first append after it, as when every append
/// opened the file. The last byte is read back only when the file's length is not the one this
/// writer left (someone else wrote, truncated or replaced it since).
public struct LineFile: Sendable {
    /// The file's path.
    public let path: String
    private let handle = Handle()

    /// A line file at `path` (created on first write, mode 0640).
    public init(path: String) { self.path = path }

    /// Writes `text` (which must end with a line break) as one unit.
    public func append(_ text: [UInt8]) throws(StoreError) {
        guard !text.isEmpty else { return }
        let path = self.path
        try handle.state.withLock { (state: inout Handle.State) throws(StoreError) in
            try state.append(text, path: path)
        }
    }

    /// The open descriptor, shared by every copy of the `LineFile` (one lock around all appends of
    /// this process: `flock` does not exclude threads sharing one descriptor).
    final class Handle: Sendable {
        struct State {
            var descriptor: Int32 = -1
            var device: UInt64 = 0
            var inode: UInt64 = 0
            /// The file's length after this writer's last append; -1 when unknown.
            var end: Int64 = -1

            mutating func closeFile() {
                if descriptor >= 0 { _ = close(descriptor) }
                descriptor = -1
                end = -1
            }

            mutating func openFile(_ path: String) throws(StoreError) {
                closeFile()
                let opened = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
                guard opened >= 0 else {
                    throw StoreError("cannot open '\(path)': \(String(cString: strerror(errno)))")
                }
                var status = stat()
                guard fstat(opened, &status) == 0 else {
                    _ = close(opened)
                    throw StoreError("cannot stat '\(path)'")
                }
                descriptor = opened
                device = UInt64(status.st_dev)
                inode = UInt64(status.st_ino)
            }

            /// Locks the open file, making sure it is still the one `path` names; returns its length.
            mutating func lock(_ path: String) throws(StoreError) -> Int64 {
                if descriptor < 0 { try openFile(path) }
                var reopened = false
                while true {
                    while flock(descriptor, LOCK_EX) != 0 {
                        guard errno == EINTR else {
                            let reason = String(cString: strerror(errno))
                            closeFile()
                            throw StoreError("cannot lock '\(path)': \(reason)")
                        }
                    }
                    var status = stat()
                    if stat(path, &status) == 0, UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode {
                        return Int64(status.st_size)
                    }
                    // Renamed away or deleted: the name's file from now on (once; a second miss
                    // means the name keeps changing: write where the descriptor points, as an
                    // append that opened the name just before a rename would).
                    if reopened {
                        guard fstat(descriptor, &status) == 0 else {
                            closeFile()
                            throw StoreError("cannot stat '\(path)'")
                        }
                        return Int64(status.st_size)
                    }
                    try openFile(path)
                    reopened = true
                }
            }

            mutating func append(_ text: [UInt8], path: String) throws(StoreError) {
                let start = try lock(path)
                defer { if descriptor >= 0 { _ = flock(descriptor, LOCK_UN) } }
                // A writer killed in the middle of a line (kill -9, power loss) left it without its
                // line break: end it here, so the lines written from now on stay whole (a reader
                // skips the broken one) instead of being glued to it. Our own last append ended
                // with one: only a length we did not leave needs the look.
                var lead = false
                if start > 0, start != end {
                    var last: UInt8 = 0x0A
                    if pread(descriptor, &last, 1, off_t(start - 1)) == 1, last != 0x0A { lead = true }
                }
                var written = 0
                if let failure = Self.writeAll(descriptor, lead ? [0x0A] + text : text, &written) {
                    // Never leave part of a line: the reader of the journal sees whole lines or
                    // nothing.
                    _ = ftruncate(descriptor, off_t(start))
                    end = -1
                    throw StoreError("cannot write '\(path)': \(failure)")
                }
                end = start + Int64(written)
            }

            /// Writes all of `bytes`, adding to `written`; the reason when it cannot.
            private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], _ written: inout Int) -> String? {
                var offset = 0
                let failure: String? = bytes.withUnsafeBytes { buffer in
                    while offset < buffer.count {
                        let result = write(
                            descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                        if result < 0 {
                            if errno == EINTR { continue }
                            return String(cString: strerror(errno))
                        }
                        if result == 0 { return "short write" }
                        offset += result
                    }
                    return nil
                }
                written += offset
                return failure
            }
        }

        let state = Mutex(State())

        deinit { state.withLock { $0.closeFile() } }
    }
}

/// The default journal: a JSON-lines file.
public struct FileEventJournal: EventJournal {
    let file: LineFile
    /// A journal at `path`.
    public init(path: String) { file = LineFile(path: path) }
    public func append(_ lines: [String]) throws(StoreError) {
        guard !lines.isEmpty else { return }
        var bytes: [UInt8] = []
        for line in lines {
            bytes.append(contentsOf: line.utf8)
            bytes.append(0x0A)
        }
        try file.append(bytes)
    }
}

/// The default suppression store: the filter's own suppression list file, one
/// `address non_transactional` line per unsubscribe.
public struct FileSuppressionStore: SuppressionStore {
    let file: LineFile
    /// A store appending to the suppression list at `path`.
    public init(path: String) { file = LineFile(path: path) }
    public func suppress(_ address: String, source: String) throws(StoreError) {
        // The list is whitespace-separated with `#` comments: an address that could break a line
        // apart is refused rather than written.
        guard !address.isEmpty,
            !address.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "#") })
        else { throw StoreError("address cannot be written to the suppression list") }
        try file.append(Array("\(address.lowercased()) non_transactional\n".utf8))
    }
}

/// A journal kept in memory (tests and embedding).
public final class MemoryEventJournal: EventJournal {
    private let stored = Mutex<[String]>([])
    /// An empty journal.
    public init() {}
    public func append(_ lines: [String]) throws(StoreError) {
        stored.withLock { $0 += lines }
    }
    /// Every line appended so far.
    public var lines: [String] { stored.withLock { $0 } }
}
