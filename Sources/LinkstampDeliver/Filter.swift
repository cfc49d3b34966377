import Foundation
import LinkstampPipeline
import SMTPAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `linkstamp filter` does with one message, as a library call: prepare it, render every
/// copy to the chosen output, append the events. A refused message writes nothing anywhere.
public enum Filter {
    /// Where the copies go.
    public enum Output: Sendable, Hashable {
        /// A Batch SMTP stream written to a file descriptor (standard output for the filter).
        case batchSMTP(fileDescriptor: Int32)
        /// One `.eml` file per copy in a folder, plus `envelopes.jsonl`.
        case directory(String)
        /// Each copy handed to a sendmail-compatible command (`PATH -G -i -f SENDER -- RCPT`),
        /// the way Postfix's FILTER_README re-injects filtered mail.
        case sendmail(String)
        /// Every copy sent over SMTP to a server (`--relay HOST:PORT`): Postfix's private
        /// re-injection `smtpd`, like FILTER_README's "advanced content filter".
        case relay(SMTPReinjection.Target)
    }

    /// What was done, for the caller's log.
    public struct Summary: Sendable, Hashable {
        /// The message's transmission id.
        public var transmissionID: String
        /// Copies written.
        public var copies: Int
        /// Recipients left out by the suppression list.
        public var suppressed: Int
        /// Bytes of all copies together (before Batch SMTP framing).
        public var bytes: Int
    }

    /// Runs the filter on one message. Throws the SMTP reply for the relay: permanent replies
    /// (5xx) when the message is refused, temporary ones (4xx) when output could not be written.
    ///
    /// The order is fixed so that a failure leaves nothing behind that a retry would repeat:
    /// 1. check the sender and prepare the message (a refusal writes nothing);
    /// 2. open and check every output: the events file, the output folder, its staging folder
    ///    and `envelopes.jsonl`, the sendmail command;
    /// 3. stage every copy: render it to memory (Batch SMTP, sendmail, relay) or to a file in the
    ///    staging folder (`--out-dir`);
    /// 4. append the events (a failed append is truncated away), then publish the copies; when
    ///    publishing fails, the events appended in step 4 are truncated away again.
    public static func run(
        message: [UInt8], envelope: Envelope, engine: Engine, output: Output, eventsPath: String?, now: Date = Date()
    ) throws(SMTPReply) -> Summary {
        try checkSender(envelope.sender, limits: engine.limits)
        let transmission = try engine.prepare(message: message, envelope: envelope, now: now)
        return try run(transmission, output: output, eventsPath: eventsPath, eventSink: nil)
    }

    /// Steps 2 to 4 for a message already prepared (step 1: ``checkSender(_:limits:)``, then
    /// ``Engine/prepare(message:envelope:now:transmissionID:)`` or, with a suppression list kept
    /// elsewhere, ``Engine/begin(message:envelope:now:transmissionID:)`` and
    /// ``Engine/prepare(_:suppression:)``). `eventSink` receives the same event lines as the
    /// events file, at the same moment, and is rolled back with it when publishing fails.
    public static func run(
        _ transmission: Transmission, output: Output, eventsPath: String?, eventSink: (any FilterEventSink)?
    ) throws(SMTPReply) -> Summary {
        let envelope = transmission.envelope
        // 2. Open and check every output before anything is written.
        var eventsFile: AppendFile?
        if let eventsPath { eventsFile = try AppendFile(path: eventsPath, role: "events file") }
        defer { eventsFile?.close() }
        var folder: StagedFolder?
        switch output {
        case .batchSMTP(let descriptor):
            guard fcntl(descriptor, F_GETFL) >= 0 else {
                throw outputFailure("cannot write output: \(String(cString: strerror(errno)))")
            }
        case .directory(let path):
            folder = try StagedFolder(path: path, transmissionID: transmission.transmissionIDString)
            if let eventsFile, let envelopes = folder?.envelopes, eventsFile.isSameFile(as: envelopes) {
                folder?.discard()
                throw outputFailure("the events file cannot be the output folder's envelopes.jsonl")
            }
        case .sendmail(let command):
            guard access(command, X_OK) == 0 else {
                throw outputFailure("cannot run '\(command)': \(String(cString: strerror(errno)))")
            }
        case .relay:
            break
        }
        defer { folder?.discard() }

        // 3. Stage every copy.
        var events: [String] = []
        var total = 0
        var stream = Spool()
        defer { stream.close() }
        var framed: [UInt8] = []
        var rendered: [(Copy, [UInt8])] = []
        // The fields every event of the transmission shares, serialized once (not per copy).
        let eventWriter = eventsFile != nil || eventSink != nil ? Events.Writer(transmission) : nil
        var line: [UInt8] = []
        for copy in transmission.copies {
            let bytes = try transmission.renderedBytes(copy)
            total += bytes.count
            switch output {
            case .batchSMTP:
                framed.removeAll(keepingCapacity: true)
                framed += BatchSMTP.transactionHead(sender: envelope.sender, recipient: copy.address)
                BatchSMTP.appendData(bytes, to: &framed)
                try stream.append(framed)
            case .directory:
                try folder?.stage(bytes, copy: copy, transmission: transmission)
            case .sendmail, .relay:
                rendered.append((copy, bytes))
            }
            if let eventWriter {
                line.removeAll(keepingCapacity: true)
                eventWriter.appendInjection(copy, messageSize: bytes.count, to: &line)
                events.append(String(decoding: line, as: UTF8.self))
            }
        }
        if let eventWriter {
            for copy in transmission.suppressed {
                line.removeAll(keepingCapacity: true)
                eventWriter.appendPolicyRejection(copy, to: &line)
                events.append(String(decoding: line, as: UTF8.self))
            }
        }

        // 4. Events first (undone when publishing fails), then the copies.
        try eventsFile?.append(lines: events)
        do { try eventSink?.append(events) } catch {
            eventsFile?.rollBack()
            throw error
        }
        do {
            switch output {
            case .batchSMTP(let descriptor):
                try stream.append(BatchSMTP.quit)
                try stream.publish(to: descriptor)
            case .directory:
                try folder?.publish()
            case .sendmail(let command):
                for (copy, bytes) in rendered {
                    try reinject(bytes, sender: envelope.sender, recipient: copy.address, command: command)
                }
            case .relay(let target):
                try SMTPReinjection.send(
                    rendered.map { SMTPReinjection.Item(recipient: $0.0.address, bytes: $0.1) },
                    sender: envelope.sender, to: target)
            }
        } catch {
            eventsFile?.rollBack()
            eventSink?.rollBack()
            throw error
        }
        return Summary(
            transmissionID: transmission.transmissionIDString, copies: transmission.copies.count,
            suppressed: transmission.suppressed.count, bytes: total)
    }

    /// Refuses a sender (MAIL FROM reverse path) that is not an address: it goes verbatim into
    /// Batch SMTP commands, sendmail arguments and events, so CR, LF, spaces and the like must
    /// never get through. The null sender (empty) is allowed, for bounces.
    public static func checkSender(_ sender: String, limits: Limits) throws(SMTPReply) {
        if sender.isEmpty { return }
        guard sender.utf8.count <= limits.maxAddressBytes, EmailAddress.isValid(sender) else {
            throw SMTPReply(
                code: 553, enhancedStatus: "5.1.7", text: "bad sender address syntax '\(printable(sender))'")
        }
    }

    /// The text with control bytes written as `\xNN`, for a one-line reply.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Runs `command -G -i -f sender -- recipient` with the copy on its standard input. The child
    /// gets SIGPIPE back at its default action (the filter ignores it); a child that exits
    /// without reading its copy is a temporary failure, never a signal that kills the filter.
    static func reinject(_ message: [UInt8], sender: String, recipient: String, command: String) throws(SMTPReply) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw outputFailure("cannot make a pipe for '\(command)': \(String(cString: strerror(errno)))")
        }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        let pid: pid_t
        do {
            pid = try spawn(command, arguments: ["-G", "-i", "-f", sender, "--", recipient], standardInput: ends[0])
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[0])
        var writer = DescriptorWriter(descriptor: ends[1])
        var written: SMTPReply?
        do { try writer.write(message) } catch { written = error }
        close(ends[1])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw outputFailure("cannot wait for '\(command)': \(String(cString: strerror(errno)))")
            }
        }
        let exited = status & 0x7F == 0
        let code = (status >> 8) & 0xFF
        let how = exited ? "status \(code)" : "signal \(status & 0x7F)"
        if writer.failure == EPIPE {
            throw outputFailure(
                "sendmail '\(command)' closed its input before reading the copy for <\(recipient)> (\(how))")
        }
        if let written { throw written }
        guard exited, code == 0 else {
            throw outputFailure("'\(command)' failed with \(how) for <\(recipient)>")
        }
    }

    /// `posix_spawn` of `path` with `arguments`, `standardInput` as its fd 0, the filter's
    /// environment, and SIGPIPE at its default action.
    static func spawn(_ path: String, arguments: [String], standardInput: Int32) throws(SMTPReply) -> pid_t {
        #if canImport(Glibc)
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #else
            var actions: posix_spawn_file_actions_t?
            var attributes: posix_spawnattr_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw outputFailure("cannot run '\(path)': \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// One line of `envelopes.jsonl`.
    static func envelopeLine(_ transmission: Transmission, copy: Copy, file: String) -> String {
        JSONValue.object([
            JSONMember(key: "file", value: .string(file)),
            JSONMember(key: "mail_from", value: .string(transmission.envelope.sender)),
            JSONMember(key: "rcpt_to", value: .string(copy.address)),
            JSONMember(key: "rcpt_type", value: copy.rcptType.map { .string($0.rawValue) } ?? .null),
            JSONMember(key: "transmission_id", value: .string(transmission.transmissionIDString)),
            JSONMember(key: "message_id", value: .string(copy.messageID)),
            JSONMember(key: "ip_pool", value: transmission.options.ipPool.map { .string($0) } ?? .null),
            JSONMember(key: "sandbox", value: .bool(transmission.options.sandbox)),
        ]).serialized()
    }

    static func outputFailure(_ text: String) -> SMTPReply {
        SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "linkstamp \(text)")
    }
}

/// A second place for the filter's `injection` and `policy_rejection` events (a database table),
/// next to or instead of the events file: appended in step 4 before the copies are published,
/// taken back when publishing fails (``Filter/run(_:output:eventsPath:eventSink:)``).
public protocol FilterEventSink: AnyObject {
    /// Records the run's event lines durably, or throws the temporary reply (`451 4.3.0 …`);
    /// a failed append leaves nothing behind.
    func append(_ lines: [String]) throws(SMTPReply)
    /// Removes what `append` recorded (best effort: publishing failed and the run exits 75).
    func rollBack()
}

/// The Batch SMTP stream while it is staged: in memory up to `memoryLimit` bytes, then in an
/// unlinked temporary file (in `$TMPDIR`, else `/tmp`), so a large fan-out is not held in
/// memory whole. Nothing reaches the output before `publish`.
struct Spool {
    var memoryLimit = 16 << 20
    private(set) var buffer: [UInt8] = []
    private(set) var file: Int32 = -1

    mutating func append(_ bytes: [UInt8]) throws(SMTPReply) {
        buffer += bytes
        if buffer.count >= memoryLimit { try spill() }
    }

    /// Moves the buffered bytes to the temporary file.
    mutating func spill() throws(SMTPReply) {
        if file < 0 {
            let folder = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            var template = Array((folder + "/linkstamp-spool-XXXXXX").utf8CString)
            file = template.withUnsafeMutableBufferPointer { pointer in
                guard let base = pointer.baseAddress else { return -1 }
                let descriptor = mkstemp(base)
                if descriptor >= 0 { unlink(base) }
                return descriptor
            }
            guard file >= 0 else {
                throw Filter.outputFailure(
                    "cannot stage the Batch SMTP stream in '\(folder)': \(String(cString: strerror(errno)))")
            }
        }
        var writer = DescriptorWriter(descriptor: file)
        do { try writer.write(buffer) } catch {
            throw Filter.outputFailure(
                "cannot stage the Batch SMTP stream: \(String(cString: strerror(writer.failure ?? EIO)))")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes everything staged to `descriptor`.
    func publish(to descriptor: Int32) throws(SMTPReply) {
        var writer = DescriptorWriter(descriptor: descriptor)
        if file >= 0 {
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            var offset: off_t = 0
            while true {
                let file = self.file
                let (count, error) = chunk.withUnsafeMutableBytes { buffer -> (Int, Int32) in
                    let count = pread(file, buffer.baseAddress, buffer.count, offset)
                    return (count, count < 0 ? errno : 0)
                }
                if count < 0 {
                    if error == EINTR { continue }
                    throw Filter.outputFailure(
                        "cannot read the staged Batch SMTP stream: \(String(cString: strerror(error)))")
                }
                if count == 0 { break }
                try writer.write(count == chunk.count ? chunk : Array(chunk[0..<count]))
                offset += off_t(count)
            }
        }
        try writer.write(buffer)
    }

    mutating func close() {
        if file >= 0 { _ = systemClose(file) }
        file = -1
    }
}

/// The `--out-dir` folder: created if missing (its parent must exist), copies staged in a
/// private folder inside it, then renamed into place with their `envelopes.jsonl` lines.
struct StagedFolder {
    let path: String
    let staging: String
    var envelopes: AppendFile
    var names: [String] = []
    var lines: [String] = []
    var discarded = false

    init(path: String, transmissionID: String) throws(SMTPReply) {
        if mkdir(path, 0o755) != 0 {
            let reason = errno
            var information = stat()
            guard reason == EEXIST, stat(path, &information) == 0, information.st_mode & S_IFMT == S_IFDIR else {
                let hint = reason == ENOENT ? " (its parent folder must exist)" : ""
                throw Filter.outputFailure(
                    "cannot create output folder '\(path)': \(String(cString: strerror(reason)))\(hint)")
            }
        }
        self.path = path
        staging = path + "/.linkstamp-\(transmissionID).tmp"
        guard mkdir(staging, 0o700) == 0 else {
            throw Filter.outputFailure("cannot write in output folder '\(path)': \(String(cString: strerror(errno)))")
        }
        do { envelopes = try AppendFile(path: path + "/envelopes.jsonl", role: "envelopes file") } catch {
            rmdir(staging)
            throw error
        }
    }

    /// Writes one copy under the staging folder.
    mutating func stage(_ bytes: [UInt8], copy: Copy, transmission: Transmission) throws(SMTPReply) {
        let digits = max(4, String(transmission.copies.count).count)
        let number = String(copy.index + 1)
        let name =
            "\(transmission.transmissionIDString)-\(String(repeating: "0", count: max(0, digits - number.count)))\(number).eml"
        let descriptor = open(staging + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw Filter.outputFailure("cannot write '\(name)': \(String(cString: strerror(errno)))")
        }
        names.append(name)
        var writer = DescriptorWriter(descriptor: descriptor)
        do { try writer.write(bytes) } catch {
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else {
            throw Filter.outputFailure("cannot write '\(name)': \(String(cString: strerror(errno)))")
        }
        lines.append(Filter.envelopeLine(transmission, copy: copy, file: name))
    }

    /// Renames every staged copy into place, then appends their envelopes; on failure the
    /// copies placed so far are removed again.
    mutating func publish() throws(SMTPReply) {
        for (index, name) in names.enumerated() {
            guard rename(staging + "/" + name, path + "/" + name) == 0 else {
                let reason = String(cString: strerror(errno))
                for placed in names[..<index] { unlink(path + "/" + placed) }
                throw Filter.outputFailure("cannot move '\(name)' into place: \(reason)")
            }
        }
        do { try envelopes.append(lines: lines) } catch {
            for placed in names { unlink(path + "/" + placed) }
            throw error
        }
        names = []
    }

    /// Removes whatever is still staged and closes `envelopes.jsonl`.
    mutating func discard() {
        guard !discarded else { return }
        discarded = true
        for name in names { unlink(staging + "/" + name) }
        rmdir(staging)
        envelopes.close()
    }
}

/// A JSON-lines file opened for appending. `append` takes an exclusive lock (kept until
/// `close`, so concurrent filter processes never interleave lines and a later roll-back only
/// removes this process's own lines) and remembers the length before it wrote: a short or
/// failed write is truncated back to it, so every line in the file stays complete JSON.
struct AppendFile {
    let path: String
    let role: String
    private(set) var descriptor: Int32
    /// The file's length before this process's append, once it has appended.
    private(set) var start: off_t?
    /// Tests replace this to make writes fail part-way (the descriptor, the bytes, their count).
    var writeFunction: @Sendable (Int32, UnsafeRawPointer?, Int) -> Int = { descriptor, bytes, count in
        systemWrite(descriptor, bytes, count)
    }

    init(path: String, role: String) throws(SMTPReply) {
        self.path = path
        self.role = role
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw Filter.outputFailure("cannot open \(role) '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    /// Whether both are the same file (the same device and inode).
    func isSameFile(as other: AppendFile) -> Bool {
        var mine = stat()
        var theirs = stat()
        guard fstat(descriptor, &mine) == 0, fstat(other.descriptor, &theirs) == 0 else { return false }
        return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino
    }

    /// Appends the lines, each ending in LF, in one write under the lock.
    mutating func append(lines: [String]) throws(SMTPReply) {
        guard !lines.isEmpty, descriptor >= 0 else { return }
        if start == nil {
            while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
        }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            throw Filter.outputFailure("cannot append to \(role) '\(path)': \(String(cString: strerror(errno)))")
        }
        if start == nil { start = end }
        var writer = DescriptorWriter(descriptor: descriptor, writeFunction: writeFunction)
        do { try writer.write(Array((lines.joined(separator: "\n") + "\n").utf8)) } catch {
            _ = ftruncate(descriptor, end)
            throw Filter.outputFailure(
                "cannot append to \(role) '\(path)': \(String(cString: strerror(writer.failure ?? EIO)))")
        }
    }

    /// Removes every line this process appended.
    func rollBack() {
        guard let start, descriptor >= 0 else { return }
        _ = ftruncate(descriptor, start)
    }

    mutating func close() {
        guard descriptor >= 0 else { return }
        _ = systemClose(descriptor)
        descriptor = -1
    }
}

#if canImport(Glibc)
    private let systemWrite = Glibc.write
    private let systemClose = Glibc.close
#elseif canImport(Darwin)
    private let systemWrite = Darwin.write
    private let systemClose = Darwin.close
#endif

/// Writes whole buffers to a file descriptor, retrying short writes and EINTR.
struct DescriptorWriter {
    let descriptor: Int32
    /// The write function (`write(2)`; tests put a failing one here).
    var writeFunction: @Sendable (Int32, UnsafeRawPointer?, Int) -> Int = { descriptor, bytes, count in
        systemWrite(descriptor, bytes, count)
    }
    /// The `errno` of the write that failed, if one did.
    private(set) var failure: Int32?

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    init(descriptor: Int32, writeFunction: @escaping @Sendable (Int32, UnsafeRawPointer?, Int) -> Int) {
        self.descriptor = descriptor
        self.writeFunction = writeFunction
    }

    mutating func write(_ bytes: [UInt8]) throws(SMTPReply) {
        var offset = 0
        let write = writeFunction
        let descriptor = self.descriptor
        let failure: Int32? = bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                // write(2) never returns 0 for a non-empty buffer on a file or pipe; treat it
                // as a failure rather than loop forever.
                if written == 0 { return EIO }
                offset += written
            }
            return nil
        }
        if let failure {
            self.failure = failure
            throw Filter.outputFailure("cannot write output: \(String(cString: strerror(failure)))")
        }
    }
}
