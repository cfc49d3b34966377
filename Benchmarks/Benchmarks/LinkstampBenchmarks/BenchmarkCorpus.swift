import Foundation
import Linkstamp

/// The inputs every benchmark runs on, loaded once per process.
///
/// The real-world corpus sits beside the project (`<root>/../shared/corpus/{eml,html}`); a clone
/// without it falls back to the bundled `<root>/corpus/`. The folder's label is part of every
/// benchmark name, so allocation thresholds recorded on one corpus are never checked against
/// runs on another. `LINKSTAMP_BENCH_CORPUS` names another root holding `eml/` and `html/`.
struct BenchmarkCorpus: Sendable {
    /// Which corpus was found: `shared` or `bundled`, or `custom`.
    let label: String
    /// `.eml` messages, as they are.
    let messages: [CorpusLoader.Item]
    /// `.html` documents (each also wrapped in a tracked message).
    let documents: [CorpusLoader.Item]

    /// The benchmark package's own folder, from this file's path
    /// (`Benchmarks/Benchmarks/LinkstampBenchmarks/BenchmarkCorpus.swift`).
    static let projectRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func load() -> BenchmarkCorpus {
        let environment = ProcessInfo.processInfo.environment
        if let custom = environment["LINKSTAMP_BENCH_CORPUS"], !custom.isEmpty {
            return BenchmarkCorpus(
                label: "custom", messages: items(in: custom + "/eml"), documents: items(in: custom + "/html"))
        }
        let shared = projectRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus").path
        let sharedMessages = items(in: shared + "/eml")
        let sharedDocuments = items(in: shared + "/html")
        if !sharedMessages.isEmpty && !sharedDocuments.isEmpty {
            return BenchmarkCorpus(label: "shared", messages: sharedMessages, documents: sharedDocuments)
        }
        // The bundled corpus has messages only; their decoded HTML parts stand in for documents.
        // The invalid message stays: refusing is part of the work.
        let bundled = items(in: projectRoot.appendingPathComponent("corpus").path)
        return BenchmarkCorpus(label: "bundled", messages: bundled, documents: bundled.compactMap(htmlPart))
    }

    /// The message's HTML body part, wrapped like any `.html` input.
    private static func htmlPart(of item: CorpusLoader.Item) -> CorpusLoader.Item? {
        guard let html = CorpusLoader.htmlDocument(of: item) else { return nil }
        return CorpusLoader.Item(name: item.name, message: CorpusLoader.wrap(html: html), html: html)
    }

    private static func items(in folder: String) -> [CorpusLoader.Item] {
        (try? CorpusLoader.load(folder: folder)) ?? []
    }
}
