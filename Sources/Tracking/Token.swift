import Crypto

/// The kind byte that opens every token's plaintext, so a link token can never pass for a
/// recipient token or the reverse.
enum TokenKind: UInt8 {
    case link = 1
    case recipient = 2

    var name: String { self == .link ? "link" : "recipient" }
}

/// Token wire format, version 1:
///
///     token   = base64url-nopad( version keyID nonce ciphertext tag )
///     version = %x01                  ; 1 byte
///     keyID   = 2 bytes big-endian    ; which key of the ring sealed it
///     nonce   = 16 random bytes
///     tag     = 16 bytes              ; Poly1305
///
/// Sealing: `tokenKey = HMAC-SHA256(ringKey, version keyID nonce)`, then ChaCha20-Poly1305
/// with `tokenKey`, an all-zero 96-bit nonce, and `version keyID nonce` as associated data.
/// Every token gets its own key from 128 random bits, so nonce reuse is out of reach (a random
/// 96-bit ChaCha nonce under one long-lived key would near its safe limit after ~2^32 tokens,
/// which a busy relay reaches within weeks). Version, key id and nonce are authenticated.
///
/// Plaintexts (varints are LEB128; "rest" runs to the end of the plaintext):
///
///     link      = %x01 transmissionID:varint index:varint flags:1 [nameLength:varint name] target:rest
///                 ; flags bit 0 = link_unsubscribe, bit 1 = name present (absent = "Raw URL")
///     recipient = %x02 transmissionID:varint rcptType:1 expires:zigzag-varint
///                 messageIDLength:varint messageID rcptTo:rest
///                 ; rcptType 0 = envelope, 1 = cc, 2 = bcc, 3 = archive
enum TokenFormat {
    static let version: UInt8 = 1
    static let headerCount = 3
    static let nonceCount = 16
    static let tagCount = 16
    /// Version, key id and nonce: the associated data and the key-derivation input.
    static let prefixCount = headerCount + nonceCount
    /// Smallest decodable token: prefix, tag and the kind byte.
    static let minimumRawCount = prefixCount + tagCount + 1
    /// ChaCha20-Poly1305's own nonce, constant because every token key is used once.
    private static let zeroNonce = [UInt8](repeating: 0, count: 12)

    static let flagUnsubscribe: UInt8 = 0x01
    static let flagNamed: UInt8 = 0x02
    static let defaultLinkName = "Raw URL"

    /// Seals `plaintext` with `key` and returns the token's ASCII bytes.
    /// `fixedNonce` exists for known-answer tests only; nil draws 128 fresh random bits.
    static func seal(
        _ plaintext: [UInt8], key: TrackingKey, fixedNonce: (UInt64, UInt64)? = nil
    ) throws(TrackingError) -> [UInt8] {
        // `raw` first holds the prefix (the associated data); the ciphertext and tag follow, so
        // the token's bytes are assembled in one buffer.
        var raw = [UInt8]()
        raw.reserveCapacity(prefixCount + plaintext.count + tagCount)
        raw.append(version)
        raw.append(UInt8(truncatingIfNeeded: key.id >> 8))
        raw.append(UInt8(truncatingIfNeeded: key.id))
        var random = SystemRandomNumberGenerator()
        let words = fixedNonce ?? (random.next(), random.next())
        withUnsafeBytes(of: words.0.bigEndian) { raw.append(contentsOf: $0) }
        withUnsafeBytes(of: words.1.bigEndian) { raw.append(contentsOf: $0) }
        do {
            let box = try ChaChaPoly.seal(
                plaintext, using: key.secret.tokenKey(prefix: raw[...]), nonce: ChaChaPoly.Nonce(data: zeroNonce),
                authenticating: raw)
            // `combined` is ChaCha's nonce (our constant zeros), ciphertext, tag: keep the last two.
            box.combined.withUnsafeBytes { sealed in
                raw.append(contentsOf: UnsafeRawBufferPointer(rebasing: sealed[zeroNonce.count...]))
            }
        } catch {
            throw .encryptionFailed
        }
        var out = [UInt8]()
        raw.withUnsafeBytes { Base64.encode($0, alphabet: .url, into: &out) }
        return out
    }

    /// Decodes and authenticates one token (`offset` locates it in the URL for errors).
    /// Returns the plaintext after the kind byte has been checked, and the key id.
    static func open(
        _ token: ArraySlice<UInt8>, expecting kind: TokenKind, keyRing: KeyRing, offset: Int
    ) throws(TrackingError) -> (reader: ByteReader, keyID: UInt16) {
        guard let raw = Base64.decode(token, alphabet: .url), raw.count >= minimumRawCount else {
            throw .malformedToken(offset: offset)
        }
        guard raw[0] == version else { throw .unsupportedVersion(raw[0], offset: offset) }
        let keyID = UInt16(raw[1]) << 8 | UInt16(raw[2])
        guard let key = keyRing.key(id: keyID) else { throw .unknownKeyID(keyID, offset: offset) }
        let prefix = raw[0..<prefixCount]
        let plaintext: [UInt8]
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: ChaChaPoly.Nonce(data: zeroNonce), ciphertext: raw[prefixCount..<raw.count - tagCount],
                tag: raw[(raw.count - tagCount)...])
            let data = try ChaChaPoly.open(box, using: key.secret.tokenKey(prefix: prefix), authenticating: prefix)
            plaintext = [UInt8](data)
        } catch {
            throw .forged(offset: offset)
        }
        var reader = ByteReader(plaintext)
        guard let kindByte = reader.readByte(), let found = TokenKind(rawValue: kindByte) else {
            throw .malformedToken(offset: offset)
        }
        guard found == kind else {
            throw .wrongTokenKind(expected: kind.name, found: found.name, offset: offset)
        }
        return (reader, keyID)
    }
}
