import Foundation
import TestSupport
import Testing

@testable import CSSInline

/// Every document of the HTML corpora (the project's own, and the shared one when present)
/// inlines without error; the patches are sorted, disjoint, touch only style attributes and
/// style elements, and undoing them gives back the input.
@Suite struct CorpusTests {
    static func documents(_ source: CorpusSource) throws -> [(String, [UInt8])] {
        try Corpora.contents(source, .html, suffix: ".html").map { ($0.name, $0.bytes) }
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

    @Test(arguments: Corpora.sources)
    func everyDocumentInlinesAndUndoes(_ source: CorpusSource) throws {
        let documents = try Self.documents(source)
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

/// What the inliner cuts from libxml2's input (style sheet text, comment bodies, indentation,
/// attribute values, text)
/// must not change the tree libxml2 builds: same elements, parents, siblings, start tag ends
/// (mapped back to the caller's bytes), emptiness, head membership, ids and classes.
@Suite struct ParseInputTests {
    /// Every id and class token written in the document's start tags.
    static func idsAndClasses(_ bytes: [UInt8]) -> NameTable {
        var names = NameTable()
        let blank: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0C, 0x0D]
        bytes.withUnsafeBufferPointer { buffer in
            for open in buffer.indices where buffer[open] == 0x3C {
                _ = HTMLBytes.readStartTag(buffer, at: open) { _, name, value, quote in
                    let written = buffer[name].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
                    guard written == Array("class".utf8) || written == Array("id".utf8) else { return }
                    let inside =
                        quote == 0 ? value : (value.lowerBound + 1)..<max(value.lowerBound + 1, value.upperBound - 1)
                    for token in buffer[inside].split(whereSeparator: { blank.contains($0) }) {
                        _ = names.intern(Array(token))
                    }
                    _ = names.intern(Array(buffer[inside]))
                }
            }
        }
        return names
    }

    static func tree(_ bytes: [UInt8], cutting: Bool) -> DocumentTree? {
        let builder = TreeBuilder(names: idsAndClasses(bytes), recordAttributes: false, maxElements: Int.max)
        if cutting {
            let styles = bytes.withUnsafeBufferPointer { ByteScan.styleElements($0) }
            let cuts = bytes.withUnsafeBufferPointer {
                InlineEngine.unparsedRanges($0, styles: styles, styleAttributes: true, otherAttributes: true)
            }
            builder.input = ParseInput(bytes, cutting: cuts)
        } else {
            builder.input = ParseInput(bytes, cutting: [])
        }
        guard HTMLTreeParser.parse(builder.input.bytes, into: builder) else { return nil }
        return builder.tree
    }

    @Test(arguments: Corpora.sources)
    func cutsKeepTheTree(_ source: CorpusSource) throws {
        var documents = try CorpusTests.documents(source)
        for (name, bytes) in try Corpora.contents(source, .cssCases, suffix: ".html") {
            documents.append((name, bytes))
        }
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
            #expect(full.id == cut.id, "\(name): ids")
            #expect(full.classStart == cut.classStart && full.classes == cut.classes, "\(name): classes")
        }
    }
}
