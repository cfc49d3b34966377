/// # LinkstampPipeline
///
/// The pipeline a relay runs on every outgoing message, as its data flows:
/// - `Prepare/`: one incoming message prepared ONCE into a `Transmission` — header block split,
///   `X-MSYS-API` validated and removed, options resolved over the configuration, recipients
///   expanded and de-duplicated, header edits, body parts decoded, CSS inlined, links and pixel
///   points found, tokens' per-message parts computed, and everything laid out as a `Template`
///   of wire-ready segments with holes.
/// - `Stamp/`: rendering a copy: the per-recipient token and header fields spliced into those
///   segments, written to a caller-supplied `CopySink` (`render(_:into:)`).
/// - at the top level, what stays the same from one message to the next: `Engine`, `Limits`,
///   `Configuration` (parsed from text), `SuppressionList` (parsed from text), `Envelope`.
///
/// It must never re-serialize what it has no reason to change: every byte outside the fields and
/// parts it owns is copied from the input as it came. Parsing of each concern lives in its own
/// module (`SMTPAPI`, `MIME`, `LinkScan`, `CSSInline`, `Tracking`); this module only wires
/// them and decides.
///
/// It must never do I/O: no files, descriptors, locks or child processes (those are
/// `LinkstampDeliver`'s, which depends on this module and never the other way round), no
/// sockets (the servers are `TrackingServer` and `SMTPDoor`), and it never decodes a tracked URL
/// (that is `Tracking`'s `TrackingDecoder`).
///
/// Depends on `SMTPAPI`, `MIME`, `LinkScan`, `CSSInline`, `Tracking` and Foundation (dates,
/// the process id and environment only).
