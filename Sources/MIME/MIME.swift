/// # MIME
///
/// Owns the structure of an RFC 5322 / RFC 2045–2049 message as *byte ranges* into the caller's
/// `[UInt8]`: header blocks (every field with its raw bytes, folds included), the multipart tree
/// (a flat list of parts walked with an explicit stack), Content-Type / Content-Disposition
/// parameters (RFC 2045, RFC 2231), transfer encodings (quoted-printable, base64, 7bit, 8bit,
/// binary), RFC 2047 encoded-words for display names and subjects, and the choice of the body
/// parts that tracking rewrites (docs/SPEC.md §4.2).
///
/// It must never modify, copy or re-serialize the message: everything it returns is an offset
/// into the input. It must never crash, recurse without bound or run in more than linear time on
/// hostile input; malformed MIME is parsed as well as it can be and only the limits in
/// ``MIMELimits`` turn into a ``MIMEError``. It never does I/O.
///
/// Depends on `MailBytes` only (ASCII, the `memchr` search, unfolding, base64, `LineEnding`,
/// `SMTPReply`), which it re-exports: no Foundation and no other module of the project.

@_exported import MailBytes

/// Every bound the MIME walker enforces. Exceeding one is the only way parsing fails.
public struct MIMELimits: Sendable, Hashable {
    /// Deepest multipart nesting allowed; the top-level message has depth 0. Default `32`.
    public var maxDepth = 32
    /// Most parts (the whole message included) in one message. Default `10_000`.
    public var maxParts = 10_000
    /// Most bytes in one header block, separator line excluded. Default `1 << 20` (1 MiB).
    public var maxHeaderBytes = 1 << 20
    /// Most fields in one header block. Default `2_000`.
    public var maxFieldsPerHeader = 2_000
    /// Longest RFC 2047 encoded-word ``EncodedWord/decode(_:limits:)`` recognises, in bytes
    /// (RFC 2047 says 75; real mailers write longer ones). Default `1_024`.
    public var maxEncodedWordBytes = 1_024

    /// The defaults written above.
    public init() {}
}

/// The single error of the MIME module: a limit of ``MIMELimits`` was exceeded.
public struct MIMEError: SMTPReplyConvertible, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case headerTooLarge(limit: Int)
        case tooManyHeaderFields(limit: Int)
        case nestingTooDeep(limit: Int)
        case tooManyParts(limit: Int)
    }

    private let code: Code
    /// Byte offset into the message where the limit was hit.
    public let offset: Int

    private init(_ code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// A header block is longer than ``MIMELimits/maxHeaderBytes``.
    public static func headerTooLarge(limit: Int, offset: Int) -> MIMEError {
        MIMEError(.headerTooLarge(limit: limit), offset: offset)
    }

    /// A header block has more fields than ``MIMELimits/maxFieldsPerHeader``.
    public static func tooManyHeaderFields(limit: Int, offset: Int) -> MIMEError {
        MIMEError(.tooManyHeaderFields(limit: limit), offset: offset)
    }

    /// Multipart nesting deeper than ``MIMELimits/maxDepth``.
    public static func nestingTooDeep(limit: Int, offset: Int) -> MIMEError {
        MIMEError(.nestingTooDeep(limit: limit), offset: offset)
    }

    /// More parts than ``MIMELimits/maxParts``.
    public static func tooManyParts(limit: Int, offset: Int) -> MIMEError {
        MIMEError(.tooManyParts(limit: limit), offset: offset)
    }

    /// The SMTP reply a relay gives when it refuses the message for this reason:
    /// `550 5.6.0 message structure exceeds limits: <description>`.
    public var smtpReply: SMTPReply { .permanent("message structure exceeds limits: " + description) }

    /// A human readable explanation with the byte offset, suitable after `550 5.6.0 `.
    public var description: String {
        switch code {
        case .headerTooLarge(let limit):
            return "MIME header block larger than \(limit) bytes at offset \(offset)"
        case .tooManyHeaderFields(let limit):
            return "MIME header block with more than \(limit) fields at offset \(offset)"
        case .nestingTooDeep(let limit):
            return "MIME multipart nesting deeper than \(limit) at offset \(offset)"
        case .tooManyParts(let limit):
            return "MIME message with more than \(limit) parts at offset \(offset)"
        }
    }
}
