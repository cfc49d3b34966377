import Foundation
import NIOCore
import NIOPosix
import _CryptoExtras

/// A password stored as an scrypt hash in a PHC-like string:
/// `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (salt and hash in base64, with or without padding).
/// `ln` is log2 of scrypt's cost N; the defaults (N = 32768, r = 8, p = 1) take 32 MiB and on the
/// order of 100 ms per check, which is what makes a stolen file slow to attack.
public struct SMTPPasswordHash: Sendable, Hashable, CustomStringConvertible {
    /// log2 of scrypt's cost parameter N.
    public let logN: Int
    /// scrypt's block size r.
    public let blockSize: Int
    /// scrypt's parallelism p.
    public let parallelism: Int
    /// The random salt.
    public let salt: [UInt8]
    /// The derived key.
    public let hash: [UInt8]

    /// The cost `linkstamp smtpd-passwd` uses: ln=15, r=8, p=1.
    public static let defaultLogN = 15

    /// Accepted bounds (a hash outside them is a configuration error, not a slow surprise).
    static let logNRange = 10...20
    static let blockSizeRange = 1...32
    static let parallelismRange = 1...16
    /// scrypt needs 128·r·N bytes; more than 1 GiB per check is refused.
    static let maxMemory = 1 << 30

    /// Hashes `password` with a fresh random salt (slow by design: call it off any event loop).
    public init(password: [UInt8], logN: Int = SMTPPasswordHash.defaultLogN, blockSize: Int = 8, parallelism: Int = 1)
        throws
    {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let hash = try SMTPPasswordHash.derive(
            password, salt: salt, logN: logN, blockSize: blockSize, parallelism: parallelism, count: 32)
        self.init(logN: logN, blockSize: blockSize, parallelism: parallelism, salt: salt, hash: hash)
    }

    init(logN: Int, blockSize: Int, parallelism: Int, salt: [UInt8], hash: [UInt8]) {
        self.logN = logN
        self.blockSize = blockSize
        self.parallelism = parallelism
        self.salt = salt
        self.hash = hash
    }

    /// Parses `$scrypt$ln=…,r=…,p=…$salt$hash`; `nil` when the text is not one (or its costs are
    /// outside the accepted bounds).
    public init?(_ text: String) {
        let fields = text.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == "scrypt" else { return nil }
        var values: [String: Int] = [:]
        for pair in fields[2].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let number = Int(parts[1]), values[String(parts[0])] == nil else { return nil }
            values[String(parts[0])] = number
        }
        guard values.count == 3, let logN = values["ln"], let r = values["r"], let p = values["p"],
            SMTPPasswordHash.logNRange.contains(logN), SMTPPasswordHash.blockSizeRange.contains(r),
            SMTPPasswordHash.parallelismRange.contains(p), 128 * r << logN <= SMTPPasswordHash.maxMemory,
            let salt = SMTPPasswordHash.base64(fields[3]), (8...64).contains(salt.count),
            let hash = SMTPPasswordHash.base64(fields[4]), (16...64).contains(hash.count)
        else { return nil }
        self.init(logN: logN, blockSize: r, parallelism: p, salt: salt, hash: hash)
    }

    /// The PHC-like text (unpadded base64, as PHC strings write it).
    public var description: String {
        func encoded(_ bytes: [UInt8]) -> String {
            var text = Data(bytes).base64EncodedString()
            while text.hasSuffix("=") { text.removeLast() }
            return text
        }
        return "$scrypt$ln=\(logN),r=\(blockSize),p=\(parallelism)$\(encoded(salt))$\(encoded(hash))"
    }

    /// Whether `password` hashes to this hash. Slow by design; the comparison takes the same time
    /// wherever the bytes differ.
    public func verify(_ password: [UInt8]) -> Bool {
        // No stored hash is of an empty password (smtpd-passwd refuses one): refused without work.
        guard !password.isEmpty,
            let derived = try? SMTPPasswordHash.derive(
                password, salt: salt, logN: logN, blockSize: blockSize, parallelism: parallelism, count: hash.count)
        else { return false }
        return SMTPPasswordHash.constantTimeEqual(derived, hash)
    }

    static func derive(
        _ password: [UInt8], salt: [UInt8], logN: Int, blockSize: Int, parallelism: Int, count: Int
    ) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: password, salt: salt, outputByteCount: count, rounds: 1 << logN, blockSize: blockSize,
            parallelism: parallelism)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Equal-length comparison that looks at every byte (lengths come from the file, not the client).
    @inline(never)
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Standard base64, padding optional.
    static func base64(_ text: Substring) -> [UInt8]? {
        var padded = String(text)
        guard !padded.isEmpty, !padded.contains("=") || padded.count % 4 == 0 else { return nil }
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { Array($0) }
    }
}

/// The AUTH users of `linkstamp smtpd` (`smtpd_credentials`): one `user:$scrypt$…` line each,
/// `#` comments and blank lines ignored. A user name is 1–255 bytes of printable ASCII or UTF-8
/// without spaces or `:`.
public struct SMTPCredentials: Sendable, Hashable {
    /// Password hash by user name.
    public let users: [String: SMTPPasswordHash]

    /// Credentials from a table (tests and embedders).
    public init(users: [String: SMTPPasswordHash]) {
        self.users = users
    }

    /// Parses the file's text; the error names the line at fault.
    public init(parsing text: String) throws(SMTPSetupError) {
        var users: [String: SMTPPasswordHash] = [:]
        var lineNumber = 0
        // Split on every line end ("\r\n" is one Character, so not on "\n" alone).
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw SMTPSetupError("credentials line \(lineNumber): expected 'user:$scrypt$…'")
            }
            let user = String(line[..<colon])
            guard SMTPCredentials.isValidUser(user) else {
                throw SMTPSetupError("credentials line \(lineNumber): bad user name")
            }
            guard let hash = SMTPPasswordHash(String(line[line.index(after: colon)...])) else {
                throw SMTPSetupError(
                    "credentials line \(lineNumber): expected '$scrypt$ln=N,r=N,p=N$salt$hash' "
                        + "(ln \(SMTPPasswordHash.logNRange), r \(SMTPPasswordHash.blockSizeRange), "
                        + "p \(SMTPPasswordHash.parallelismRange), at most 1 GiB)")
            }
            guard users[user] == nil else {
                throw SMTPSetupError("credentials line \(lineNumber): user '\(user)' appears twice")
            }
            users[user] = hash
        }
        self.users = users
    }

    /// Reads and parses a credentials file.
    public init(contentsOf path: String) throws(SMTPSetupError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SMTPSetupError("cannot read credentials file '\(path)'")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SMTPSetupError("credentials file '\(path)' is not UTF-8")
        }
        do { try self.init(parsing: text) } catch { throw SMTPSetupError("'\(path)': \(error.description)") }
    }

    /// 1–255 bytes, no control characters, spaces or `:`.
    public static func isValidUser(_ user: String) -> Bool {
        !user.isEmpty && user.utf8.count <= 255
            && !user.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7F || $0 == ":" }
    }
}

/// Checks AUTH credentials on a small dedicated thread pool, never on an event loop: every check
/// runs scrypt (tens of MiB and ~100 ms at the default cost), so at most `threads` run at once
/// and the memory they take is bounded. An unknown user costs the same work as a known one.
/// Nothing is cached.
public final class SMTPAuthenticator: Sendable {
    /// The users.
    public let credentials: SMTPCredentials
    let pool: NIOThreadPool
    /// Hashed against when the user is unknown, so the reply takes as long as for a known user.
    let decoy: SMTPPasswordHash

    /// Starts the pool. Call `shutdown()` when done.
    public init(credentials: SMTPCredentials, threads: Int = 2) {
        self.credentials = credentials
        // The costliest hash in the file, with a salt and hash no password matches.
        let costliest = credentials.users.values.max { ($0.logN, $0.blockSize) < ($1.logN, $1.blockSize) }
        decoy = SMTPPasswordHash(
            logN: costliest?.logN ?? SMTPPasswordHash.defaultLogN, blockSize: costliest?.blockSize ?? 8,
            parallelism: costliest?.parallelism ?? 1, salt: Array(repeating: 0, count: 16),
            hash: Array(repeating: 0, count: 32))
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    /// Whether `password` is `user`'s; the future completes on `eventLoop`.
    public func verify(user: String, password: [UInt8], on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        let known = credentials.users[user]
        let hash = known ?? decoy
        return pool.runIfActive(eventLoop: eventLoop) {
            let matches = hash.verify(password)
            return matches && known != nil
        }
    }

    /// Stops the pool (pending checks fail, which counts as a refusal).
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}

/// A TLS certificate, key or credentials file that cannot be used at start.
public struct SMTPSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    /// An error with its text.
    public init(_ description: String) { self.description = description }
}
