/// # LinkstampDeliver
///
/// The relay's I/O around the pure pipeline (`LinkstampPipeline`), the *deliver* end of the flow:
/// - the filter's outputs (`Filter`): a Batch SMTP stream (RFC 2442, `BatchSMTP`) on a
///   descriptor, one file per copy with `envelopes.jsonl`, or each copy handed to a
///   sendmail-compatible command; staged first, then published under `flock`;
/// - injection and policy-rejection events in SparkPost's webhook shape (`Events`);
/// - reading what an `Engine` is built from: `Engine.load`, `Configuration(contentsOf:)`,
///   `SuppressionList(contentsOf:)` (`Loading.swift`).
///
/// It must never change a copy's bytes (it writes what `Transmission.render` produced, framed
/// for its output), never write anything for a refused message, and never leave a half-written
/// line or file behind. Depends on `LinkstampPipeline`, `SMTPAPI`, `Tracking`, Foundation and the C
/// library.
