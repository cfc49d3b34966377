/// # Tracking
///
/// Owns the secrets and the wire format of Linkstamp's tracked URLs:
/// - the key ring (text file format, owner-only creation, atomic writes, rotation),
/// - token encoding and decoding: ChaCha20-Poly1305 under a one-token key derived with
///   HMAC-SHA256 from the ring key and a 128-bit random nonce, base64url (see `TokenFormat`),
/// - building click, open, initial-open and one-click unsubscribe URLs,
/// - turning a tracked URL back into a ``TrackedEvent``.
///
/// What this module must never do:
/// - emit anything a reader could use to learn a recipient's address or forge a redirect target
///   (every field lives inside the authenticated ciphertext; only version and key id are clear),
/// - accept a token that does not authenticate under a key of the ring, or crash on any input,
/// - touch message bytes, MIME or HTML: callers splice the ASCII tokens it returns,
/// - do I/O other than reading and writing the key ring file (`KeyRing+File.swift`).
///
/// Depends on swift-crypto (`Crypto`), `MailBytes` (base64, ISO 8601) and the C library only,
/// on no other module of the project, so a click server can link it without the mail pipeline.

import MailBytes

/// Every limit of the Tracking module, in one place.
public struct TrackingLimits: Sendable, Hashable {
    /// Longest tracked target URL, in UTF-8 bytes. Default 4096 (docs/SPEC.md §4.4: longer links are not
    /// tracked). Encoding a longer target throws.
    public var maxTargetBytes: Int
    /// Longest link name kept in a link token, in UTF-8 bytes. Default 63 (docs/SPEC.md §4.5). Longer
    /// names are truncated at a UTF-8 scalar boundary, as SparkPost caps them.
    public var maxLinkNameBytes: Int
    /// Longest message id and recipient address, in UTF-8 bytes. Default 998 (one header line).
    /// Encoding a longer field throws.
    public var maxFieldBytes: Int
    /// Longest URL the decoder looks at, in bytes. Default 16384. Longer input is refused.
    public var maxURLBytes: Int
    /// Largest key ring file read, in bytes. Default 1048576 (1 MiB).
    public var maxKeyRingFileBytes: Int
    /// Most keys a key ring file may hold. Default 4096.
    public var maxKeys: Int
    /// Default token lifetime in seconds, used by ``RecipientInfo/expiry(sentAt:limits:)``.
    /// Default 31536000 (365 days, docs/SPEC.md §4.10).
    public var tokenLifetime: Int64
    /// Longest metadata (compact JSON) a message token carries, in bytes. Default 1000
    /// (SparkPost's limit for `rcpt_meta` in engagement events). Encoding more throws.
    public var maxMetadataBytes: Int = 1000

    /// The defaults listed on each property.
    public init(
        maxTargetBytes: Int = 4096,
        maxLinkNameBytes: Int = 63,
        maxFieldBytes: Int = 998,
        maxURLBytes: Int = 16384,
        maxKeyRingFileBytes: Int = 1 << 20,
        maxKeys: Int = 4096,
        tokenLifetime: Int64 = 365 * 86_400
    ) {
        self.maxTargetBytes = maxTargetBytes
        self.maxLinkNameBytes = maxLinkNameBytes
        self.maxFieldBytes = maxFieldBytes
        self.maxURLBytes = maxURLBytes
        self.maxKeyRingFileBytes = maxKeyRingFileBytes
        self.maxKeys = maxKeys
        self.tokenLifetime = tokenLifetime
    }

    /// The default limits.
    public static let `default` = TrackingLimits()
}
