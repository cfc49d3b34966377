import Linkstamp
import SMTPAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// # LinkstampFilterCommand
///
/// The `filter` command's process side without the argument parser: the plain command line,
/// standard input, stderr lines and sysexits codes. Both executables run it: `linkstamp filter`
/// (which also has the argument parser and PostgreSQL) and the lean `linkstamp-filter` that
/// Postfix's pipe(8) and Exim start once per message (no servers' packages linked in, so the
/// runtime's conformance scans and the binary's start-up cost less).
///
/// Depends on the library modules' public API only.

/// sysexits(3) codes, as Postfix and Exim read them.
package enum SysExit {
    package static let usage: Int32 = 64
    package static let dataError: Int32 = 65
    package static let noInput: Int32 = 66
    package static let software: Int32 = 70
    package static let cantCreate: Int32 = 73
    package static let tempFail: Int32 = 75
}

/// Writes one line to standard error with write(2) (no Foundation on the filter's path).
package func printError(_ text: String) {
    var line = text
    line.append("\n")
    line.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(STDERR_FILENO, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}

/// Prints an SMTP reply the way a content filter reports it (`5.6.0 text` on stderr) and
/// returns the sysexits code Postfix and Exim map to a bounce (65) or a deferral (75).
package func replyCode(_ reply: SMTPReply) -> Int32 {
    printError(reply.enhancedStatus + " " + reply.text)
    return reply.isPermanent ? SysExit.dataError : SysExit.tempFail
}

/// `--config`, else `LINKSTAMP_CONFIG` when set and not empty (read with getenv: no environment
/// dictionary on the filter's path), else nil (the defaults).
package func configurationPath(_ option: String?) -> String? {
    if let option { return option }
    if let environment = getenv("LINKSTAMP_CONFIG"), environment.pointee != 0 {
        return String(cString: environment)
    }
    return nil
}

/// Reads standard input to its end with read(2). A read error (standard input closed, a
/// folder, an I/O error) is a temporary failure; past `limit` bytes the message is refused.
package func readStandardInput(limits: Limits) throws(SMTPReply) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let (count, error) = chunk.withUnsafeMutableBytes { buffer -> (Int, Int32) in
            let count = read(STDIN_FILENO, buffer.baseAddress, buffer.count)
            return (count, count < 0 ? errno : 0)
        }
        if count < 0 {
            if error == EINTR { continue }
            throw SMTPReply(
                code: 451, enhancedStatus: "4.3.0",
                text: "linkstamp cannot read standard input: " + String(cString: strerror(error)))
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<count])
        try limits.checkMessageSize(bytes.count)
    }
}
