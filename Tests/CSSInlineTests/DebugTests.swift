import Foundation
import Testing

@testable import CSSInline

@Test(.enabled(if: ProcessInfo.processInfo.environment["CSS_DEBUG"] != nil))
func debugCases() throws {
    let directory = TestSupport.corpus.appendingPathComponent("css-inline-cases")
    for name in (ProcessInfo.processInfo.environment["CSS_DEBUG"] ?? "").split(separator: ",") {
        let html = TestSupport.bytes(directory.appendingPathComponent(name + ".html")) ?? []
        let out = try CSSInliner(extraCSS: ConformanceTests.extraCSS(directory, String(name))).inline(html)
        print("=== \(name)\n" + String(decoding: out, as: UTF8.self))
    }
}

@Test(.enabled(if: ProcessInfo.processInfo.environment["CSS_DEBUG2"] != nil))
func debugTree() throws {
    for doc in ["<div/>", "<div></div>", "<div/>\n", "<p>x</p><div/>", "<html><body><div/></body></html>"] {
        let out = try CSSInliner(extraCSS: "div{color:red}").inline(Array(doc.utf8))
        print(doc, "=>", String(decoding: out, as: UTF8.self))
        var names = NameTable()
        _ = names.intern(Array("div".utf8))
        let b = TreeBuilder(names: names, recordAttributes: false, maxElements: 100)
        _ = HTMLTreeParser.parse(Array(doc.utf8), into: b)
        print(b.tree.tag, b.tree.tagEnd, b.tree.parent)
    }
}
