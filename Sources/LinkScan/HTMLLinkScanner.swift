import MailBytes

/// Finds trackable links and the open-pixel insertion points in an HTML body.
///
/// A single forward pass shaped like the HTML5 tokenizer: start and end tags with their
/// attributes (quoted, unquoted, spaced around `=`, spread over lines), comments (including the
/// abrupt `<!-->`), `<!DOCTYPE>`/`<?…>`/bogus comments, `<![CDATA[…]]>`, and raw-text/RCDATA
/// elements whose content is skipped up to the matching end tag. Outlook conditional comments
/// (`<!--[if …]> … <![endif]-->`) are the one deliberate difference from a browser: their
/// content is scanned as markup so VML buttons and links inside are tracked.
public enum HTMLLinkScanner {
    /// Scans `html` (already transfer-decoded, any ASCII-compatible charset). Never fails: on
    /// malformed or truncated markup the scan stops where a browser would stop making tags.
    public static func scan(_ html: [UInt8], limits: ScanLimits = ScanLimits()) -> HTMLScanResult {
        html.withUnsafeBufferPointer { buffer in
            var scanner = HTMLScanner(bytes: buffer, limits: limits)
            scanner.run()
            return HTMLScanResult(
                links: scanner.links,
                initialPixelOffset: scanner.sawHTMLTag ? scanner.firstBodyEnd : nil,
                openPixelOffset: scanner.lastBodyClose ?? buffer.count
            )
        }
    }
}

/// What kind of start or end tag a tag name is, as far as this module cares.
private enum TagKind: Equatable {
    case anchor, area, vml, html, body, plaintext
    case rawText
    case other

    init(_ bytes: UnsafeBufferPointer<UInt8>, name: Range<Int>) {
        switch name.count {
        case 1 where bytes.equalsLowercased(name, Literal.a): self = .anchor
        case 4 where bytes.equalsLowercased(name, Literal.area): self = .area
        case 4 where bytes.equalsLowercased(name, Literal.html): self = .html
        case 4 where bytes.equalsLowercased(name, Literal.body): self = .body
        case 6 where bytes.equalsLowercased(name, Literal.vRect): self = .vml
        case 11 where bytes.equalsLowercased(name, Literal.vRoundrect): self = .vml
        case 9 where bytes.equalsLowercased(name, Literal.plaintext): self = .plaintext
        // Raw text (script, style, xmp, iframe, noembed, noframes) and RCDATA (textarea, title).
        case 3 where bytes.equalsLowercased(name, Literal.xmp): self = .rawText
        case 5 where bytes.equalsLowercased(name, Literal.style) || bytes.equalsLowercased(name, Literal.title):
            self = .rawText
        case 6 where bytes.equalsLowercased(name, Literal.script) || bytes.equalsLowercased(name, Literal.iframe):
            self = .rawText
        case 7 where bytes.equalsLowercased(name, Literal.noembed): self = .rawText
        case 8 where bytes.equalsLowercased(name, Literal.textarea) || bytes.equalsLowercased(name, Literal.noframes):
            self = .rawText
        default: self = .other
        }
    }

    var linkSource: LinkSource? {
        switch self {
        case .anchor: .anchor
        case .area: .area
        case .vml: .vml
        default: nil
        }
    }
}

/// The attributes of one link-bearing start tag that matter; first occurrence wins.
private struct LinkAttributes {
    var href: Range<Int>?
    var hrefQuote: UInt8?
    var clicktrack: Range<Int>?
    var linkname: Range<Int>?
    var unsubscribe: Range<Int>?
    var sublink: Range<Int>?

    mutating func record(_ bytes: UnsafeBufferPointer<UInt8>, name: Range<Int>, value: Range<Int>, quote: UInt8?) {
        if name.count == 4 {
            if href == nil, bytes.equalsLowercased(name, Literal.href) {
                href = value
                hrefQuote = quote
            }
            return
        }
        // Every data-msys-* name is at least 17 bytes (`data-msys-sublink`); ordinary names skip the compares.
        guard name.count >= Literal.sublink.utf8CodeUnitCount else { return }
        if clicktrack == nil, bytes.equalsLowercased(name, Literal.clicktrack) {
            clicktrack = value
        } else if linkname == nil, bytes.equalsLowercased(name, Literal.linkname) {
            linkname = value
        } else if unsubscribe == nil, bytes.equalsLowercased(name, Literal.unsubscribe) {
            unsubscribe = value
        } else if sublink == nil, bytes.equalsLowercased(name, Literal.sublink) {
            sublink = value
        }
    }
}

/// The scanning state machine. Lives only for the duration of one `scan` call.
private struct HTMLScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let limits: ScanLimits
    var links: [FoundLink] = []
    var sawHTMLTag = false
    var firstBodyEnd: Int?
    var lastBodyClose: Int?
    /// Inside `<!--[if …]>` (not downlevel-revealed) until `<![endif]`: markup is scanned for
    /// links, but `<html>`, `<body>` and `</body>` there do not count for the pixels.
    var inConditional = false
    /// Reused buffer for decoding attribute values (no allocation per tag).
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Runs the scan. Every step strictly advances `i`; a step returning nil means the markup is
    /// unterminated at the end of input, which ends the scan.
    mutating func run() {
        let n = bytes.count
        var i = 0
        while i < n {
            guard let lt = bytes.firstOffset(of: ASCII.less, from: i), lt + 1 < n else { return }
            let next = bytes[lt + 1]
            let after: Int?
            if ASCII.isLetter(next) {
                after = startTag(at: lt)
            } else if next == ASCII.slash {
                after = endTag(at: lt)
            } else if next == ASCII.bang {
                after = markupDeclaration(at: lt)
            } else if next == ASCII.question {
                after = skipPast(ASCII.greater, from: lt + 2)
            } else {
                after = lt + 1  // a lone `<` is text
            }
            guard let after else { return }
            i = after
        }
    }

    // MARK: Tags

    /// `<` letter: a start tag. Returns the offset after it (after a raw-text element's content).
    mutating func startTag(at lt: Int) -> Int? {
        let nameStart = lt + 1
        let nameEnd = tagNameEnd(from: nameStart)
        let kind = TagKind(bytes, name: nameStart..<nameEnd)
        var attributes = LinkAttributes()
        guard let end = attributesEnd(from: nameEnd, collect: kind.linkSource != nil, into: &attributes) else {
            return nil
        }
        switch kind {
        case .anchor, .area, .vml:
            if let source = kind.linkSource { addLink(attributes, source: source) }
        case .html:
            if !inConditional { sawHTMLTag = true }
        case .body:
            if !inConditional, firstBodyEnd == nil { firstBodyEnd = end }
        case .plaintext:
            return nil  // everything after `<plaintext>` is text
        case .rawText:
            return rawTextEnd(from: end, name: nameStart..<nameEnd)
        case .other:
            break
        }
        return end
    }

    /// `</`: an end tag, `</>` (ignored) or a bogus comment.
    mutating func endTag(at lt: Int) -> Int? {
        let nameStart = lt + 2
        guard nameStart < bytes.count else { return nil }
        let first = bytes[nameStart]
        if first == ASCII.greater { return nameStart + 1 }
        guard ASCII.isLetter(first) else { return skipPast(ASCII.greater, from: nameStart) }
        let nameEnd = tagNameEnd(from: nameStart)
        var ignored = LinkAttributes()
        guard let end = attributesEnd(from: nameEnd, collect: false, into: &ignored) else { return nil }
        if !inConditional, bytes.equalsLowercased(nameStart..<nameEnd, Literal.body) {
            lastBodyClose = lt
        }
        return end
    }

    /// HTML5 tag name state: the name runs to whitespace, `/` or `>`.
    func tagNameEnd(from start: Int) -> Int {
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            if ASCII.isWhitespace(b) || b == ASCII.slash || b == ASCII.greater { break }
            i += 1
        }
        return i
    }

    /// Walks the attributes of a tag from just after its name to its `>`, recording those that
    /// matter into `attributes` when `collect` is true. Returns the offset after `>`, nil at end of input.
    ///
    /// Follows the HTML5 states "before/after attribute name", "attribute value (double-quoted,
    /// single-quoted, unquoted)": a `/` between attributes is skipped, an attribute name takes
    /// its first byte whatever it is (so `<a =x>` is an attribute named `=x`), a quoted value
    /// runs to its closing quote across lines and `>`.
    func attributesEnd(from start: Int, collect: Bool, into attributes: inout LinkAttributes) -> Int? {
        let n = bytes.count
        var i = start
        while true {
            while i < n, ASCII.isWhitespace(bytes[i]) || bytes[i] == ASCII.slash { i += 1 }
            guard i < n else { return nil }
            if bytes[i] == ASCII.greater { return i + 1 }
            let nameStart = i
            i += 1
            while i < n {
                let b = bytes[i]
                if ASCII.isWhitespace(b) || b == ASCII.slash || b == ASCII.greater || b == ASCII.equals { break }
                i += 1
            }
            let name = nameStart..<i
            while i < n, ASCII.isWhitespace(bytes[i]) { i += 1 }
            guard i < n else { return nil }
            guard bytes[i] == ASCII.equals else {
                if collect { attributes.record(bytes, name: name, value: i..<i, quote: nil) }
                continue
            }
            i += 1
            while i < n, ASCII.isWhitespace(bytes[i]) { i += 1 }
            guard i < n else { return nil }
            let b = bytes[i]
            if b == ASCII.quote || b == ASCII.apostrophe {
                guard let close = bytes.firstOffset(of: b, from: i + 1) else { return nil }
                if collect { attributes.record(bytes, name: name, value: (i + 1)..<close, quote: b) }
                i = close + 1
            } else if b == ASCII.greater {
                if collect { attributes.record(bytes, name: name, value: i..<i, quote: nil) }
                return i + 1
            } else {
                let valueStart = i
                while i < n, !ASCII.isWhitespace(bytes[i]), bytes[i] != ASCII.greater { i += 1 }
                guard i < n else { return nil }
                if collect { attributes.record(bytes, name: name, value: valueStart..<i, quote: nil) }
            }
        }
    }

    /// Content of a raw-text or RCDATA element: returns the offset of the `<` of the matching end
    /// tag (`</name` followed by whitespace, `/` or `>`, case-insensitive), nil when there is none.
    func rawTextEnd(from start: Int, name: Range<Int>) -> Int? {
        let n = bytes.count
        var i = start
        while let lt = bytes.firstOffset(of: ASCII.less, from: i) {
            let nameStart = lt + 2
            let nameEnd = nameStart + name.count
            guard nameEnd < n else { return nil }
            if bytes[lt + 1] == ASCII.slash, caseInsensitiveEqual(nameStart, name) {
                let b = bytes[nameEnd]
                if ASCII.isWhitespace(b) || b == ASCII.slash || b == ASCII.greater { return lt }
            }
            i = lt + 1
        }
        return nil
    }

    /// Bytes at `offset` equal the bytes of `range`, ASCII case-insensitively (caller checked bounds).
    func caseInsensitiveEqual(_ offset: Int, _ range: Range<Int>) -> Bool {
        var k = 0
        while k < range.count {
            if ASCII.lower(bytes[offset + k]) != ASCII.lower(bytes[range.lowerBound + k]) { return false }
            k += 1
        }
        return true
    }

    // MARK: Comments and declarations

    /// `<!`: comment, conditional comment, CDATA section, `<![endif]>`, doctype or bogus comment.
    mutating func markupDeclaration(at lt: Int) -> Int? {
        if bytes.matchesLowercased(Literal.commentOpen, at: lt) {
            return comment(contentFrom: lt + Literal.commentOpen.utf8CodeUnitCount)
        }
        if bytes.matchesLowercased(Literal.cdataOpen, at: lt) {
            return cdataEnd(from: lt + Literal.cdataOpen.utf8CodeUnitCount)
        }
        if bytes.matchesLowercased(Literal.conditionalEndif, at: lt) {
            inConditional = false
        }
        return skipPast(ASCII.greater, from: lt + 2)
    }

    /// After `<!--`. An Outlook conditional opener `[if …]>` ends right after its `>` so that its
    /// content is scanned; anything else is an ordinary comment skipped up to `-->` or `--!>`
    /// (or the abrupt `>` / `->` right after `<!--`).
    mutating func comment(contentFrom start: Int) -> Int? {
        let n = bytes.count
        guard start < n else { return nil }
        if bytes[start] == ASCII.greater { return start + 1 }
        if start + 1 < n, bytes[start] == ASCII.hyphen, bytes[start + 1] == ASCII.greater { return start + 2 }
        if let openerEnd = conditionalOpenerEnd(from: start) {
            // `<!--[if !mso]><!-->` (downlevel-revealed): the content is ordinary markup.
            var next = openerEnd
            while next < n, ASCII.isWhitespace(bytes[next]) { next += 1 }
            inConditional = !bytes.matchesLowercased(Literal.commentOpen, at: next)
            return openerEnd
        }
        // `<!--<![endif]-->` closes a downlevel-revealed block, and real templates also use it to
        // close a plain `<!--[if mso]>` block (browsers see one comment up to its `-->`).
        if bytes.matchesLowercased(Literal.conditionalEndif, at: start) { inConditional = false }
        var i = start
        while let dash = bytes.firstOffset(of: ASCII.hyphen, from: i) {
            guard dash + 2 < n else { return nil }
            if bytes[dash + 1] == ASCII.hyphen {
                if bytes[dash + 2] == ASCII.greater { return dash + 3 }
                if bytes[dash + 2] == ASCII.bang, dash + 3 < n, bytes[dash + 3] == ASCII.greater { return dash + 4 }
            }
            i = dash + 1
        }
        return nil
    }

    /// When the comment content at `start` is `[if <expression>]>`, the offset after its `>`.
    /// The expression never contains `>`, so the first `>` decides.
    func conditionalOpenerEnd(from start: Int) -> Int? {
        guard bytes.matchesLowercased(Literal.conditionalIf, at: start) else { return nil }
        let afterIf = start + Literal.conditionalIf.utf8CodeUnitCount
        guard afterIf < bytes.count else { return nil }
        let b = bytes[afterIf]
        guard ASCII.isWhitespace(b) || b == ASCII.leftParen || b == ASCII.bang else { return nil }
        guard let gt = bytes.firstOffset(of: ASCII.greater, from: afterIf), bytes[gt - 1] == ASCII.rightBracket else {
            return nil
        }
        return gt + 1
    }

    /// After `<![CDATA[`: the offset after `]]>`, nil when unterminated.
    func cdataEnd(from start: Int) -> Int? {
        let n = bytes.count
        var i = start
        while let bracket = bytes.firstOffset(of: ASCII.rightBracket, from: i) {
            guard bracket + 2 < n else { return nil }
            if bytes[bracket + 1] == ASCII.rightBracket, bytes[bracket + 2] == ASCII.greater { return bracket + 3 }
            i = bracket + 1
        }
        return nil
    }

    /// The offset after the next `byte` at or after `start`, nil when there is none.
    func skipPast(_ byte: UInt8, from start: Int) -> Int? {
        bytes.firstOffset(of: byte, from: start).map { $0 + 1 }
    }

    // MARK: Links

    /// Decides whether a link-bearing tag's `href` is tracked and records it.
    mutating func addLink(_ attributes: LinkAttributes, source: LinkSource) {
        guard let href = attributes.href, links.count < limits.maxLinks else { return }
        if let clicktrack = attributes.clicktrack, decodedTrimmed(clicktrack) == [0x30] { return }  // "0"
        scratch.removeAll(keepingCapacity: true)
        guard CharacterReferences.decode(bytes, href, into: &scratch),
            let target = LinkTarget.target(fromDecoded: &scratch, maxBytes: limits.maxURLBytes)
        else { return }
        var name = FoundLink.defaultName
        if let linkname = attributes.linkname {
            let decoded = decodedTrimmed(linkname)
            if !decoded.isEmpty { name = Self.truncated(decoded, maxBytes: limits.maxLinkNameBytes) }
        }
        let isUnsubscribe = attributes.unsubscribe.map { decodedTrimmed($0) == [0x31] } ?? false  // "1"
        var sublink: String?
        if let range = attributes.sublink {
            let decoded = decodedTrimmed(range)
            if !decoded.isEmpty { sublink = String(decoding: decoded, as: UTF8.self) }
        }
        links.append(
            FoundLink(
                replaceRange: href, quote: attributes.hrefQuote, target: target, name: name,
                isUnsubscribe: isUnsubscribe, sublink: sublink, source: source))
    }

    /// An attribute value with character references decoded (raw bytes where decoding is not
    /// certain) and ASCII whitespace trimmed.
    func decodedTrimmed(_ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        if !CharacterReferences.decode(bytes, range, into: &out) {
            out = Array(bytes[range])
        }
        var lower = 0
        var upper = out.count
        while lower < upper, ASCII.isWhitespace(out[lower]) { lower += 1 }
        while upper > lower, ASCII.isWhitespace(out[upper - 1]) { upper -= 1 }
        return Array(out[lower..<upper])
    }

    /// `bytes` as a String (invalid UTF-8 repaired) cut to at most `maxBytes` UTF-8 bytes at a
    /// Unicode scalar boundary.
    static func truncated(_ bytes: [UInt8], maxBytes: Int) -> String {
        // Invalid UTF-8 is repaired first (U+FFFD), then cut by the one rule.
        let string = String(decoding: bytes, as: UTF8.self)
        guard string.utf8.count > maxBytes else { return string }
        return String(decoding: UTF8Prefix.cut(Array(string.utf8), maxBytes: maxBytes), as: UTF8.self)
    }
}
