import Foundation
import Linkstamp
import Testing

/// `ReadmeExample.swift` is the README's "## The library" example, byte for byte, compiled with
/// `import Linkstamp` alone; these tests run it.
@Suite struct LibraryExampleTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The example in this target is the README's, as written.
    @Test func exampleIsTheReadmes() throws {
        let readme = try String(contentsOf: Self.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("Tests/LibraryExampleTests/ReadmeExample.swift"),
            encoding: .utf8)
        let opening = try #require(readme.range(of: "## The library\n\n```swift\n"))
        let closing = try #require(readme[opening.upperBound...].range(of: "```\n"))
        #expect(String(readme[opening.upperBound..<closing.lowerBound]) == example)
    }

    /// A configuration that cannot be read is a temporary failure, thrown as an `SMTPReply`.
    @Test func missingConfigurationIsATemporaryReply() throws {
        try #require(!FileManager.default.fileExists(atPath: "/etc/linkstamp/linkstamp.conf"))
        #expect(throws: SMTPReply.self) { try loadEngine() }
        do { _ = try loadEngine() } catch { #expect(error.enhancedStatus == "4.3.5" && !error.isPermanent) }
    }

    /// The relay loop writes one tracked copy per recipient with its injection event, and the
    /// click server decodes a link of a copy back to that copy and target.
    @Test func relayThenClick() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("linkstamp-library-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let configuration = folder.appendingPathComponent("linkstamp.conf").path
        try "tracking_domain = click.example.com\nkey_ring = keys\nclick_tracking = true\n"
            .write(toFile: configuration, atomically: true, encoding: .utf8)
        let engine = try Engine.load(configurationPath: configuration)

        let message = Array(
            ("From: news@acme.example\r\nTo: reader@example.org\r\nSubject: Sale\r\n"
                + "Content-Type: text/html\r\n\r\n<p><a href=\"https://shop.example.com/sale\">Sale</a></p>\r\n").utf8)
        var sent: [(from: String, to: String, data: [UInt8], event: String)] = []
        try relay(message, from: "news@acme.example", to: ["reader@example.org", "other@example.org"], engine: engine) {
            sent.append(($0, $1, $2, $3))
        }
        #expect(sent.map(\.to) == ["reader@example.org", "other@example.org"])
        #expect(sent.allSatisfy { $0.from == "news@acme.example" && $0.event.contains("\"injection\"") })

        let copy = String(decoding: sent[0].data, as: UTF8.self)
        let start = try #require(copy.range(of: "https://click.example.com/f/"))
        let end = try #require(copy[start.lowerBound...].firstIndex(of: "\""))
        let event = try click(
            url: String(copy[start.lowerBound..<end]), keyRing: engine.keyRing,
            now: Int64(Date().timeIntervalSince1970))
        #expect(event.type == .click)
        #expect(event.rcptTo == "reader@example.org")
        #expect(event.targetLinkURL == "https://shop.example.com/sale")
        #expect(throws: TrackingError.self) {
            try click(url: "https://click.example.com/f/forged", keyRing: engine.keyRing, now: 0)
        }
    }
}
