import CSSInline
import LinkScan
import MIME
import SMTPAPI
import Tracking

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
    /// Link scanning limits: URLs up to 4 096 bytes, 10 000 links per part, link names cut at
    /// 63 bytes. The owner of the rules links and tokens share: `tracking` takes its URL cap
    /// and link-name cut from here, so a link the scanner keeps is always one a token can carry.
    public var scan: ScanLimits = ScanLimits()
    /// CSS inlining limits (see `CSSLimits`).
    public var css: CSSLimits = CSSLimits()

    /// The limits tokens are sealed with: `scan`'s URL cap (`maxTargetBytes`) and link-name cut
    /// (`maxLinkNameBytes`), `TrackingLimits`' defaults otherwise. The token lifetime is the
    /// configuration's `token_lifetime_days` (see `Engine`).
    public var tracking: TrackingLimits {
        var limits = TrackingLimits.default
        limits.maxTargetBytes = scan.maxURLBytes
        limits.maxLinkNameBytes = scan.maxLinkNameBytes
        return limits
    }

    /// The defaults above.
    public init() {}

    /// Refuses a message of `byteCount` bytes when it is larger than `maxMessageBytes`:
    /// `552 5.3.4 message exceeds N bytes`. The one place this refusal is made (preparing a
    /// message, and the filter while it reads one).
    public func checkMessageSize(_ byteCount: Int) throws(SMTPReply) {
        guard byteCount <= maxMessageBytes else {
            throw SMTPReply(code: 552, enhancedStatus: "5.3.4", text: "message exceeds \(maxMessageBytes) bytes")
        }
    }
}
