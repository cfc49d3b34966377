import Foundation
import Testing

@testable import SMTPAPI

/// Every `Fixtures/<name>.value` (raw field value bytes, folds included) parsed and compared,
/// byte for byte, with `Fixtures/<name>.expected`; on mismatch `<name>.actual` is written.
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
        let expected = try Data(contentsOf: Paths.fixtures.appendingPathComponent(name + ".expected"))
        let actual = Data(goldenText(outcome(bytes: Array(value))).utf8)
        let actualURL = Paths.fixtures.appendingPathComponent(name + ".actual")
        if actual != expected {
            try actual.write(to: actualURL)
        } else {
            try? FileManager.default.removeItem(at: actualURL)
        }
        #expect(actual == expected, "see \(actualURL.path)")
    }
}
