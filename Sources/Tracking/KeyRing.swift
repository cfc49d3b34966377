import Crypto
import MailBytes

/// One tracking key: a 16-bit id written into every token it seals, and a 256-bit
/// ChaCha20-Poly1305 secret that never leaves the process except through ``KeyRing/write(to:)``.
public struct TrackingKey: Sendable, Equatable {
    /// The id written (in clear, authenticated) into every token sealed with this key.
    public var id: UInt16
    let secret: SecretBox

    /// Byte count of a key's secret (ChaCha20-Poly1305 uses 256-bit keys).
    public static let secretByteCount = 32

    /// A key from its id and exactly 32 secret bytes.
    public init(id: UInt16, secret bytes: [UInt8]) throws(TrackingError) {
        guard bytes.count == Self.secretByteCount else {
            throw .invalidField("key secret", reason: "must be \(Self.secretByteCount) bytes, got \(bytes.count)")
        }
        self.id = id
        self.secret = SecretBox(SymmetricKey(data: bytes))
    }

    /// A fresh key from the system's cryptographically secure random generator.
    public static func random(id: UInt16) -> TrackingKey {
        TrackingKey(id: id, secret: SecretBox(SymmetricKey(size: .bits256)))
    }

    private init(id: UInt16, secret: SecretBox) {
        self.id = id
        self.secret = secret
    }

    /// Compares ids and secrets (the secret comparison is constant-time).
    public static func == (lhs: TrackingKey, rhs: TrackingKey) -> Bool {
        lhs.id == rhs.id && lhs.secret.key == rhs.secret.key
    }
}

/// Holds a ring key and its prepared HMAC state; swift-crypto does not mark these `Sendable`
/// on Linux. Safe to share: all are immutable after init; the token key works on copies of the
/// hash states, which are copy-on-write.
final class SecretBox: @unchecked Sendable {
    let key: SymmetricKey
    /// SHA-256 states after the key's inner and outer HMAC pads (RFC 2104), for
    /// ``tokenKeyDigest(prefix:)``. (No `HMAC<SHA256>` is made: preparing one per key cost a
    /// filter process more than the two pads.)
    private let innerPad: SHA256
    private let outerPad: SHA256

    init(_ key: SymmetricKey) {
        self.key = key
        // The key (32 bytes) is shorter than SHA-256's 64-byte block: zero-padded, then XORed.
        var block = [UInt8](repeating: 0, count: 64)
        key.withUnsafeBytes { bytes in
            for (index, byte) in bytes.prefix(block.count).enumerated() { block[index] = byte }
        }
        var inner = SHA256()
        inner.update(data: block.map { $0 ^ 0x36 })
        var outer = SHA256()
        outer.update(data: block.map { $0 ^ 0x5C })
        innerPad = inner
        outerPad = outer
    }

    /// The one-token key: HMAC-SHA256 of the token's prefix (version, key id, nonce), by concrete
    /// `SHA256` calls on the prepared pads instead of the generic `HMAC`, which runs unspecialised.
    func tokenKeyDigest(prefix: UnsafeRawBufferPointer) -> SHA256Digest {
        var inner = innerPad
        inner.update(bufferPointer: prefix)
        var outer = outerPad
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }

    /// The one-token key (see ``tokenKeyDigest(prefix:)``) as a key.
    func tokenKey(prefix: ArraySlice<UInt8>) -> SymmetricKey {
        prefix.withUnsafeBytes { SymmetricKey(data: tokenKeyDigest(prefix: $0)) }
    }

    /// The same from the prefix's raw bytes (what decoding has at hand).
    func tokenKey(prefixBytes prefix: UnsafeRawBufferPointer) -> SymmetricKey {
        SymmetricKey(data: tokenKeyDigest(prefix: prefix))
    }
}

/// The keys that seal and open tracking tokens. The last key is the active one (it encodes);
/// every key decodes, so rotation is "append a new key, keep the old ones".
///
/// File format (``serialized()``): UTF-8 text, one key per line `<id> <base64 of 32 bytes>`,
/// ids decimal 0...65535 and unique; blank lines and lines starting with `#` are ignored.
public struct KeyRing: Sendable, Equatable {
    /// All keys, oldest first; the last one is active.
    public var keys: [TrackingKey]

    /// A ring made of the given keys (last = active).
    public init(keys: [TrackingKey]) {
        self.keys = keys
    }

    /// The key new tokens are sealed with; nil for an empty ring.
    public var activeKey: TrackingKey? { keys.last }

    /// The key with id `id`, if the ring holds it (the last one wins should ids repeat).
    public func key(id: UInt16) -> TrackingKey? {
        keys.last { $0.id == id }
    }

    /// A ring with one random key, id 1.
    public static func generate() -> KeyRing {
        KeyRing(keys: [.random(id: 1)])
    }

    /// This ring plus a fresh random key, which becomes the active one. Its id is the largest id
    /// plus 1; when the largest id is 65535, the smallest unused id; when all 65536 ids are taken,
    /// the oldest key is dropped and its id reused.
    public func rotated() -> KeyRing {
        var keys = self.keys
        let maxID = keys.map(\.id).max()
        let newID: UInt16
        if let maxID {
            if maxID < UInt16.max {
                newID = maxID + 1
            } else {
                var used = [Bool](repeating: false, count: 65_536)
                for key in keys { used[Int(key.id)] = true }
                if let free = used.firstIndex(of: false) {
                    newID = UInt16(truncatingIfNeeded: free)
                } else {
                    let oldest = keys.removeFirst()
                    newID = oldest.id
                }
            }
        } else {
            newID = 1
        }
        keys.append(.random(id: newID))
        return KeyRing(keys: keys)
    }

    /// The key ring file text: a comment line, then one `<id> <base64>` line per key.
    public func serialized() -> String {
        var out = "# Linkstamp tracking keys: <id> <base64 of 32 bytes>; the last key is active.\n"
        for key in keys {
            let bytes = key.secret.key.withUnsafeBytes { Array($0) }
            out += "\(key.id) \(Base64.encodeToString(bytes, alphabet: .standard))\n"
        }
        return out
    }

    /// Parses key ring file text. Errors name the 1-based line and the byte offset of the line.
    public init(parsing text: String, limits: TrackingLimits = .default) throws(TrackingError) {
        try self.init(parsing: Array(text.utf8), limits: limits)
    }

    /// Parses key ring file bytes (see ``init(parsing:limits:)-(String,_)``).
    public init(parsing bytes: [UInt8], limits: TrackingLimits = .default) throws(TrackingError) {
        var keys: [TrackingKey] = []
        // One bit per possible key id (a Set would cost a filter process a conformance lookup).
        var seen = [UInt64](repeating: 0, count: 1 << 10)
        var lineNumber = 0
        var lineStart = 0
        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let next = lineEnd + 1
            let fields = Self.fields(bytes[lineStart..<lineEnd])
            defer { lineStart = next }
            guard let first = fields.first, bytes[first.lowerBound] != UInt8(ascii: "#") else { continue }
            guard fields.count == 2 else {
                throw .keyRingSyntax(
                    line: lineNumber, reason: "expected '<id> <base64 of 32 bytes>', found \(fields.count) field(s)",
                    offset: lineStart)
            }
            guard let id = Self.parseID(bytes[fields[0].range]) else {
                throw .keyRingSyntax(
                    line: lineNumber, reason: "key id must be a decimal number 0...65535", offset: fields[0].lowerBound)
            }
            guard let secret = Base64.decode(bytes[fields[1].range], alphabet: .standard) else {
                throw .keyRingSyntax(line: lineNumber, reason: "key is not valid base64", offset: fields[1].lowerBound)
            }
            guard secret.count == TrackingKey.secretByteCount else {
                throw .keyRingSyntax(
                    line: lineNumber,
                    reason: "key must be \(TrackingKey.secretByteCount) bytes, found \(secret.count)",
                    offset: fields[1].lowerBound)
            }
            let (word, bit) = (Int(id >> 6), UInt64(1) << (id & 63))
            guard seen[word] & bit == 0 else {
                throw .keyRingSyntax(line: lineNumber, reason: "duplicate key id \(id)", offset: fields[0].lowerBound)
            }
            seen[word] |= bit
            guard keys.count < limits.maxKeys else {
                throw .keyRingSyntax(line: lineNumber, reason: "more than \(limits.maxKeys) keys", offset: lineStart)
            }
            keys.append(try TrackingKey(id: id, secret: secret))
        }
        guard !keys.isEmpty else { throw .emptyKeyRing }
        self.keys = keys
    }

    /// One space/tab separated field of a line: `lowerBound..<upperBound` in the file's bytes.
    /// (An array of `Range<Int>` would cost a filter process a conformance lookup, `Int: Comparable`.)
    private struct Field {
        var lowerBound: Int
        var upperBound: Int
        var range: Range<Int> { lowerBound..<upperBound }
    }

    /// The space/tab separated fields of one line (a trailing CR counts as space).
    private static func fields(_ line: ArraySlice<UInt8>) -> [Field] {
        var result: [Field] = []
        var i = line.startIndex
        while i < line.endIndex {
            while i < line.endIndex && isSpace(line[i]) { i += 1 }
            let start = i
            while i < line.endIndex && !isSpace(line[i]) { i += 1 }
            if start < i { result.append(Field(lowerBound: start, upperBound: i)) }
        }
        return result
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private static func parseID(_ digits: ArraySlice<UInt8>) -> UInt16? {
        guard !digits.isEmpty, digits.count <= 5 else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value <= Int(UInt16.max) ? UInt16(value) : nil
    }
}
