import Foundation
import TestSupport
import Testing

@testable import CSSInline

/// The inliner's exact output bytes on the project's own CSS cases (`corpus/css/*.html`) and HTML
/// documents (`corpus/html/*.html`), compared with `Fixtures/css/<name>.golden` and
/// `Fixtures/html/<name>.golden`. `ConformanceTests` checks the same cases against hand-written
/// expectations; these goldens pin every byte (sheet shrinking, quoting, untouched markup).
@Suite struct GoldenTests {
    /// `css/<name>` and `html/<name>` for every input of the project's own corpus.
    static let inputs: [String] = {
        let cases = ((try? Corpora.files(.own, .cssCases, suffix: ".html")) ?? []).map { "css/" + stem($0) }
        let documents = ((try? Corpora.files(.own, .html, suffix: ".html")) ?? []).map { "html/" + stem($0) }
        return cases + documents
    }()

    static func stem(_ url: URL) -> String { url.deletingPathExtension().lastPathComponent }

    @Test func inputsArePresent() {
        #expect(Self.inputs.filter { $0.hasPrefix("css/") }.count >= 25, "corpus/css cases missing")
        #expect(Self.inputs.filter { $0.hasPrefix("html/") }.count >= 10, "corpus/html documents missing")
    }

    @Test(arguments: inputs)
    func golden(_ input: String) throws {
        let html = Array(try Data(contentsOf: Corpora.ownRoot.appendingPathComponent(input + ".html")))
        var output: [UInt8]
        do {
            output = try CSSInliner().inline(html)
        } catch {
            output = Array("inline error: \(error)\n".utf8)
        }
        Support.expectGolden(output, expectedAt: Support.fixtures.appendingPathComponent(input + ".golden"))
    }
}
