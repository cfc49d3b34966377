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
/// concurrent writers and the filter never interleave), and on a short or failed write the file
/// is truncated back to where it was, so no half line is ever left behind. A half line left by
/// a writer that was killed mid-write is ended with a line break before the next append.
public struct LineFile: Sendable {
    /// The file's path.
    public let path: String

    /// A line file at `path` (created on first write, mode 0640).
    public init(path: String) { self.path = path }

    /// Writes `text` (which must end with a line break) as one unit.
    public func append(_ text: [UInt8]) throws(StoreError) {
        guard !text.isEmpty else { return }
        let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw StoreError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else {
            throw StoreError("cannot lock '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { _ = flock(descriptor, LOCK_UN) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw StoreError("cannot stat '\(path)'") }
        let start = status.st_size
        var text = text
        // A writer killed in the middle of a line (kill -9, power loss) left it without its line
        // break: end it here, so the lines written from now on stay whole (a reader skips the
        // broken one) instead of being glued to it.
        var last: UInt8 = 0x0A
        if start > 0, pread(descriptor, &last, 1, start - 1) == 1, last != 0x0A { text.insert(0x0A, at: 0) }
        var written = 0
        var failure: String?
        text.withUnsafeBytes { buffer in
            while written < buffer.count {
                let result = write(descriptor, buffer.baseAddress.map { $0 + written }, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                if result == 0 {
                    failure = "short write"
                    return
                }
                written += result
            }
        }
        if let failure {
            // Never leave part of a line: the reader of the journal sees whole lines or nothing.
            _ = ftruncate(descriptor, start)
            throw StoreError("cannot write '\(path)': \(failure)")
        }
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
