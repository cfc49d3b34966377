import Foundation
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
    public static func run(
        message: [UInt8], envelope: Envelope, engine: Engine, output: Output, eventsPath: String?, now: Date = Date()
    ) throws(SMTPReply) -> Summary {
        let transmission = try engine.prepare(message: message, envelope: envelope, now: now)
        var events: [String] = []
        var total = 0
        switch output {
        case .batchSMTP(let descriptor):
            var writer = DescriptorWriter(descriptor: descriptor)
            var copyBytes: [UInt8] = []
            var framed: [UInt8] = []
            for copy in transmission.copies {
                copyBytes.removeAll(keepingCapacity: true)
                try transmission.render(copy, into: &copyBytes)
                total += copyBytes.count
                framed.removeAll(keepingCapacity: true)
                framed += BatchSMTP.transactionHead(sender: envelope.sender, recipient: copy.address)
                BatchSMTP.appendData(copyBytes, to: &framed)
                try writer.write(framed)
                if eventsPath != nil { events.append(Events.injection(transmission, copy: copy, messageSize: copyBytes.count)) }
            }
            try writer.write(BatchSMTP.quit)
        case .directory(let path):
            (total, events) = try writeDirectory(transmission, path: path, withEvents: eventsPath != nil)
        case .sendmail(let command):
            // Every copy is rendered before the first is handed over, so a rendering failure
            // re-injects nothing.
            var rendered: [(Copy, [UInt8])] = []
            for copy in transmission.copies { rendered.append((copy, try transmission.renderedBytes(copy))) }
            for (copy, bytes) in rendered {
                try reinject(bytes, sender: envelope.sender, recipient: copy.address, command: command)
                total += bytes.count
                if eventsPath != nil { events.append(Events.injection(transmission, copy: copy, messageSize: bytes.count)) }
            }
        }
        if let eventsPath {
            for copy in transmission.suppressed { events.append(Events.policyRejection(transmission, copy: copy)) }
            try appendLines(events, to: eventsPath)
        }
        return Summary(
            transmissionID: transmission.transmissionIDString, copies: transmission.copies.count,
            suppressed: transmission.suppressed.count, bytes: total)
    }

    /// Writes every copy under a temporary name inside `path`, then renames them into place and
    /// appends their envelopes to `envelopes.jsonl`; on any failure the temporary files go.
    static func writeDirectory(_ transmission: Transmission, path: String, withEvents: Bool) throws(SMTPReply) -> (bytes: Int, events: [String]) {
        let manager = FileManager.default
        let staging = path + "/.linkstamp-\(transmission.transmissionIDString).tmp"
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            try manager.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw outputFailure("cannot create output folder '\(path)': \(error.localizedDescription)")
        }
        defer { try? manager.removeItem(atPath: staging) }
        var names: [String] = []
        var events: [String] = []
        var envelopes: [String] = []
        var total = 0
        let digits = max(4, String(transmission.copies.count).count)
        for copy in transmission.copies {
            let bytes = try transmission.renderedBytes(copy)
            total += bytes.count
            let number = String(copy.index + 1)
            let name = "\(transmission.transmissionIDString)-\(String(repeating: "0", count: max(0, digits - number.count)))\(number).eml"
            do { try Data(bytes).write(to: URL(fileURLWithPath: staging + "/" + name)) } catch {
                throw outputFailure("cannot write '\(name)': \(error.localizedDescription)")
            }
            names.append(name)
            envelopes.append(envelopeLine(transmission, copy: copy, file: name))
            if withEvents { events.append(Events.injection(transmission, copy: copy, messageSize: bytes.count)) }
        }
        for (index, name) in names.enumerated() {
            guard rename(staging + "/" + name, path + "/" + name) == 0 else {
                let reason = String(cString: strerror(errno))
                for placed in names[..<index] { unlink(path + "/" + placed) }
                throw outputFailure("cannot move '\(name)' into place: \(reason)")
            }
        }
        do { try appendLines(envelopes, to: path + "/envelopes.jsonl") } catch {
            for placed in names { unlink(path + "/" + placed) }
            throw error
        }
        return (total, events)
    }

    /// Runs `command -G -i -f sender -- recipient` with the copy on its standard input.
    static func reinject(_ message: [UInt8], sender: String, recipient: String, command: String) throws(SMTPReply) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command)
        process.arguments = ["-G", "-i", "-f", sender, "--", recipient]
        let input = Pipe()
        process.standardInput = input
        do { try process.run() } catch {
            throw outputFailure("cannot run '\(command)': \(error.localizedDescription)")
        }
        let writer = input.fileHandleForWriting
        var descriptorWriter = DescriptorWriter(descriptor: writer.fileDescriptor)
        let written: SMTPReply?
        do { try descriptorWriter.write(message); written = nil } catch { written = error }
        try? writer.close()
        process.waitUntilExit()
        if let written { throw written }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw outputFailure("'\(command)' failed with status \(process.terminationStatus) for <\(recipient)>")
        }
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

    /// Appends the lines with one `write` on an `O_APPEND` descriptor under an exclusive lock,
    /// so concurrent filter processes never interleave lines.
    static func appendLines(_ lines: [String], to path: String) throws(SMTPReply) {
        guard !lines.isEmpty else { return }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw outputFailure("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        _ = flock(descriptor, LOCK_EX)
        var writer = DescriptorWriter(descriptor: descriptor)
        try writer.write(Array((lines.joined(separator: "\n") + "\n").utf8))
    }

    static func outputFailure(_ text: String) -> SMTPReply {
        SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "linkstamp \(text)")
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

/// Writes whole buffers to a file descriptor, retrying short writes and EINTR.
struct DescriptorWriter {
    let descriptor: Int32

    mutating func write(_ bytes: [UInt8]) throws(SMTPReply) {
        var offset = 0
        let failure: Int32? = bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure {
            throw Filter.outputFailure("cannot write output: \(String(cString: strerror(failure)))")
        }
    }
}
