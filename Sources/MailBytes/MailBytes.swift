/// # MailBytes
///
/// The bytes core under every parser of Linkstamp: the few things each of them needs and that
/// must be spelled and behave the same everywhere.
///
/// It owns: ASCII byte constants and classes (``ASCII``), the `memchr` byte search, header
/// unfolding (``HeaderUnfolding``), base64 in both RFC 4648 alphabets (``Base64``), ISO 8601
/// timestamps from unix seconds (``ISO8601``), line endings (``LineEnding``) and the SMTP reply
/// every refusal turns into (``SMTPReply``, ``SMTPReplyConvertible``).
///
/// It must never: depend on another module (Foundation included), allocate where a caller's
/// hot loop calls it (the byte helpers are `@inlinable`), or know about a particular header,
/// markup or token format.

/// The line break convention of a message or of generated text.
public enum LineEnding: Sendable, Hashable {
    /// `"\r\n"` (RFC 5322 wire format).
    case crlf
    /// A bare `"\n"` (Unix mailboxes, many filters).
    case lf

    /// The bytes of the line break.
    public var bytes: [UInt8] {
        switch self {
        case .crlf: return [13, 10]
        case .lf: return [10]
        }
    }
}
