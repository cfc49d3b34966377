import Foundation
import TestSupport
import Testing

@testable import CSSInline

/// Sheets are tokenized without the content of their top-level blocks, which is tokenized later
/// only for the rules whose declarations are needed. The sheet parsed that way must be the
/// sheet parsed from every token: same rules, ranges, selectors, nesting and declarations.
@Suite struct BlockSkipTests {
    /// Everything the inliner reads of a parsed sheet, as comparable values.
    static func summary(_ bytes: [UInt8], _ range: Range<Int>, skipping: Bool) -> [String] {
        let tokens =
            skipping
            ? CSSTokenizer.tokenizeSkippingBlocks(bytes, range: range) : CSSTokenizer.tokenize(bytes, range: range)
        var selectors = SelectorParser(
            bytes: bytes, tokens: tokens, names: NameTable(), program: SelectorProgram(), limits: CSSLimits())
        var budget = Int.max
        let parser = StylesheetParser(bytes: bytes, values: bytes, tokens: tokens)
        guard let sheet = parser.parse(selectors: &selectors, ruleBudget: &budget) else { return ["too many rules"] }
        var lines = sheet.otherRanges.map { "other \($0)" }
        var properties = NameTable()
        for rule in sheet.rules {
            lines.append(
                "rule \(rule.range) \(rule.preludeRange) invalid \(rule.invalid) nested \(rule.nested) "
                    + "selectors \(rule.selectors.map(\.specificity)) kept \(rule.keptSelectors)")
            for declaration in parser.declarations(rule, properties: &properties) {
                lines.append("  \(declaration.name) \(declaration.value) \(declaration.important)")
            }
        }
        return lines
    }

    static let trickySheets: [String] = [
        "a { b: \"}\" ; c: '{' } d { e: f }",
        "a { x: url(a{b) } b { c: d }",
        "a { x: url(  a.png  ) ; y: url(\"}\") } b { c: d }",
        "a { y: \\} } b { c: \\7B  d; e: f }",
        "a { g: /* } */ h } b { c: d }",
        "a { b { c: d } e: f } g { h: i }",
        "a { b: \"x\\\n}\" } c { d: e }",
        "a { b: (}) ; c: [}] } d { e: f !important }",
        "a { b: c",
        "a { b: \"c",
        "a { b: c /* }",
        "@media screen { a { b: c } } d { e: f }",
        "a:not({) { b: c } d { e: f }",
        ") ] } a { b: c }",
        "a { b: url(x\\)) } c { d: e }",
        "a { b: URL(x{) } c { d: e }",
        "a { b: \"\\41\n}\" } c { d: e }",
    ]

    @Test func trickySheetsParseTheSame() {
        for sheet in Self.trickySheets {
            let bytes = Array(sheet.utf8)
            #expect(
                Self.summary(bytes, 0..<bytes.count, skipping: true)
                    == Self.summary(bytes, 0..<bytes.count, skipping: false), "\(sheet)")
        }
    }

    @Test func blocksAreSkipped() {
        let bytes = Array("a { b: c; d: e } f { g { h: i } }".utf8)
        let tokens = CSSTokenizer.tokenizeSkippingBlocks(bytes, range: 0..<bytes.count)
        #expect(tokens.count < CSSTokenizer.tokenize(bytes, range: 0..<bytes.count).count)
        #expect(tokens.filter { $0.kind == .colon }.isEmpty)
        #expect(tokens.filter { $0.kind == .openCurly }.map(\.flag) == [false, true])
    }

    @Test(arguments: Corpora.sources)
    func corpusSheetsParseTheSame(_ source: CorpusSource) throws {
        var documents = try CorpusTests.documents(source)
        for (name, bytes) in try Corpora.contents(source, .cssCases, suffix: ".html") {
            documents.append((name, bytes))
        }
        for (name, html) in documents {
            let bytes = Sanitizer.sanitize(html, charset: nil)
            for style in bytes.withUnsafeBufferPointer({ ByteScan.styleElements($0) }) {
                #expect(
                    Self.summary(bytes, style.content, skipping: true)
                        == Self.summary(bytes, style.content, skipping: false), "\(name) \(style.content)")
            }
        }
    }
}
