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
        let words = last.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        if let first = words.first, RelayReply.isEnhancedStatus(first, code: code) {
            return SMTPReply(code: code, enhancedStatus: String(first), text: words.count > 1 ? String(words[1]) : "")
        }
        return SMTPReply(code: code, enhancedStatus: "\(code / 100).0.0", text: last)
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
