import Crypto
import MailBytes

/// The kind byte that opens every token's plaintext, so a link token can never pass for a
/// recipient token or the reverse.
enum TokenKind: UInt8 {
    case link = 1
    case recipient = 2
    /// The per-message token (see ``MessageInfo``).
    case message = 3

    var name: String {
        switch self {
        case .link: return "link"
        case .recipient: return "recipient"
        case .message: return "message"
        }
    }
}

/// Token wire format, versions 1 and 2:
///
///     token   = base64url-nopad( version keyID nonce ciphertext tag )
///     version = %x01 / %x02           ; 1 byte; new tokens are version 2
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
///                 ; flags bit 0 = link_unsubscribe, bit 1 = name present (absent = "Raw URL"),
///                 ; bit 2 = scanner trap link
///     recipient = %x02 transmissionID:varint rcptType:1 expires:zigzag-varint
///                 messageIDLength:varint messageID rcptTo:rest
///                 ; rcptType 0 = envelope, 1 = cc, 2 = bcc, 3 = archive
///     message   = %x03 … (see ``MessageInfo``)
///
/// URL kinds (version 2). A version-2 recipient token never appears alone in a URL: it is
/// followed by the 8-character kind tag of the URL it sits in,
///
///     recipient-segment = recipient-token kindTag
///     kindTag           = base64url( tags[6 * kind ..< 6 * kind + 6] )   ; 8 characters
///     tags              = SHA-256( tokenKey || "linkstamp-url-kind-tags" )  ; kind: click 0,
///                                                      ; open 1, initial open 2, unsubscribe 3
///
/// so the segment from a click or open URL does not work under `/u/`, and the reverse. The tags
/// come from the token's own one-time key (a secret the holder of a URL never sees), so one
/// SHA-256 per copy yields all four; the copy still costs one AEAD seal. A version-1 token (no
/// tag) still decodes, for every kind, until it expires; its event says it was not kind-bound.
enum TokenFormat {
    static let version: UInt8 = 2
    /// The version before URL kinds were bound (accepted when decoding).
    static let unboundVersion: UInt8 = 1
    /// Bytes of one kind tag before base64url, and characters after.
    static let kindTagByteCount = 6
    static let kindTagCount = 8
    private static let kindTagLabel = Array("linkstamp-url-kind-tags".utf8)
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
    /// The filter's invisible scanner-trap link.
    static let flagTrap: UInt8 = 0x04
    static let defaultLinkName = "Raw URL"

    /// Seals `plaintext` with `key` and returns the token's ASCII bytes.
    /// `fixedNonce` exists for known-answer tests only; nil draws 128 fresh random bits.
    /// `sealVersion` other than ``version`` exists for tests of old tokens only.
    static func seal(
        _ plaintext: [UInt8], key: TrackingKey, fixedNonce: (UInt64, UInt64)? = nil, sealVersion: UInt8 = version
    ) throws(TrackingError) -> [UInt8] {
        try sealToken(plaintext, key: key, fixedNonce: fixedNonce, sealVersion: sealVersion).token
    }

    /// Seals `plaintext` and also returns the token's one-time key (for its kind tags).
    static func sealReturningKey(
        _ plaintext: [UInt8], key: TrackingKey, fixedNonce: (UInt64, UInt64)? = nil, sealVersion: UInt8 = version
    ) throws(TrackingError) -> (token: [UInt8], tokenKey: SymmetricKey) {
        let sealed = try sealToken(plaintext, key: key, fixedNonce: fixedNonce, sealVersion: sealVersion)
        return (sealed.token, SymmetricKey(data: sealed.tokenKey))
    }

    /// The one sealing path: the token's ASCII bytes and its one-time key.
    ///
    /// Built for the per-copy cost: the raw token (prefix, ciphertext, tag) is assembled on the
    /// stack and base64url-encoded straight into the one array returned; the nonce comes from one
    /// `getrandom` call; the token key is derived with the ring key's prepared HMAC pads through
    /// concrete `SHA256` calls (see ``SecretBox/tokenKeyDigest(prefix:)``).
    static func sealToken(
        _ plaintext: [UInt8], key: TrackingKey, fixedNonce: (UInt64, UInt64)? = nil, sealVersion: UInt8 = version
    ) throws(TrackingError) -> (token: [UInt8], tokenKey: SHA256Digest) {
        let rawCount = prefixCount + plaintext.count + tagCount
        guard let chachaNonce = try? ChaChaPoly.Nonce(data: zeroNonce) else { throw .encryptionFailed }
        let sealed: (token: [UInt8], tokenKey: SHA256Digest)? = withUnsafeTemporaryAllocation(
            byteCount: rawCount, alignment: 8
        ) { raw in
            raw[0] = sealVersion
            raw[1] = UInt8(truncatingIfNeeded: key.id >> 8)
            raw[2] = UInt8(truncatingIfNeeded: key.id)
            let nonce = UnsafeMutableRawBufferPointer(rebasing: raw[headerCount..<prefixCount])
            if let fixedNonce {
                nonce.storeBytes(of: fixedNonce.0.bigEndian, toByteOffset: 0, as: UInt64.self)
                nonce.storeBytes(of: fixedNonce.1.bigEndian, toByteOffset: 8, as: UInt64.self)
            } else {
                TokenRandom.fill(nonce)
            }
            // `raw` first holds the prefix (the associated data); the ciphertext and tag follow.
            let prefix = UnsafeRawBufferPointer(rebasing: raw[0..<prefixCount])
            let digest = key.secret.tokenKeyDigest(prefix: prefix)
            guard
                let box = try? ChaChaPoly.seal(
                    plaintext, using: SymmetricKey(data: digest), nonce: chachaNonce, authenticating: prefix)
            else { return nil }
            // `combined` is ChaCha's nonce (our constant zeros), ciphertext, tag: keep the last two.
            let copied = box.combined.withUnsafeBytes { combined in
                guard combined.count == zeroNonce.count + plaintext.count + tagCount else { return false }
                UnsafeMutableRawBufferPointer(rebasing: raw[prefixCount...]).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: combined[zeroNonce.count...]))
                return true
            }
            guard copied else { return nil }
            var out = [UInt8]()
            out.reserveCapacity(Base64.encodedCount(rawCount, alphabet: .url))
            Base64.encode(UnsafeRawBufferPointer(raw), alphabet: .url, into: &out)
            return (out, digest)
        }
        guard let sealed else { throw .encryptionFailed }
        return sealed
    }

    /// Decodes and authenticates one token (`offset` locates it in the URL for errors).
    /// Returns the plaintext after the kind byte has been checked, and the key id.
    static func open(
        _ token: ArraySlice<UInt8>, expecting kind: TokenKind, keyRing: KeyRing, offset: Int
    ) throws(TrackingError) -> (reader: ByteReader, keyID: UInt16) {
        let opened = try open(token, expecting: kind, urlKind: nil, keyRing: keyRing, offset: offset)
        return (opened.reader, opened.keyID)
    }

    /// The four kind tags (32 base64url characters) of the token sealed with `tokenKey`.
    static func kindTags(_ tokenKey: SymmetricKey) -> [UInt8] {
        var hash = SHA256()
        tokenKey.withUnsafeBytes { hash.update(bufferPointer: $0) }
        hash.update(data: kindTagLabel)
        var out = [UInt8]()
        out.reserveCapacity(4 * kindTagCount)
        hash.finalize().withUnsafeBytes { digest in
            Base64.encode(
                UnsafeRawBufferPointer(rebasing: digest[0..<4 * kindTagByteCount]), alphabet: .url, into: &out)
        }
        return out
    }

    /// The four kind tags of the token whose one-time key is `tokenKey` (the seal's side: the
    /// key as ``sealToken(_:key:fixedNonce:sealVersion:)`` returns it, no `SymmetricKey` made).
    static func kindTags(digest tokenKey: SHA256Digest) -> [UInt8] {
        var hash = SHA256()
        tokenKey.withUnsafeBytes { hash.update(bufferPointer: $0) }
        kindTagLabel.withUnsafeBytes { hash.update(bufferPointer: $0) }
        var out = [UInt8]()
        out.reserveCapacity(4 * kindTagCount)
        hash.finalize().withUnsafeBytes { digest in
            Base64.encode(
                UnsafeRawBufferPointer(rebasing: digest[0..<4 * kindTagByteCount]), alphabet: .url, into: &out)
        }
        return out
    }

    /// The version byte a segment's token starts with, read from its first two characters.
    static func versionOf(_ segment: ArraySlice<UInt8>) -> UInt8? {
        guard segment.count >= 4, let head = Base64.decode(segment.prefix(4), alphabet: .url), let first = head.first
        else { return nil }
        return first
    }

    /// Opens a token. With `urlKind` (recipient tokens in a URL), a version-2 token must be
    /// followed by that kind's tag; a version-1 token has none and opens with `kindBound` false.
    static func open(
        _ segment: ArraySlice<UInt8>, expecting kind: TokenKind, urlKind: URLKind?, keyRing: KeyRing, offset: Int
    ) throws(TrackingError) -> (reader: ByteReader, keyID: UInt16, kindBound: Bool) {
        var token = segment
        var tag: ArraySlice<UInt8>?
        if urlKind != nil, versionOf(segment) == version {
            guard segment.count > kindTagCount else { throw .malformedToken(offset: offset) }
            token = segment.dropLast(kindTagCount)
            tag = segment.suffix(kindTagCount)
        }
        guard let raw = Base64.decode(token, alphabet: .url), raw.count >= minimumRawCount else {
            throw .malformedToken(offset: offset)
        }
        guard raw[0] == version || raw[0] == unboundVersion else { throw .unsupportedVersion(raw[0], offset: offset) }
        let keyID = UInt16(raw[1]) << 8 | UInt16(raw[2])
        guard let key = keyRing.key(id: keyID) else { throw .unknownKeyID(keyID, offset: offset) }
        // The prefix goes to HMAC and the AEAD as raw bytes, and the sealed box is handed over as
        // one buffer (ChaCha's constant nonce, ciphertext, tag): swift-crypto's generic paths over
        // array slices cost more than the cipher itself.
        var combined = zeroNonce
        combined.reserveCapacity(zeroNonce.count + raw.count - prefixCount)
        combined.append(contentsOf: raw[prefixCount...])
        let opened = raw.withUnsafeBytes { bytes -> (plaintext: [UInt8], tokenKey: SymmetricKey)? in
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<prefixCount])
            let tokenKey = key.secret.tokenKey(prefixBytes: prefix)
            guard let box = try? ChaChaPoly.SealedBox(combined: combined),
                let data = try? ChaChaPoly.open(box, using: tokenKey, authenticating: prefix)
            else { return nil }
            return (data.withUnsafeBytes { [UInt8]($0) }, tokenKey)
        }
        guard let opened else { throw .forged(offset: offset) }
        if let urlKind, let tag, !kindTagMatches(opened.tokenKey, urlKind, tag) {
            throw .wrongURLKind(offset: offset + segment.count - kindTagCount)
        }
        var reader = ByteReader(opened.plaintext)
        guard let kindByte = reader.readByte(), let foundKind = TokenKind(rawValue: kindByte) else {
            throw .malformedToken(offset: offset)
        }
        guard foundKind == kind else {
            throw .wrongTokenKind(expected: kind.name, found: foundKind.name, offset: offset)
        }
        return (reader, keyID, tag != nil)
    }

    /// Whether `tag` is the kind tag of `urlKind` for the token sealed with `tokenKey`: the same
    /// characters ``kindTags(_:)`` gives for that kind (its 6 bytes of the hash, base64url),
    /// compared in constant time (every byte's difference is folded before the one comparison).
    static func kindTagMatches(_ tokenKey: SymmetricKey, _ urlKind: URLKind, _ tag: ArraySlice<UInt8>) -> Bool {
        var hash = SHA256()
        tokenKey.withUnsafeBytes { hash.update(bufferPointer: $0) }
        kindTagLabel.withUnsafeBytes { hash.update(bufferPointer: $0) }
        let start = Int(urlKind.rawValue) * kindTagByteCount
        var expected = [UInt8]()
        expected.reserveCapacity(kindTagCount)
        hash.finalize().withUnsafeBytes { digest in
            Base64.encode(
                UnsafeRawBufferPointer(rebasing: digest[start..<start + kindTagByteCount]), alphabet: .url,
                into: &expected)
        }
        guard expected.count == tag.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(expected, tag) { difference |= a ^ b }
        return difference == 0
    }
}
