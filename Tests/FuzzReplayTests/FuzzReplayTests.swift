import Foundation
import FuzzChecks
import Testing

/// Replays, through the fuzzer's own checks, every committed input: `Fuzz/Seeds/<target>/` (the
/// hand-made starting points, which must exist for every target) and `Fuzz/Regressions/<target>/`
/// (minimised inputs the fuzzer once broke an invariant with). A regression listed in the folder's
/// `SKIP` file (one file name per line, `#` comments) is a known open defect and is not replayed.
/// A broken invariant traps, which fails the run with the check's message on stderr.
@Suite struct FuzzReplayTests {
    static let fuzzFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static let targetNames = FuzzTargets.all.map(\.name)

    @Test func everyParserHasATarget() {
        #expect(Set(Self.targetNames) == ["smtpapi", "mime", "html", "text", "css", "token", "transmission"])
        #expect(Set(Self.targetNames).count == Self.targetNames.count)
    }

    @Test(arguments: targetNames) func seedsPassTheirChecks(target: String) throws {
        let files = try Self.inputs(in: "Seeds", target: target)
        #expect(!files.isEmpty, "Fuzz/Seeds/\(target) is empty")
        try Self.replay(files, target: target)
    }

    @Test(arguments: targetNames) func regressionsPassTheirChecks(target: String) throws {
        try Self.replay(try Self.inputs(in: "Regressions", target: target), target: target)
    }

    static func replay(_ files: [URL], target: String) throws {
        let check = try #require(FuzzTargets.check(named: target))
        for file in files {
            let bytes = try Data(contentsOf: file)
            bytes.withUnsafeBytes { check($0) }
        }
    }

    /// The input files of `Fuzz/<kind>/<target>/`, minus README, SKIP and what SKIP lists.
    static func inputs(in kind: String, target: String) throws -> [URL] {
        let folder = fuzzFolder.appendingPathComponent(kind).appendingPathComponent(target)
        guard FileManager.default.fileExists(atPath: folder.path) else { return [] }
        var skipped: Set<String> = []
        if let list = try? String(contentsOf: folder.appendingPathComponent("SKIP"), encoding: .utf8) {
            for line in list.split(separator: "\n") {
                let name = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { skipped.insert(name) }
            }
        }
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            .filter { !["SKIP", "README.md", ".gitkeep"].contains($0) && !skipped.contains($0) }
            .map { folder.appendingPathComponent($0) }
    }
}
