import CSSInline

/// `css`: tokenizer, selector parser and inliner (through libxml2). The first byte picks what the
/// rest is: a style sheet in a small fixed document, extra CSS for that document, a body under a
/// fixed sheet, or a whole document. Never crashes; patches are sorted, disjoint and inside the
/// input; applying them is what `inline` returns; every style attribute it writes keeps its quotes
/// balanced; a document without style sheets (or with an empty one) comes out unchanged.
public enum CSSCheck {
    static let head = Array("<!DOCTYPE html>\n<html><head><title>t</title>".utf8)
    static let body = Array(
        """
        <body class="b"><div id="main" class="c d" style="margin:0"><h1>T</h1><p class="lead">One \
        <a href="https://example.com/x" style='color:blue'>link</a></p><table><tr><td>1</td><td \
        style=padding:2px>2</td></tr></table><ul><li>a</li><li class="d">b</li></ul></div><p>end</p></body></html>
        """.utf8)
    static let sheet = Array("p{color:red} .c > p, li:first-child{font-weight:bold} #main td{padding:1px}".utf8)

    public static func check(_ data: UnsafeRawBufferPointer) {
        guard let selector = data.first else { return }
        let rest = [UInt8](data.dropFirst())
        let document: [UInt8]
        var extra: String?
        var mustStayUnchanged = false
        switch selector % 5 {
        case 0:
            document = head + Array("<style>".utf8) + rest + Array("</style></head>".utf8) + body
        case 1:
            extra = String(decoding: rest, as: UTF8.self)
            document = head + Array("</head>".utf8) + body
        case 2:
            document = head + Array("<style>".utf8) + sheet + Array("</style></head>".utf8) + rest
        case 3:
            document = head + Array("<style></style></head>".utf8) + rest
            mustStayUnchanged = !containsCaseInsensitive(rest, "<style")
        default:
            document = rest
            mustStayUnchanged = !containsCaseInsensitive(rest, "<style")
        }
        let inliner = CSSInliner(extraCSS: extra)
        let patches: [CSSPatch]
        do {
            patches = try inliner.patches(for: document)
        } catch {
            require(error.offset >= 0, "error offset \(error.offset)")
            return
        }
        var previous = 0
        for patch in patches {
            require(
                patch.range.lowerBound >= previous && patch.range.upperBound <= document.count,
                "patch \(patch.range) out of order or outside 0..<\(document.count)")
            previous = patch.range.upperBound
            checkQuotes(patch, in: document)
        }
        let output = CSSPatch.apply(patches, to: document)
        do {
            require(try inliner.inline(document) == output, "inline differs from its patches")
        } catch {
            invariantBroken("inline threw \(error) where patches did not")
        }
        if mustStayUnchanged {
            require(patches.isEmpty, "document without style sheet rules changed: \(patches.count) patches")
        }
    }

    /// A patch that writes a style attribute's value keeps it inside one pair of quotes.
    static func checkQuotes(_ patch: CSSPatch, in document: [UInt8]) {
        let replacement = patch.replacement
        let range = patch.range
        let doubleQuote = UInt8(ascii: "\"")
        let singleQuote = UInt8(ascii: "'")
        if range.isEmpty && replacement.starts(with: Array(" style=\"".utf8)) {
            require(
                replacement.last == doubleQuote && replacement.filter { $0 == doubleQuote }.count == 2,
                "new style attribute with unbalanced quotes: \(show(replacement))")
        } else if range.lowerBound > 0 && range.upperBound < document.count,
            let quote = [doubleQuote, singleQuote].first(where: {
                document[range.lowerBound - 1] == $0 && document[range.upperBound] == $0
            }),
            !document[range].contains(UInt8(ascii: "<")) && !document[range].contains(quote)
        {
            require(!replacement.contains(quote), "quoted style value gets its quote: \(show(replacement))")
        }
    }
}
