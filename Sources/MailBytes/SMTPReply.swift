/// An SMTP reply a refusal turns into, e.g. `550 5.6.0 X-MSYS-API 'metadata' must be of type 'json object'`.
///
/// `text` never contains CR or LF: every piece of sender-supplied text quoted in it is sanitized
/// first, so the reply can be written on one SMTP reply line as is.
public struct SMTPReply: Error, Hashable, Sendable, CustomStringConvertible {
    /// The SMTP reply code: 550 for permanent refusals, 421 for temporary ones.
    public var code: Int
    /// The RFC 3463 enhanced status code, e.g. `"5.6.0"` or `"4.3.3"`.
    public var enhancedStatus: String
    /// The human-readable text, without code and enhanced status.
    public var text: String

    /// Creates a reply from its three parts.
    public init(code: Int, enhancedStatus: String, text: String) {
        self.code = code
        self.enhancedStatus = enhancedStatus
        self.text = text
    }

    /// `true` for 5yz replies: the sender must not retry the message unchanged.
    public var isPermanent: Bool { code >= 500 }

    /// The reply line without CRLF: `"550 5.6.0 <text>"`.
    public var description: String { "\(code) \(enhancedStatus) \(text)" }

    /// A permanent refusal of the message content: `550 5.6.0 <text>`.
    public static func permanent(_ text: String) -> SMTPReply {
        SMTPReply(code: 550, enhancedStatus: "5.6.0", text: text)
    }

    /// A temporary, local failure: `421 4.3.3 <text>`.
    public static func temporary(_ text: String) -> SMTPReply {
        SMTPReply(code: 421, enhancedStatus: "4.3.3", text: text)
    }

    /// `421 4.3.3 [internal] smtpapi unable to generate unique transmission id` (SparkPost's text).
    public static let uniqueIDFailure = SMTPReply.temporary(
        "[internal] smtpapi unable to generate unique transmission id")

    /// `554 5.6.0 message has no header`: the message has not one header field (`name:` line)
    /// before its first empty line or its first line that is not a field (empty input included).
    public static let noHeader = SMTPReply(code: 554, enhancedStatus: "5.6.0", text: "message has no header")

    /// `550 5.6.0 X-MSYS-API header must appear at most once`.
    public static let duplicateHeader = SMTPReply.permanent("X-MSYS-API header must appear at most once")
}

/// An error that a parser refuses input with, and the one SMTP reply it turns into. Every
/// parser's error type conforms, so a relay turns any refusal into its reply in one place:
/// `catch let error as SMTPReplyConvertible { reply = error.smtpReply }`.
public protocol SMTPReplyConvertible: Error {
    /// The reply a relay sends back when it refuses the message for this reason.
    var smtpReply: SMTPReply { get }
}

extension SMTPReply: SMTPReplyConvertible {
    /// The reply itself.
    public var smtpReply: SMTPReply { self }
}
