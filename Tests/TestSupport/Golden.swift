import Foundation

/// Byte-exact golden files for every test target. A mismatch writes `<golden>.actual` beside
/// the golden file and reports what changed. `LINKSTAMP_UPDATE_GOLDEN=1` accepts the new bytes
/// instead, and never silently: each rewritten file prints one line saying how it changed.
public enum Golden {
    /// True when `LINKSTAMP_UPDATE_GOLDEN=1`.
    public static let updating: Bool = ProcessInfo.processInfo.environment["LINKSTAMP_UPDATE_GOLDEN"] == "1"

    /// Compares `actual` with the file at `golden`. Returns nil when they are equal (or the
    /// golden file was updated), else a one-line description of the difference for the test
    /// to record.
    public static func check(_ actual: [UInt8], against golden: URL) -> String? {
        let actualURL = URL(fileURLWithPath: golden.path + ".actual")
        let expected = (try? Data(contentsOf: golden)).map { [UInt8]($0) }
        if expected == actual {
            try? FileManager.default.removeItem(at: actualURL)
            return nil
        }
        let change = summary(from: expected, to: actual)
        try? FileManager.default.createDirectory(
            at: golden.deletingLastPathComponent(), withIntermediateDirectories: true)
        if updating {
            do {
                try Data(actual).write(to: golden)
                try? FileManager.default.removeItem(at: actualURL)
                print("golden updated: \(relative(golden)): \(change)")
                return nil
            } catch {
                return "cannot update \(relative(golden)): \(error)"
            }
        }
        try? Data(actual).write(to: actualURL)
        return "golden \(relative(golden)) differs: \(change); actual bytes in \(actualURL.lastPathComponent)"
            + " (LINKSTAMP_UPDATE_GOLDEN=1 accepts them)"
    }

    /// `N → M bytes (±d), first difference at byte B (line L)`, or `new file, M bytes`.
    public static func summary(from expected: [UInt8]?, to actual: [UInt8]) -> String {
        guard let expected else { return "new file, \(actual.count) bytes" }
        let common = zip(expected, actual).prefix { $0 == $1 }.count
        let line = expected.prefix(common).filter { $0 == 0x0A }.count + 1
        let delta = actual.count - expected.count
        let sign = delta >= 0 ? "+" : ""
        return "\(expected.count) → \(actual.count) bytes (\(sign)\(delta)), first difference at byte \(common)"
            + " (line \(line))"
    }

    private static func relative(_ url: URL) -> String {
        let root = Corpora.packageRoot.path + "/"
        return url.path.hasPrefix(root) ? String(url.path.dropFirst(root.count)) : url.path
    }
}
