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
///     version = %x01                  ; 1 byte, authenticated (associated data)
///     keyID   = 2 bytes big-endian    ; authenticated (associated data)
///     nonce   = 12 random bytes       ; ChaCha20-Poly1305
///     tag     = 16 bytes
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
    static let nonceCount = 12
    static let tagCount = 16
    /// Smallest decodable token: header, nonce, tag and the kind byte.
    static let minimumRawCount = headerCount + nonceCount + tagCount + 1

    static let flagUnsubscribe: UInt8 = 0x01
    static let flagNamed: UInt8 = 0x02
    static let defaultLinkName = "Raw URL"

    /// Seals `plaintext` with `key` and returns the token's ASCII bytes.
    static func seal(_ plaintext: [UInt8], key: TrackingKey) throws(TrackingError) -> [UInt8] {
        // `raw` starts as the header alone, which is exactly the associated data; the sealed box
        // is appended after it, so the token's bytes are assembled in one buffer.
        var raw = [UInt8]()
        raw.reserveCapacity(headerCount + nonceCount + plaintext.count + tagCount)
        raw.append(version)
        raw.append(UInt8(truncatingIfNeeded: key.id >> 8))
        raw.append(UInt8(truncatingIfNeeded: key.id))
        do {
            let box = try ChaChaPoly.seal(plaintext, using: key.secret.key, nonce: ChaChaPoly.Nonce(), authenticating: raw)
            raw.append(contentsOf: box.combined)
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
        let plaintext: [UInt8]
        do {
            let box = try ChaChaPoly.SealedBox(combined: raw[headerCount...])
            let data = try ChaChaPoly.open(box, using: key.secret.key, authenticating: raw[0..<headerCount])
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
