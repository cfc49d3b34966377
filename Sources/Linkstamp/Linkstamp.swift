/// # Linkstamp
///
/// The pipeline a relay runs on every outgoing message. It owns:
/// - `Transmission`: one incoming message prepared ONCE — header block split, `X-MSYS-API`
///   validated and removed, recipients expanded and de-duplicated, body parts decoded, CSS
///   inlined, links and pixel points found, tokens' per-message parts computed, and everything
///   laid out as wire-ready segments with holes.
/// - rendering a copy: the per-recipient token and header fields spliced into those segments,
///   written to a caller-supplied sink (`render(_:into:)`).
/// - the filter's outputs: Batch SMTP (RFC 2442), one file per copy with `envelopes.jsonl`,
///   injection events in SparkPost's webhook shape.
///
/// It must never re-serialize what it has no reason to change: every byte outside the fields and
/// parts it owns is copied from the input as it came. Parsing of each concern lives in its own
/// module (`MailBytes`, `SMTPAPI`, `MIME`, `LinkScan`, `CSSInline`, `Tracking`); this module only wires
/// them and decides.
///
/// Preparing and rendering never do I/O: files, descriptors, locks and child processes are
/// touched only by the filter's outputs (`Filter`) and the loaders (`Engine.load`, the bench's
/// `CorpusLoader`). It never listens on a socket (the servers are `TrackingServer` and
/// `SMTPDoor`) and never decodes a tracked URL (that is `Tracking`'s `TrackingDecoder`).
///
/// Depends on `MailBytes`, `SMTPAPI`, `MIME`, `LinkScan`, `CSSInline`, `Tracking` and Foundation.
///
/// One import: `import Linkstamp` also brings what a relay or a click server needs from the
/// modules below — `SMTPReply` (MailBytes), `APIHeader` (SMTPAPI), `KeyRing`,
/// `TrackingDecoder` and `TrackedEvent` (Tracking).

@_exported import MailBytes
@_exported import SMTPAPI
@_exported import Tracking

/// The library's version.
public enum LinkstampVersion {
    /// The version printed by `linkstamp --version`.
    public static let current = "0.1.0"
}
