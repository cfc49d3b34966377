import Foundation
import TestSupport
import Testing

@testable import CSSInline

/// Selectors needing a class or id the document lacks are not compiled
/// (``SelectorParser/cannotMatch(_:present:)``). That must never change what is inlined: every
/// document gives the same patches, errors and matching work with the pre-filter and without it.
@Suite struct PrefilterTests {
    /// Patches (or the error) and matching work of one run.
    static func outcome(_ html: [UInt8], extraCSS: [UInt8]? = nil, prefilter: Bool) -> (
        patches: [String], error: String?, work: Int
    ) {
        var engine = InlineEngine(html: html, extraCSS: extraCSS, limits: CSSLimits(), charset: nil)
        engine.prefilter = prefilter
        do {
            let patches = try engine.run()
            return (
                patches.map { "\($0.range) \(String(decoding: $0.replacement, as: UTF8.self))" }, nil, engine.matchWork
            )
        } catch {
            return ([], "\(error)", engine.matchWork)
        }
    }

    /// Expects the same patches (naming the first that differs) or the same error. The cascade
    /// already passes over selectors needing a name no element has as a tag, class or id, so
    /// the pre-filter changes nothing there; it is finer (`.h1` when `h1` is only a tag), so
    /// the matching work may only go down.
    static func expectSame(_ html: [UInt8], extraCSS: [UInt8]? = nil, _ name: String) {
        let with = outcome(html, extraCSS: extraCSS, prefilter: true)
        let without = outcome(html, extraCSS: extraCSS, prefilter: false)
        if let index = with.patches.indices.first(where: {
            $0 < without.patches.count && with.patches[$0] != without.patches[$0]
        }) {
            Issue.record("\(name): patch \(index): \(with.patches[index]) instead of \(without.patches[index])")
        }
        #expect(with.patches.count == without.patches.count, "\(name)")
        #expect(with.error == without.error, "\(name)")
        #expect(with.work <= without.work, "\(name)")
    }

    static let trickyDocuments: [String] = [
        "<style>.a{color:red}.b{color:blue}#c{x:y}.a.zz{q:r}</style><p class=a id=c>x</p>",
        "<style>.caf\u{e9}{color:red}</style><p class=\"caf&eacute;\">x</p>",
        "<style>.ab{color:red}</style><p class=\"a&#98;\">x</p>",
        "<style>.a{color:red}</style><p CLASS='a'>x</p><p Id=b>y</p>",
        "<style>.a > .b, .zz ~ p, .b + .zz{color:red}</style><div class=a><p class=b>x</p></div>",
        "<style>.zz, .a:hover{color:red} .zz, p::before {c:d} .zz, p {e:f}</style><p class=a>x</p>",
        "<style>.zz{color:red} .x\\79{c:d} #zz{e:f} *.zz{g:h} p.zz{i:j} p .zz{k:l}</style><p class=xy>x</p>",
        "<style>.zz .a{c:d} .a>.zz{e:f} .a~.zz{g:h} .zz+.a{i:j} .a .a .a{k:l}</style><p class=a>x</p>",
        "<style>.zz{c:d}</style><!-- <p class=zz> --><p class=a>x</p>",
        "<style>.zz{c:d} . zz{e:f} .zz. {g:h} .zz >{i:j} > .zz{k:l} .zz,,.a{m:n}</style><p class=a>x</p>",
        "<style>.zz{c:d} ns|.zz{e:f} *|.zz{g:h} .zz[x]{i:j} #1zz{k:l}</style><p class=a>x</p>",
        "<style>.zz{c:d}</style><p class=\"zz",
        "<style>.zz{c:d}</style><p title='<x class=zz>' class=a>x</p>",
        "<style>.zz{c:d}</style><script>var s = '<p class=zz>'</script><p class=a>x</p>",
        "<style>.\u{e9}t\u{e9}{c:d} .zz{e:f}</style><p class=\"\u{e9}t\u{e9} a\">x</p>",
        "<style>.zz{c:d}</style><p class=\"a\tzz\nb\">x</p>",
        "<style>.zz{c:d} #yy{e:f}</style><p class\n =\n zz ID = 'yy'>x</p>",
        "<style>.zz{c:d} .yy{e:f}</style><p title=\"=\" class=zz>x</p><p class=\"yy\"class=zz>y</p>",
    ]

    @Test func trickyDocumentsInlineTheSame() {
        for document in Self.trickyDocuments {
            Self.expectSame(Array(document.utf8), document)
        }
        Self.expectSame(
            Array("<head></head><p class=a>x</p>".utf8), extraCSS: Array(".zz{c:d} .a{e:f}".utf8), "extra CSS")
    }

    @Test(arguments: Corpora.sources)
    func corpusInlinesTheSame(_ source: CorpusSource) throws {
        var documents = try CorpusTests.documents(source)
        for (name, bytes) in try Corpora.contents(source, .cssCases, suffix: ".html") {
            documents.append((name, bytes))
        }
        #expect(!documents.isEmpty)
        for (name, html) in documents {
            Self.expectSame(html, name)
        }
    }

    /// The pre-filter does skip selectors, only the plain ones, and never when unsure.
    @Test func skipsOnlyPlainAbsentSelectors() throws {
        let html = Array("<p class='a b' id=c>x</p>".utf8)
        let names = try #require(html.withUnsafeBufferPointer { InlineEngine.documentNames($0, skipping: []) })
        func skipped(_ selector: String) -> Bool {
            let bytes = Array(selector.utf8)
            let tokens = CSSTokenizer.tokenize(bytes, range: 0..<bytes.count)
            let parser = SelectorParser(
                bytes: bytes, tokens: tokens, names: NameTable(), program: SelectorProgram(), limits: CSSLimits())
            return parser.cannotMatch(parser.trimmed(0..<tokens.count), present: names)
        }
        for selector in [".zz", "#zz", "p.zz", "*.a.zz", ".zz .a", ".a > .zz", ".zz~p", "p + #zz"] {
            #expect(skipped(selector), "\(selector)")
        }
        for selector in [
            ".a", "#c", "p.a.b", ".a > .b ~ #c", "p", "*", ".zz:hover", ".zz[x]", ".z\\7a", "ns|.zz", ".zz >",
            "> .zz", ". zz", ".zz..a", "#1zz", ".zz::before",
        ] {
            #expect(!skipped(selector), "\(selector)")
        }
        let sure = "<a href='x?id=1&amp;b' data-class='&amp;'>&amp; class=a</a>"
        let known = try #require(
            Array(sure.utf8).withUnsafeBufferPointer { InlineEngine.documentNames($0, skipping: []) })
        #expect(known.lookup(Array("a".utf8)) >= 0 && known.lookup(Array("1".utf8)) < 0)
        let unsure = [
            "<p class='a&amp;b'>x</p>", "<p id=\"&#97;\">x</p>", "<p class=\"a", "<p x=y\tCLASS\n= 'q&#x20;'>",
        ]
        for document in unsure {
            let bytes = Array(document.utf8)
            #expect(
                bytes.withUnsafeBufferPointer { InlineEngine.documentNames($0, skipping: []) } == nil, "\(document)")
        }
    }
}
