import Foundation
import Testing

@testable import LinkScan

/// Golden files: every `Fixtures/html/*.html` and `Fixtures/text/*.txt` is scanned and rendered
/// (see `Support.render`) and compared byte for byte with `<name>.expected` beside it; on a
/// mismatch `<name>.actual` is written there too.
@Suite struct GoldenFileTests {
    static func inputs(_ folder: String, _ ext: String) -> [String] {
        let directory = Support.fixturesURL.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix("." + ext) }.sorted().map { "\(folder)/\($0)" }
    }

    @Test func fixtureFoldersAreNotEmpty() {
        #expect(Self.inputs("html", "html").count >= 4)
        #expect(Self.inputs("text", "txt").count >= 2)
    }

    @Test(arguments: inputs("html", "html"))
    func html(_ path: String) throws {
        let bytes = Array(try Data(contentsOf: Support.fixturesURL.appendingPathComponent(path)))
        let rendered = Support.render(htmlBytes: bytes)
        Invariants.check(bytes, HTMLLinkScanner.scan(bytes), file: path)
        try Golden.compare(rendered, fixture: String(path.dropLast(".html".count)))
    }

    @Test(arguments: inputs("text", "txt"))
    func text(_ path: String) throws {
        let bytes = Array(try Data(contentsOf: Support.fixturesURL.appendingPathComponent(path)))
        let rendered = Support.render(textBytes: bytes)
        Invariants.check(bytes, TextLinkScanner.scan(bytes), file: path)
        try Golden.compare(rendered, fixture: String(path.dropLast(".txt".count)))
    }
}
