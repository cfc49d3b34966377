import Testing
@testable import CSSInline

@Test func smoke() throws {
    let html = Array("<html><head><style>h1 { color: red; font-size:14px; } a:hover{color:blue}</style></head><body><h1 style=\"color: blue\">Hi</h1><p/><h1>x</h1></body></html>".utf8)
    let out = try CSSInliner().inline(html)
    print(String(decoding: out, as: UTF8.self))
}
