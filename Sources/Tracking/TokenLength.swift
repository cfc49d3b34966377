import MailBytes

extension TrackingURLBuilder {
    /// The ``RecipientToken/segmentLength`` that ``recipientToken(_:)`` gives for `recipient`,
    /// computed from the token format without sealing (no random nonce, no AEAD, no SHA-256):
    /// base64url of version, key id, nonce, ciphertext (as long as the plaintext) and tag, then
    /// one kind tag. Throws what ``recipientToken(_:)`` would throw for the same input.
    public func recipientSegmentLength(_ recipient: RecipientInfo) throws(TrackingError) -> Int {
        guard keyRing.activeKey != nil else { throw .emptyKeyRing }
        let plaintextCount = try recipientPlaintext(recipient).count
        let rawCount = TokenFormat.prefixCount + plaintextCount + TokenFormat.tagCount
        return Base64.encodedCount(rawCount, alphabet: .url) + TokenFormat.kindTagCount
    }
}
