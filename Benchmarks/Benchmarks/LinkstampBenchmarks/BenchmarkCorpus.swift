import Foundation
import Linkstamp

/// The inputs every benchmark runs on, loaded once per process.
///
/// The real-world corpus sits beside the project (`<root>/../shared/corpus/{eml,html}`); a clone
/// without it falls back to the bundled `<root>/corpus/`. The folder's label is part of every
/// benchmark name, so allocation thresholds recorded on one corpus are never checked against
/// runs on another. `LINKSTAMP_BENCH_CORPUS` names another root holding `eml/` and `html/`, or
/// is `bundled` to use the bundled corpus even when the shared one is there.
struct BenchmarkCorpus: Sendable {
    /// Which corpus was found: `shared` or `bundled`, or `custom`.
    let label: String
    /// `.eml` messages, as they are.
    let messages: [CorpusLoader.Item]
    /// `.html` documents (each also wrapped in a tracked message).
    let documents: [CorpusLoader.Item]

    /// The project's root folder, three folders above this file
    /// (`<root>/Benchmarks/Benchmarks/LinkstampBenchmarks/BenchmarkCorpus.swift`).
    static let projectRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func load() -> BenchmarkCorpus {
        let environment = ProcessInfo.processInfo.environment
        let choice = environment["LINKSTAMP_BENCH_CORPUS"] ?? ""
        if choice == "bundled" { return bundled() }
        if !choice.isEmpty {
            return BenchmarkCorpus(
                label: "custom", messages: items(in: choice + "/eml"), documents: items(in: choice + "/html"))
        }
        let shared = projectRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus").path
        let sharedMessages = items(in: shared + "/eml")
        let sharedDocuments = items(in: shared + "/html")
        if !sharedMessages.isEmpty && !sharedDocuments.isEmpty {
            return BenchmarkCorpus(label: "shared", messages: sharedMessages, documents: sharedDocuments)
        }
        return bundled()
    }

    /// The bundled corpus has messages only; their decoded HTML parts stand in for documents.
    /// The invalid message stays: refusing is part of the work.
    private static func bundled() -> BenchmarkCorpus {
        let messages = items(in: projectRoot.appendingPathComponent("corpus").path)
        return BenchmarkCorpus(label: "bundled", messages: messages, documents: messages.compactMap(htmlPart))
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
