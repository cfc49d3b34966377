import MailBytes

/// Every failure of the Tracking module: key ring I/O and format, encoding limits, and refused
/// tracked URLs. `offset` is a byte offset into the input (the URL or the key ring file) when
/// one is meaningful.
public struct TrackingError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case notTrackingURL
        case malformedToken
        case forged
        case unknownKeyID(UInt16)
        case unsupportedVersion(UInt8)
        case expired(Int64)
        case transmissionMismatch
        case wrongTokenKind(expected: String, found: String)
        case wrongURLKind
        case urlTooLong(Int)
        case emptyKeyRing
        case encryptionFailed
        case fieldTooLong(field: String, bytes: Int, limit: Int)
        case invalidField(field: String, reason: String)
        case keyRingSyntax(line: Int, reason: String)
        case keyRingIO(operation: String, path: String, reason: String)
    }

    private let code: Code
    /// Byte offset into the input where the problem was found, when known.
    public let offset: Int?

    private init(_ code: Code, offset: Int? = nil) {
        self.code = code
        self.offset = offset
    }

    /// The URL's path is none of the tracked URL shapes.
    public static func notTrackingURL(offset: Int? = nil) -> TrackingError {
        TrackingError(.notTrackingURL, offset: offset)
    }
    /// A token is not valid base64url or is too short to hold a sealed box.
    public static func malformedToken(offset: Int? = nil) -> TrackingError {
        TrackingError(.malformedToken, offset: offset)
    }
    /// A token did not authenticate under the key its header names.
    public static func forged(offset: Int? = nil) -> TrackingError {
        TrackingError(.forged, offset: offset)
    }
    /// A token names a key id that the ring does not hold.
    public static func unknownKeyID(_ id: UInt16, offset: Int? = nil) -> TrackingError {
        TrackingError(.unknownKeyID(id), offset: offset)
    }
    /// A token's version byte is not one this build understands.
    public static func unsupportedVersion(_ version: UInt8, offset: Int? = nil) -> TrackingError {
        TrackingError(.unsupportedVersion(version), offset: offset)
    }
    /// A recipient token whose expiry (unix seconds) has passed.
    public static func expired(at expires: Int64, offset: Int? = nil) -> TrackingError {
        TrackingError(.expired(expires), offset: offset)
    }
    /// A click whose link and recipient tokens carry different transmission ids.
    public static func transmissionMismatch(offset: Int? = nil) -> TrackingError {
        TrackingError(.transmissionMismatch, offset: offset)
    }
    /// A link token used where a recipient token belongs, or the reverse.
    public static func wrongTokenKind(expected: String, found: String, offset: Int? = nil) -> TrackingError {
        TrackingError(.wrongTokenKind(expected: expected, found: found), offset: offset)
    }
    /// A recipient token whose kind tag is not the one of the URL it sits in (a token taken
    /// from a click or open URL and put under `/u/`, say), or whose tag was altered.
    public static func wrongURLKind(offset: Int? = nil) -> TrackingError {
        TrackingError(.wrongURLKind, offset: offset)
    }
    /// The URL handed to the decoder exceeds ``TrackingLimits/maxURLBytes``.
    public static func urlTooLong(limit: Int) -> TrackingError {
        TrackingError(.urlTooLong(limit))
    }
    /// The key ring holds no key, so nothing can be encoded or decoded.
    public static var emptyKeyRing: TrackingError { TrackingError(.emptyKeyRing) }
    /// The cryptographic library refused to seal a token (never expected in practice).
    public static var encryptionFailed: TrackingError { TrackingError(.encryptionFailed) }
    /// A field to encode exceeds its limit.
    public static func fieldTooLong(_ field: String, bytes: Int, limit: Int) -> TrackingError {
        TrackingError(.fieldTooLong(field: field, bytes: bytes, limit: limit))
    }
    /// A field to encode has a value the token format cannot carry.
    public static func invalidField(_ field: String, reason: String) -> TrackingError {
        TrackingError(.invalidField(field: field, reason: reason))
    }
    /// A key ring file line that does not follow `<id> <base64 of 32 bytes>`.
    public static func keyRingSyntax(line: Int, reason: String, offset: Int? = nil) -> TrackingError {
        TrackingError(.keyRingSyntax(line: line, reason: reason), offset: offset)
    }
    /// A key ring file operation failed at the operating system level.
    public static func keyRingIO(_ operation: String, path: String, reason: String) -> TrackingError {
        TrackingError(.keyRingIO(operation: operation, path: path, reason: reason))
    }

    /// True when the URL was refused because it is forged, tampered with, expired or
    /// inconsistent (as opposed to not being a tracked URL at all or a local I/O problem).
    public var isRefusedToken: Bool {
        switch code {
        case .malformedToken, .forged, .unknownKeyID, .unsupportedVersion, .expired, .transmissionMismatch,
            .wrongTokenKind, .wrongURLKind:
            return true
        default:
            return false
        }
    }

    /// True for a genuine token whose expiry has passed (a click server still redirects it).
    public var isExpired: Bool {
        if case .expired = code { return true }
        return false
    }

    /// A one-line, human-readable message.
    public var description: String {
        switch code {
        case .notTrackingURL:
            return "not a Linkstamp tracking URL"
        case .malformedToken:
            return "token is truncated or malformed"
        case .forged:
            return "token was not signed by any key in the key ring (forged or re-keyed)"
        case .unknownKeyID(let id):
            return "unknown key id \(id)"
        case .unsupportedVersion(let version):
            return "unsupported token version \(version)"
        case .expired(let expires):
            return "token expired at \(ISO8601.format(unixSeconds: expires))"
        case .transmissionMismatch:
            return "link and recipient tokens belong to different transmissions"
        case .wrongTokenKind(let expected, let found):
            return "\(found) token found where a \(expected) token belongs"
        case .wrongURLKind:
            return
                "token belongs to another kind of URL (click, open, initial open, unsubscribe) or its kind tag was altered"
        case .urlTooLong(let limit):
            return "URL is longer than \(limit) bytes"
        case .emptyKeyRing:
            return "key ring holds no key"
        case .encryptionFailed:
            return "token encryption failed"
        case .fieldTooLong(let field, let bytes, let limit):
            return "\(field) is \(bytes) bytes, more than the limit of \(limit)"
        case .invalidField(let field, let reason):
            return "\(field) \(reason)"
        case .keyRingSyntax(let line, let reason):
            return "key ring line \(line): \(reason)"
        case .keyRingIO(let operation, let path, let reason):
            return "cannot \(operation) key ring \(path): \(reason)"
        }
    }
}
