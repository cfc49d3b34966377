import Foundation
import TestSupport
import Testing

@testable import SMTPAPI

/// Every `Fixtures/<name>.value` (raw field value bytes, folds included) parsed and compared,
/// byte for byte, with `Fixtures/<name>.expected`; on mismatch `<name>.expected.actual` is written
/// (`LINKSTAMP_UPDATE_GOLDEN=1` rewrites the file and says so; see `TestSupport.Golden`).
@Suite struct GoldenTests {
    static let names: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Paths.fixtures.path)) ?? []
        return files.filter { $0.hasSuffix(".value") }.map { String($0.dropLast(".value".count)) }.sorted()
    }()

    @Test func fixturesArePresent() {
        // The reference's seven examples (some fixed) plus the RFC 2047 cases.
        #expect(Self.names.count == 11)
    }

    @Test(arguments: names) func golden(name: String) throws {
        let value = try Data(contentsOf: Paths.fixtures.appendingPathComponent(name + ".value"))
        let actual = Array(goldenText(outcome(bytes: Array(value))).utf8)
        if let difference = Golden.check(actual, against: Paths.fixtures.appendingPathComponent(name + ".expected")) {
            Issue.record("\(difference)")
        }
    }
}
