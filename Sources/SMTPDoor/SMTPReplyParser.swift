import SMTPAPI

/// A downstream server's reply: its code and every line's text (multi-line replies such as
/// EHLO's keep all of them).
struct RelayReply: Sendable, Hashable {
    var code: Int
    var lines: [String]

    /// The reply as an `SMTPReply`: enhanced status taken from the last line's text when it has
    /// one, else the class's generic one (`2.0.0`, `4.0.0`, `5.0.0`).
    var smtpReply: SMTPReply {
        let last = lines.last ?? ""
        return asciiSMTPReply(last) ?? characterSMTPReply(last)
    }

    /// `smtpReply` read as `Character`s (any last line).
    func characterSMTPReply(_ last: String) -> SMTPReply {
        let words = last.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        if let first = words.first, RelayReply.isEnhancedStatus(first, code: code) {
            return SMTPReply(code: code, enhancedStatus: String(first), text: words.count > 1 ? String(words[1]) : "")
        }
        return SMTPReply(code: code, enhancedStatus: "\(code / 100).0.0", text: last)
    }

    /// `smtpReply` for a last line of ASCII, read as bytes (the same result as the
    /// `Character` reading above, without its cost); `nil` for any other line.
    func asciiSMTPReply(_ last: String) -> SMTPReply? {
        last.utf8.withContiguousStorageIfAvailable { bytes -> SMTPReply? in
            guard !bytes.contains(where: { $0 >= 0x80 }) else { return nil }
            let space = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.count
            // `d.d.d`, each part 1 to 3 digits, the first the code's class.
            var parts = 0
            var digits = 0
            var valid = space > 0 && code >= 0 && code < 1000
            for byte in bytes[0..<space] where valid {
                if byte == UInt8(ascii: ".") {
                    valid = digits > 0
                    parts += 1
                    digits = 0
                } else if byte >= 0x30 && byte <= 0x39 {
                    if parts == 0 && (digits > 0 || Int(byte - 0x30) != code / 100) { valid = false }
                    digits += 1
                    if digits > 3 { valid = false }
                } else {
                    valid = false
                }
            }
            guard valid && parts == 2 && digits > 0 else {
                return SMTPReply(code: code, enhancedStatus: "\(code / 100).0.0", text: last)
            }
            let status = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<space]), as: UTF8.self)
            let text =
                space < bytes.count
                ? String(decoding: UnsafeBufferPointer(rebasing: bytes[(space + 1)...]), as: UTF8.self) : ""
            return SMTPReply(code: code, enhancedStatus: status, text: text)
        } ?? nil
    }

    static func isEnhancedStatus(_ word: Substring, code: Int) -> Bool {
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Substring(String(code / 100)) else { return false }
        return parts.allSatisfy {
            !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber)
        }
    }
}

/// Splits a downstream server's byte stream into replies (RFC 5321 §4.2: `ddd-text` lines
/// continue a reply, `ddd text` ends it). A malformed line is a protocol error.
struct SMTPReplyParser: Sendable {
    var buffer: [UInt8] = []
    var lines: [String] = []
    /// Longest reply line accepted (RFC 5321 says 512; some servers send longer text).
    let maxLineBytes = 4096

    enum Failure: Error { case malformed }

    mutating func feed<Bytes: Collection>(_ bytes: Bytes) throws(Failure) -> [RelayReply] where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        var replies: [RelayReply] = []
        var start = 0
        while let lf = buffer[start...].firstIndex(of: 0x0A) {
            var end = lf
            if end > start && buffer[end - 1] == 0x0D { end -= 1 }
            let line = buffer[start..<end]
            start = lf + 1
            guard line.count >= 3, line.prefix(3).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                line.count == 3 || line[line.startIndex + 3] == UInt8(ascii: " ")
                    || line[line.startIndex + 3] == UInt8(ascii: "-")
            else { throw .malformed }
            let code = line.prefix(3).reduce(0) { $0 * 10 + Int($1 - 0x30) }
            let text = String(decoding: line.dropFirst(4), as: UTF8.self)
            lines.append(text)
            if line.count == 3 || line[line.startIndex + 3] == UInt8(ascii: " ") {
                replies.append(RelayReply(code: code, lines: lines))
                lines = []
            }
        }
        buffer.removeFirst(start)
        if buffer.count > maxLineBytes { throw .malformed }
        return replies
    }
}
