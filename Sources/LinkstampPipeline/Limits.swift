import MIME
import SMTPAPI
import HTMLRewrite
import CSSInline

/// Every limit the engine enforces, in one place. Past a limit the message is refused with an
/// SMTP reply; nothing is ever truncated silently.
public struct Limits: Sendable, Hashable {
    /// Largest message accepted, in bytes. Default 64 MiB (`552 5.3.4` past it).
    public var maxMessageBytes: Int = 64 << 20
    /// Most copies one message may produce (envelope recipients plus cc, bcc and archive).
    /// Default 100 000 (`550 5.5.3` past it).
    public var maxCopies: Int = 100_000
    /// Longest recipient address accepted, in bytes. Default 254 (RFC 5321 path limit less
    /// the angle brackets).
    public var maxAddressBytes: Int = 254
    /// MIME parsing limits: nesting depth 32, 10 000 parts, 1 MiB per header block,
    /// 2 000 fields per header block.
    public var mime: MIMELimits = MIMELimits()
    /// `X-MSYS-API` limits: campaign id 64 bytes, 10 tags, 1 000 cc/bcc/archive recipients,
    /// JSON nesting 64, 1 MiB value.
    public var api: APILimits = APILimits()
    /// Link scanning limits: URLs up to 4 096 bytes, 10 000 links per part.
    public var scan: ScanLimits = ScanLimits()
    /// CSS inlining limits (see `CSSLimits`).
    public var css: CSSLimits = CSSLimits()

    /// The defaults above.
    public init() {}
}
