import ArgumentParser
import Foundation
import LinkstampFilterCommand
import SMTPDoor

/// `linkstamp smtpd-passwd USER`: one line for the `smtpd_credentials` file.
struct SMTPDPasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smtpd-passwd",
        abstract: "Print a line for smtpd_credentials: USER:$scrypt$ln=15,r=8,p=1$SALT$HASH.",
        discussion: """
            Reads the password from standard input (its first line, without the line end), hashes \
            it with scrypt (N=2^15, r=8, p=1, a random 16-byte salt) and prints the line. Append it \
            to the smtpd_credentials file and restart linkstamp smtpd. Example: \
            printf '%s\\n' "$SECRET" | linkstamp smtpd-passwd sender1 >> /etc/linkstamp/smtpd-users
            """
    )

    @Argument(help: "The AUTH user name: 1-255 bytes, no spaces, control characters or ':'.")
    var user: String

    /// The longest password accepted (an AUTH PLAIN line holds user and password in base64).
    static let maxPasswordBytes = 1024

    func run() throws {
        guard SMTPCredentials.isValidUser(user) else {
            printError("linkstamp smtpd-passwd: a user name is 1-255 bytes without spaces, control characters or ':'")
            throw ExitCode(SysExit.usage)
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            printError("linkstamp smtpd-passwd: no password on standard input")
            throw ExitCode(SysExit.dataError)
        }
        let password = Array(line.utf8)
        guard password.count <= SMTPDPasswdCommand.maxPasswordBytes else {
            printError(
                "linkstamp smtpd-passwd: the password is longer than \(SMTPDPasswdCommand.maxPasswordBytes) bytes")
            throw ExitCode(SysExit.dataError)
        }
        let hash: SMTPPasswordHash
        do { hash = try SMTPPasswordHash(password: password) } catch {
            printError("linkstamp smtpd-passwd: cannot hash: \(error)")
            throw ExitCode(SysExit.software)
        }
        print("\(user):\(hash)")
    }
}
