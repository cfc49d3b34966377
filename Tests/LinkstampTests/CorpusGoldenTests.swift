import Foundation
import TestSupport
import Testing

@testable import Linkstamp

/// Every message of the project's own corpus (`corpus/eml`) through the filter, every copy out,
/// byte for byte, rendered as `GoldenTests` does (placeholder tokens, fixed clock and
/// transmission id). The goldens are `Fixtures/corpus-golden/<name>.golden`.
@Suite struct CorpusGoldenTests {
    static let folder = Corpus.packageRoot.appendingPathComponent("Tests/LinkstampTests/Fixtures/corpus-golden")
    static let cases: [String] = ((try? Corpora.files(.own, .eml, suffix: ".eml")) ?? [])
        .map { String($0.lastPathComponent.dropLast(4)) }

    @Test func everyCorpusMessageHasAGolden() throws {
        #expect(Self.cases.count >= 16, "corpus/eml has only \(Self.cases.count) messages")
        let goldens = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path)
            .filter { $0.hasSuffix(".golden") }.map { String($0.dropLast(7)) }.sorted()
        #expect(goldens == Self.cases || Golden.updating, "goldens without a message or messages without one")
    }

    @Test(arguments: cases)
    func golden(_ name: String) throws {
        let input = Array(try Data(contentsOf: Corpora.ownRoot.appendingPathComponent("eml/\(name).eml")))
        let actual = try GoldenTests.render(input)
        if let difference = Golden.check(actual, against: Self.folder.appendingPathComponent(name + ".golden")) {
            Issue.record("\(name): \(difference)")
        }
    }
}
