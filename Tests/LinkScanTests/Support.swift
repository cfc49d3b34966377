import Foundation
import TestSupport
import Testing

@testable import LinkScan

/// Shared helpers: rendering scan results as text for byte-exact golden comparison, fixtures
/// location (the corpora are found by `TestSupport.Corpora`).
enum Support {
    /// Renders an HTML scan result: the input with every replaced value shown as `«n»`, the
    /// initial pixel as `⟦I⟧`, the open pixel as `⟦O⟧`, then one line per link:
    /// `n source quote name=… [unsub] [sublink=…] target`.
    static func render(html input: String, limits: ScanLimits = ScanLimits()) -> String {
        render(htmlBytes: Array(input.utf8), limits: limits)
    }

    /// `render(html:)` on raw bytes (bytes that are not UTF-8 show as U+FFFD).
    static func render(htmlBytes bytes: [UInt8], limits: ScanLimits = ScanLimits()) -> String {
        let result = HTMLLinkScanner.scan(bytes, limits: limits)
        var marks: [(Int, Int, String)] = []  // (offset, order at same offset, text)
        if let initial = result.initialPixelOffset { marks.append((initial, 0, "⟦I⟧")) }
        marks.append((result.openPixelOffset, 1, "⟦O⟧"))
        return splice(bytes, links: result.links, marks: marks) + describe(result.links)
    }

    /// Renders a text scan result: links as `«n»`, removed annotations as `⌫`, then the links.
    static func render(text input: String, limits: ScanLimits = ScanLimits()) -> String {
        render(textBytes: Array(input.utf8), limits: limits)
    }

    /// `render(text:)` on raw bytes (bytes that are not UTF-8 show as U+FFFD).
    static func render(textBytes bytes: [UInt8], limits: ScanLimits = ScanLimits()) -> String {
        let result = TextLinkScanner.scan(bytes, limits: limits)
        var out: [UInt8] = []
        var i = 0
        var items: [(Range<Int>, String)] = result.links.enumerated().map { ($1.replaceRange, "«\($0 + 1)»") }
        items += result.removals.map { ($0, "⌫") }
        items.sort { $0.0.lowerBound < $1.0.lowerBound }
        for (range, label) in items {
            out += bytes[i..<range.lowerBound]
            out += Array(label.utf8)
            i = range.upperBound
        }
        out += bytes[i...]
        return String(decoding: out, as: UTF8.self) + describe(result.links)
    }

    private static func splice(_ bytes: [UInt8], links: [FoundLink], marks: [(Int, Int, String)]) -> String {
        var out: [UInt8] = []
        var i = 0
        var events: [(Int, Int, Range<Int>?, String)] = marks.map { ($0.0, $0.1, nil, $0.2) }
        for (index, link) in links.enumerated() {
            events.append((link.replaceRange.lowerBound, 2, link.replaceRange, "«\(index + 1)»"))
        }
        events.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        for (offset, _, range, label) in events {
            out += bytes[i..<offset]
            out += Array(label.utf8)
            i = range?.upperBound ?? offset
        }
        out += bytes[i...]
        return String(decoding: out, as: UTF8.self)
    }

    private static func describe(_ links: [FoundLink]) -> String {
        var text = ""
        for (index, link) in links.enumerated() {
            let quote = link.quote.map { String(UnicodeScalar($0)) } ?? "-"
            text += "\n\(index + 1) \(link.source) \(quote) name=\(link.name)"
            if link.isUnsubscribe { text += " unsub" }
            if let sublink = link.sublink { text += " sublink=\(sublink)" }
            text += " \(link.target)"
        }
        return text
    }

    /// Byte-exact comparison with a readable failure.
    static func expectBytes(
        _ actual: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let same = Array(actual.utf8) == Array(expected.utf8)
        #expect(same, "\n--- actual ---\n\(actual)\n--- expected ---\n\(expected)", sourceLocation: sourceLocation)
    }

    static let fixturesURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
}

/// Golden files under Fixtures/: `<fixture>.expected` compared byte for byte through
/// `TestSupport.Golden` (a mismatch writes `<fixture>.expected.actual`;
/// `LINKSTAMP_UPDATE_GOLDEN=1` rewrites the file and says so).
enum Golden {
    static func compare(_ actual: String, fixture: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expectedURL = Support.fixturesURL.appendingPathComponent(fixture + ".expected")
        if let difference = TestSupport.Golden.check(Array(actual.utf8), against: expectedURL) {
            Issue.record("\(difference)", sourceLocation: sourceLocation)
        }
    }
}

/// Structural checks every scan result must pass on any input.
enum Invariants {
    static func check(_ bytes: [UInt8], _ result: HTMLScanResult, file: String) {
        var previousEnd = 0
        for link in result.links {
            let range = link.replaceRange
            #expect(range.lowerBound >= previousEnd && range.upperBound <= bytes.count, "\(file): \(range)")
            previousEnd = range.upperBound
            #expect(link.name.utf8.count <= 63)
            #expect(link.target.utf8.count <= 4096)
            let lower = link.target.lowercased()
            #expect(lower.hasPrefix("http://") || lower.hasPrefix("https://"), "\(file): \(link.target)")
            if let quote = link.quote {
                #expect(range.lowerBound > 0 && bytes[range.lowerBound - 1] == quote, "\(file): \(range)")
                #expect(range.upperBound < bytes.count && bytes[range.upperBound] == quote, "\(file): \(range)")
            }
        }
        #expect(result.openPixelOffset >= 0 && result.openPixelOffset <= bytes.count)
        if let initial = result.initialPixelOffset {
            #expect(initial > 0 && initial <= bytes.count && bytes[initial - 1] == 0x3E)
        }
    }

    static func check(_ bytes: [UInt8], _ result: TextScanResult, file: String) {
        var ranges = result.links.map(\.replaceRange) + result.removals
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var previousEnd = 0
        for range in ranges {
            #expect(!range.isEmpty && range.lowerBound >= previousEnd && range.upperBound <= bytes.count, "\(file)")
            previousEnd = range.upperBound
        }
        #expect(result.removals == result.removals.sorted { $0.lowerBound < $1.lowerBound })
        for link in result.links {
            #expect(Array(link.target.utf8) == Array(bytes[link.replaceRange]), "\(file)")
        }
    }
}
