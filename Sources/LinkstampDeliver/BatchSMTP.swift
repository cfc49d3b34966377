/// Batch SMTP (RFC 2442): one `MAIL FROM`/`RCPT TO`/`DATA` transaction per copy, CRLF line
/// ends, dot-stuffed, ending with `QUIT` — ready for `sendmail -bs` or `exim -bS`.
public enum BatchSMTP {
    /// The commands that open one copy's transaction.
    public static func transactionHead(sender: String, recipient: String) -> [UInt8] {
        Array("MAIL FROM:<\(sender)>\r\nRCPT TO:<\(recipient)>\r\nDATA\r\n".utf8)
    }

    /// Appends `message` as DATA content: bare LF and bare CR become CRLF, a line starting with
    /// "." gets another (RFC 5321 §4.5.2), and the terminating `.` line follows.
    public static func appendData(_ message: [UInt8], to output: inout [UInt8]) {
        output.reserveCapacity(output.count + message.count + message.count / 32 + 8)
        var atLineStart = true
        var index = 0
        let count = message.count
        message.withUnsafeBufferPointer { bytes in
            while index < count {
                let byte = bytes[index]
                if atLineStart && byte == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
                switch byte {
                case 0x0D:
                    output.append(0x0D)
                    output.append(0x0A)
                    if index + 1 < count && bytes[index + 1] == 0x0A { index += 1 }
                    atLineStart = true
                case 0x0A:
                    output.append(0x0D)
                    output.append(0x0A)
                    atLineStart = true
                default:
                    // Copy the rest of the line in one go.
                    var end = index
                    while end < count && bytes[end] != 0x0D && bytes[end] != 0x0A { end += 1 }
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<end]))
                    index = end - 1
                    atLineStart = false
                }
                index += 1
            }
        }
        if !atLineStart { output += [0x0D, 0x0A] }
        output += Array(".\r\n".utf8)
    }

    /// The end of the batch.
    public static let quit = Array("QUIT\r\n".utf8)

    /// Undoes `appendData` for one transaction's content (tests and tools): removes the
    /// dot-stuffing; line ends stay CRLF.
    public static func unstuff(_ data: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(data.count)
        var atLineStart = true
        var index = data.startIndex
        while index < data.endIndex {
            let byte = data[index]
            if atLineStart && byte == UInt8(ascii: ".") {
                index += 1
                atLineStart = false
                continue
            }
            output.append(byte)
            atLineStart = byte == 0x0A
            index += 1
        }
        return output
    }
}
