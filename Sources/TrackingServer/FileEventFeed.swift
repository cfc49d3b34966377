import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The file journal read back for delivery (``EventFeed`` over the JSON-lines file
/// ``FileEventJournal`` writes). Positions are byte offsets into the journal file.
///
/// - Only whole lines are handed out: a last line without its line break (a write still going
///   on) waits for the next read. Empty lines are passed over; a line longer than
///   ``maximumLineBytes`` is skipped with a warning.
/// - Each consumer's committed position lives in a small state file next to the journal,
///   `<journal>.<consumer>.offset` (`OFFSET DEVICE INODE`), replaced atomically (temporary
///   file, `fsync`, `rename`, `fsync` of the directory), so a crash leaves the old or the new
///   position, never a torn one.
/// - Rotation by rename (`mv events.jsonl events.jsonl.1`; the endpoint looks the journal's
///   name up at every append, so it starts a new file at once): the feed keeps the old file open,
///   hands out its remaining lines, and once the old file stayed at its end for two reads in a
///   row it switches to the new file from its start. Rotated while the server was stopped (the
///   committed file is no longer the journal's): the new file is read from its start and the
///   old file's undelivered tail is not (logged as a warning).
/// - Truncated in place (`copytruncate`), a committed position beyond the end: read from the
///   start, with a warning; lines written between the last read and the truncation are not
///   delivered. Rotate by rename.
///
/// One delivery per journal and consumer: two processes committing for the same consumer would
/// overwrite each other's position.
public actor FileEventFeed: EventFeed {
    /// The journal file.
    public nonisolated let journalPath: String
    /// Lines longer than this are skipped (an event line is a few kilobytes).
    public static let maximumLineBytes = 1 << 20

    private let logger: Logger
    /// The open journal and which file it is.
    private var reader: (descriptor: Int32, file: FileIdentity)?
    /// The file the last committed position (read from the state file) refers to.
    private var committedFile: FileIdentity?
    /// The journal's name pointed to another file, and the old one was at its end once since.
    private var oldFileDrained = false
    /// The offset of the last over-long line warned about (warn once per line).
    private var warnedSkip: UInt64?

    /// A feed over the journal at `journalPath`.
    public init(journalPath: String, logger: Logger) {
        self.journalPath = journalPath
        self.logger = logger
    }

    deinit {
        if let reader { close(reader.descriptor) }
    }

    /// The state file holding `consumer`'s committed position: `<journal>.<consumer>.offset`.
    /// A consumer name is 1 to 64 of `A-Z a-z 0-9 _ -`.
    public nonisolated func statePath(consumer: String) throws(StoreError) -> String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".utf8)
        guard (1...64).contains(consumer.utf8.count), consumer.utf8.allSatisfy(allowed.contains) else {
            throw StoreError("consumer name '\(consumer)' must be 1 to 64 letters, digits, '_' or '-'")
        }
        return "\(journalPath).\(consumer).offset"
    }

    public func committedPosition(consumer: String) async throws -> UInt64? {
        let path = try statePath(consumer: consumer)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw StoreError("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { throw StoreError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
        let fields = String(decoding: bytes[..<count], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, let offset = UInt64(fields[0]), let device = UInt64(fields[1]),
            let inode = UInt64(fields[2])
        else { throw StoreError("'\(path)' is not 'OFFSET DEVICE INODE'") }
        committedFile = FileIdentity(device: device, inode: inode)
        return offset
    }

    public func commit(_ position: UInt64, consumer: String) async throws {
        let path = try statePath(consumer: consumer)
        let file = reader?.file ?? committedFile ?? FileIdentity(device: 0, inode: 0)
        try Self.replaceAtomically(path, with: Array("\(position) \(file.device) \(file.inode)\n".utf8))
        committedFile = file
    }

    public func read(after position: UInt64?, limit: Int) async throws -> [FeedEntry] {
        var start = position ?? 0
        let current = FileIdentity(path: journalPath)
        if reader == nil {
            guard current != nil else { return [] }  // no event written yet
            let descriptor = open(journalPath, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                if errno == ENOENT { return [] }
                throw StoreError("cannot open '\(journalPath)': \(String(cString: strerror(errno)))")
            }
            guard let file = FileIdentity(descriptor: descriptor) else {
                close(descriptor)
                throw StoreError("cannot stat '\(journalPath)'")
            }
            reader = (descriptor, file)
            if position != nil, let committedFile, committedFile != file, committedFile.inode != 0 {
                logger.warning(
                    "the journal is another file than at the last commit (rotated while stopped): delivering it from its start; undelivered lines of the old file are not sent",
                    metadata: ["journal": "\(journalPath)"])
                start = 0
            }
        }
        guard var active = reader else { return [] }
        if active.file != current {
            // Renamed away (rotation) or deleted: finish the old file first.
            let entries = try lines(active.descriptor, from: start, limit: limit)
            if !entries.isEmpty {
                oldFileDrained = false
                return entries
            }
            // At its end: wait one more read for a writer that opened the old name just before the
            // rename, then switch to the new file.
            guard oldFileDrained, current != nil else {
                oldFileDrained = true
                return []
            }
            let descriptor = open(journalPath, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0, let file = FileIdentity(descriptor: descriptor) else {
                if descriptor >= 0 { close(descriptor) }
                return []
            }
            close(active.descriptor)
            active = (descriptor, file)
            reader = active
            oldFileDrained = false
            start = 0
            logger.notice(
                "the journal was rotated: delivering the new file from its start",
                metadata: ["journal": "\(journalPath)"])
        }
        var status = stat()
        guard fstat(active.descriptor, &status) == 0 else { throw StoreError("cannot stat '\(journalPath)'") }
        if start > UInt64(status.st_size) {
            logger.warning(
                "the committed position is beyond the journal's end (truncated in place?): delivering it from its start",
                metadata: ["journal": "\(journalPath)", "position": "\(start)", "size": "\(status.st_size)"])
            start = 0
        }
        return try lines(active.descriptor, from: start, limit: limit)
    }

    /// Up to `limit` whole lines of the file from byte `start`.
    private func lines(_ descriptor: Int32, from start: UInt64, limit: Int) throws -> [FeedEntry] {
        var entries: [FeedEntry] = []
        var line: [UInt8] = []
        var lineStart = start
        var skipping = false
        var offset = start
        var chunk = [UInt8](repeating: 0, count: 65536)
        while entries.count < limit {
            let count = chunk.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw StoreError("cannot read '\(journalPath)': \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }  // the end: a partial last line waits
            var index = 0
            while index < count, entries.count < limit {
                guard let newline = chunk[index..<count].firstIndex(of: 0x0A) else {
                    if !skipping { line += chunk[index..<count] }
                    index = count
                    break
                }
                if !skipping { line += chunk[index..<newline] }
                let next = offset + UInt64(newline + 1)
                if skipping {
                    if warnedSkip != lineStart {
                        warnedSkip = lineStart
                        logger.warning(
                            "journal line over \(Self.maximumLineBytes) bytes skipped",
                            metadata: ["journal": "\(journalPath)", "offset": "\(lineStart)"])
                    }
                } else if !line.isEmpty {
                    entries.append(FeedEntry(line: String(decoding: line, as: UTF8.self), next: next))
                }
                line.removeAll(keepingCapacity: true)
                skipping = false
                lineStart = next
                index = newline + 1
            }
            offset += UInt64(index)
            if line.count > Self.maximumLineBytes {
                skipping = true
                line.removeAll()
            }
        }
        return entries
    }

    /// Writes `bytes` to `path` as a whole: temporary file, fsync, rename, fsync of the directory.
    static func replaceAtomically(_ path: String, with bytes: [UInt8]) throws(StoreError) {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw StoreError("cannot create '\(temporary)': \(String(cString: strerror(errno)))")
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes {
                write(descriptor, $0.baseAddress.map { $0 + written }, $0.count - written)
            }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                unlink(temporary)
                throw StoreError("cannot write '\(temporary)': \(reason)")
            }
            written += result
        }
        guard fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            unlink(temporary)
            throw StoreError("cannot sync '\(temporary)': \(reason)")
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw StoreError("cannot rename '\(temporary)' to '\(path)': \(reason)")
        }
        let directoryPath = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let directory = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }
}

/// Which file a path or descriptor is (device and inode), to notice a rotated journal.
struct FileIdentity: Sendable, Hashable {
    var device: UInt64
    var inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    init?(descriptor: Int32) {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }
}
