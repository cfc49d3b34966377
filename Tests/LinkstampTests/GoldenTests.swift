import Foundation
import Testing
@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// Whole messages in, every copy out, byte for byte. Tokens are placeholders (`L<n>` for the
/// link part, `R<n>` for the recipient part) so the files stay stable; the real tokens are
/// checked by decoding in `TrackingPipelineTests`.
///
/// A missing or different `.golden` makes the test fail and writes `<name>.golden.actual`
/// beside it for review.
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
        let goldenURL = Self.folder.appendingPathComponent(name + ".golden")
        let expected = (try? Data(contentsOf: goldenURL)).map(Array.init)
        let actualURL = Self.folder.appendingPathComponent(name + ".golden.actual")
        if expected != actual {
            try Data(actual).write(to: actualURL)
            Issue.record("\(name): output differs from \(name).golden; see \(name).golden.actual")
        } else {
            try? FileManager.default.removeItem(at: actualURL)
        }
    }
}
