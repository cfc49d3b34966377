import Foundation
import TestSupport
import Testing

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Whole messages in, every copy out, byte for byte. Tokens are placeholders (`L<n>` for the
/// link part, `R<n>` for the recipient part) so the files stay stable; the real tokens are
/// checked by decoding in `TrackingPipelineTests`.
///
/// A missing or different `.golden` makes the test fail and writes `<name>.golden.actual`
/// beside it for review; `LINKSTAMP_UPDATE_GOLDEN=1` rewrites it instead and prints what changed
/// (see `TestSupport.Golden`). `CorpusGoldenTests` does the same over `corpus/eml`.
@Suite struct GoldenTests {
    static let folder = Corpus.packageRoot.appendingPathComponent("Tests/LinkstampTests/Fixtures/golden")
    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasSuffix(".eml") }.map { String($0.dropLast(4)) }.sorted()

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 12, "golden fixtures missing")
    }

    @Test(arguments: cases)
    func golden(_ name: String) throws {
        let input = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name + ".eml")))
        let actual = try Self.render(input)
        if let difference = Golden.check(actual, against: Self.folder.appendingPathComponent(name + ".golden")) {
            Issue.record("\(name): \(difference)")
        }
    }

    /// Every copy of `input` for one envelope recipient, with placeholder tokens, a fixed clock
    /// and transmission id, each between `### copy …` and `### end` lines.
    static func render(_ input: [UInt8]) throws -> [UInt8] {
        var engine = try Fixture.engine()
        engine.placeholderTokensForTesting = true
        let transmission = try engine.prepare(
            message: input, envelope: Envelope(sender: "s@example.com", recipients: ["r@example.org"]),
            now: Fixture.now, transmissionID: 1)
        var actual: [UInt8] = []
        for copy in transmission.copies {
            actual += Array("### copy \(copy.index) \(copy.address) \(copy.rcptType?.rawValue ?? "rcpt")\n".utf8)
            try transmission.render(copy, into: &actual)
            actual += Array("\n### end\n".utf8)
        }
        return actual
    }
}
