/// # Linkstamp
///
/// The front door: `import Linkstamp` gives a relay the whole engine. This module re-exports
/// - `LinkstampPipeline`, the pure pipeline: *prepare* a message once (`Engine.prepare` →
///   `Transmission`), then *stamp* each copy (`Transmission.render(_:into:)`), with no I/O;
/// - `LinkstampDeliver`, the relay's I/O around it: *deliver* the copies (Batch SMTP, the
///   `--out-dir` folder, `--sendmail`), the events, and the files the engine is loaded from
///   (`Engine.load`, `Configuration(contentsOf:)`, `SuppressionList(contentsOf:)`).
///
/// It owns only the bench's corpus reader (`CorpusLoader`, `Bench/`) and the version.
/// It must never hold pipeline logic: what it adds must be reachable from neither the pipeline
/// nor the deliver module.
@_exported import LinkstampDeliver
@_exported import LinkstampPipeline

/// The library's version.
public enum LinkstampVersion {
    /// The version printed by `linkstamp --version`.
    public static let current = "0.1.0"
}
