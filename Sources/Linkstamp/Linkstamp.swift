/// # Linkstamp
///
/// The front door: `import Linkstamp` gives a relay the whole engine. This module re-exports
/// - `LinkstampPipeline`, the pure pipeline: *prepare* a message once (`Engine.prepare` →
///   `Transmission`), then *stamp* each copy (`Transmission.render(_:into:)`), with no I/O;
/// - `LinkstampDeliver`, the relay's I/O around it: *deliver* the copies (Batch SMTP, the
///   `--out-dir` folder, `--sendmail`), the events, and the files the engine is loaded from
///   (`Engine.load`, `Configuration(contentsOf:)`, `SuppressionList(contentsOf:)`).
///
/// It must never re-serialize what it has no reason to change: every byte outside the fields and
/// parts it owns is copied from the input as it came. It owns only the bench's corpus reader
/// (`CorpusLoader`, `Bench/`) and the version; it must never hold pipeline logic. It never
/// listens on a socket (the servers are `TrackingServer` and `SMTPDoor`).
///
/// One import: `import Linkstamp` also brings what a relay or a click server needs from the
/// modules below — `SMTPReply` (MailBytes), `APIHeader` (SMTPAPI), `KeyRing`,
/// `TrackingDecoder` and `TrackedEvent` (Tracking).

@_exported import LinkstampDeliver
@_exported import LinkstampPipeline
@_exported import MailBytes
@_exported import SMTPAPI
@_exported import Tracking

/// The library's version.
public enum LinkstampVersion {
    /// The version printed by `linkstamp --version`.
    public static let current = "0.1.0"
}
