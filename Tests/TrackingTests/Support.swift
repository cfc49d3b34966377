import Foundation
import TestSupport
import Testing

@testable import Tracking

/// Shared values and helpers for the Tracking tests.
enum Support {
    static let now: Int64 = 1_795_000_000  // 2026-11-18
    static let sentAt: Int64 = now - 3600
    static let expires = RecipientInfo.expiry(sentAt: sentAt)

    /// A key with a fixed secret (bytes `seed`, `seed+1`, …).
    static func key(id: UInt16, seed: UInt8) throws -> TrackingKey {
        try TrackingKey(id: id, secret: (0..<32).map { seed &+ UInt8($0) })
    }

    static func ring() throws -> KeyRing {
        KeyRing(keys: [try key(id: 1, seed: 10), try key(id: 2, seed: 100)])
    }

    static let link = LinkInfo(
        transmissionID: 7_123_456_789_012_345_678, index: 3, target: "https://example.com/a?b=1&c=2")
    static let recipient = RecipientInfo(
        transmissionID: 7_123_456_789_012_345_678, messageID: "<0001.abc@relay.example>",
        rcptTo: "Jane.Doe@example.org", rcptType: nil, expires: expires)

    /// `Tests/TrackingTests/` from this file's path.
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")

    /// Compares `actual` with `Fixtures/<name>` byte for byte (see `Golden`: a mismatch writes
    /// `Fixtures/<name>.actual`; `LINKSTAMP_UPDATE_GOLDEN=1` rewrites the file and says so).
    static func expectGolden(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if let difference = Golden.check(Array(actual.utf8), against: fixtures.appendingPathComponent(name)) {
            Issue.record("\(difference)", sourceLocation: sourceLocation)
        }
    }

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("linkstamp-tracking-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The error `body` throws, or nil.
    static func error(_ body: () throws(TrackingError) -> Void) -> TrackingError? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    /// Replaces the token segment at `index` (counted from the end of the path) in `url`.
    static func replacingSegment(_ url: String, fromEnd index: Int, with replacement: String) -> String {
        var parts = url.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts[parts.count - 1 - index] = replacement
        return parts.joined(separator: "/")
    }

    static func segment(_ url: String, fromEnd index: Int) -> String {
        let parts = url.split(separator: "/", omittingEmptySubsequences: false)
        return String(parts[parts.count - 1 - index])
    }
}
