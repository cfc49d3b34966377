import Foundation
import Testing

@testable import CSSInline

/// Every document of `corpus/html` inlines without error; the patches are sorted, disjoint,
/// touch only style attributes and style elements, and undoing them gives back the input.
@Suite(.enabled(if: TestSupport.corpusAvailable, "corpus not found: set LINKSTAMP_CORPUS"))
struct CorpusTests {
    static func documents() -> [(String, [UInt8])] {
        TestSupport.files(TestSupport.corpus.appendingPathComponent("html"), suffix: ".html").compactMap { url in
            TestSupport.bytes(url).map { (url.lastPathComponent, $0) }
        }
    }

    /// The input rebuilt from the output by reverting each patch where it landed in the output.
    static func undo(_ output: [UInt8], _ patches: [CSSPatch], original: [UInt8]) -> [UInt8]? {
        var rebuilt: [UInt8] = []
        var outputCursor = 0
        var inputCursor = 0
        for patch in patches {
            let unchanged = patch.range.lowerBound - inputCursor
            guard unchanged >= 0, outputCursor + unchanged + patch.replacement.count <= output.count else { return nil }
            rebuilt.append(contentsOf: output[outputCursor..<(outputCursor + unchanged)])
            outputCursor += unchanged
            guard Array(output[outputCursor..<(outputCursor + patch.replacement.count)]) == patch.replacement else {
                return nil
            }
            outputCursor += patch.replacement.count
            rebuilt.append(contentsOf: original[patch.range])
            inputCursor = patch.range.upperBound
        }
        rebuilt.append(contentsOf: output[outputCursor...])
        return rebuilt
    }

    @Test func everyDocumentInlinesAndUndoes() throws {
        let documents = Self.documents()
        #expect(!documents.isEmpty, "corpus/html is empty")
        var patched = 0
        for (name, html) in documents {
            let inliner = CSSInliner()
            let patches: [CSSPatch]
            do {
                patches = try inliner.patches(for: html)
            } catch {
                Issue.record("\(name): \(error)")
                continue
            }
            let output = CSSPatch.apply(patches, to: html)
            if !patches.isEmpty { patched += 1 }
            var previous = 0
            let styles = html.withUnsafeBufferPointer { ByteScan.styleElements($0) }
            for patch in patches {
                #expect(patch.range.lowerBound >= previous && patch.range.upperBound <= html.count, "\(name): order")
                previous = patch.range.upperBound
                let inStyleElement = styles.contains {
                    $0.element.lowerBound <= patch.range.lowerBound && patch.range.upperBound <= $0.element.upperBound
                }
                let isNewAttribute = patch.range.isEmpty && patch.replacement.starts(with: Array(" style=\"".utf8))
                let isAttributeValue = html.withUnsafeBufferPointer { bytes -> Bool in
                    var start = patch.range.lowerBound
                    while start > 0 {
                        start -= 1
                        guard bytes[start] == 0x3C, let tag = HTMLBytes.readStartTag(bytes, at: start),
                            let value = tag.styleValue
                        else { continue }
                        if value.lowerBound <= patch.range.lowerBound && patch.range.upperBound <= value.upperBound {
                            return true
                        }
                    }
                    return false
                }
                #expect(
                    inStyleElement || isNewAttribute || isAttributeValue,
                    "\(name): patch at \(patch.range) outside style")
            }
            #expect(Self.undo(output, patches, original: html) == html, "\(name): undo")
            #expect(try inliner.inline(html) == output, "\(name): inline = patches applied")
        }
        #expect(patched * 2 > documents.count, "most corpus documents have head styles to inline")
    }
}

/// Throughput over corpus/html, printed (never asserted). Run with LINKSTAMP_MEASURE=1, in
/// release: `LINKSTAMP_MEASURE=1 swift test -c release --filter CSSInlineTests.MeasureTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["LINKSTAMP_MEASURE"] == "1" && TestSupport.corpusAvailable))
struct MeasureTests {
    @Test func throughput() throws {
        let documents = CorpusTests.documents().map(\.1)
        let total = documents.reduce(0) { $0 + $1.count }
        let inliner = CSSInliner()
        func measure(_ label: String, _ body: ([UInt8]) throws -> Int) rethrows {
            var rounds = 0
            var sink = 0
            let clock = ContinuousClock()
            var elapsed = Duration.zero
            while elapsed < .seconds(3) || rounds < 3 {
                let start = clock.now
                for document in documents { sink &+= try body(document) }
                elapsed += clock.now - start
                rounds += 1
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(total * rounds) / seconds / 1_000_000
            let megabytes = String(format: "%.1f", rate)
            print(
                "measure \(label): \(documents.count) docs, \(total) bytes, \(rounds) rounds, \(megabytes) MB/s"
                    + " (sink \(sink & 1))")
        }
        try measure("CSSInliner.inline") { try inliner.inline($0).count }
        measure("libxml2 bare SAX pass") { document in
            let builder = TreeBuilder(names: NameTable(), recordAttributes: false, maxElements: Int.max)
            _ = HTMLTreeParser.parse(document, into: builder)
            return builder.tree.count
        }
    }
}

/// What the inliner cuts from libxml2's input (style sheet text, comment bodies, indentation,
/// style attribute values)
/// must not change the tree libxml2 builds: same elements, parents, siblings, start tag ends
/// (mapped back to the caller's bytes), emptiness and head membership.
@Suite(.enabled(if: TestSupport.corpusAvailable, "corpus not found: set LINKSTAMP_CORPUS"))
struct ParseInputTests {
    static func tree(_ bytes: [UInt8], cutting: Bool) -> DocumentTree? {
        let builder = TreeBuilder(names: NameTable(), recordAttributes: false, maxElements: Int.max)
        if cutting {
            let styles = bytes.withUnsafeBufferPointer { ByteScan.styleElements($0) }
            let cuts = bytes.withUnsafeBufferPointer {
                InlineEngine.unparsedRanges($0, styles: styles, styleAttributes: true)
            }
            builder.input = ParseInput(bytes, cutting: cuts)
        } else {
            builder.input = ParseInput(bytes, cutting: [])
        }
        guard HTMLTreeParser.parse(builder.input.bytes, into: builder) else { return nil }
        return builder.tree
    }

    @Test func cutsKeepTheTree() {
        var documents = CorpusTests.documents()
        let cases = TestSupport.corpus.appendingPathComponent("css-inline-cases")
        for url in TestSupport.files(cases, suffix: ".html") {
            if let bytes = TestSupport.bytes(url) { documents.append((url.lastPathComponent, bytes)) }
        }
        #expect(!documents.isEmpty)
        for (name, html) in documents where !html.isEmpty {
            let bytes = Sanitizer.sanitize(html, charset: nil)
            guard let full = Self.tree(bytes, cutting: false), let cut = Self.tree(bytes, cutting: true) else {
                Issue.record("\(name): parser unavailable")
                continue
            }
            #expect(full.count == cut.count, "\(name): element count")
            #expect(full.parent == cut.parent, "\(name): parents")
            #expect(full.previous == cut.previous, "\(name): siblings")
            #expect(full.tagEnd == cut.tagEnd, "\(name): start tag ends")
            #expect(full.hasContent == cut.hasContent, "\(name): emptiness")
            #expect(full.inHead == cut.inHead, "\(name): head")
        }
    }
}
