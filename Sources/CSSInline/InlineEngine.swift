import MailBytes

/// One inlining run over one document: sheets parsed, tree built by libxml2, selectors matched,
/// cascade resolved, patches produced.
struct InlineEngine {
    let original: [UInt8]
    let extraCSS: [UInt8]?
    let limits: CSSLimits
    let charset: String?
    /// Selector matching steps used by ``run()``.
    private(set) var matchWork = 0
    /// Whether selectors needing a class or id absent from the document are left uncompiled
    /// (``documentNames(_:skipping:)``): nil when it pays, that is when the sheets are at least
    /// 8 KB and a fifth of the document (the scan costs about 2 instructions a byte of document,
    /// a skipped selector saves about 2 000); tests force it on or off.
    var prefilter: Bool? = nil

    init(html: [UInt8], extraCSS: [UInt8]?, limits: CSSLimits, charset: String?) {
        self.original = html
        self.extraCSS = extraCSS
        self.limits = limits
        self.charset = charset
    }

    /// A sheet and where it came from (`element` nil for the extra CSS).
    struct SheetSource {
        var element: StyleElementBytes?
        var sheet: Stylesheet
        /// The unsanitized bytes the sheet's ranges refer to (the document, or the extra CSS).
        var bytes: [UInt8]
        /// The sheet's tokens, from which declarations are read when needed.
        var parser: StylesheetParser
    }

    /// A selector ready for matching, with the rule it belongs to.
    struct IndexedSelector {
        var selector: ComplexSelector
        var sheet: Int32
        var rule: Int32
        /// Cascade order of the rule across all sheets.
        var order: Int32
    }

    mutating func run() throws(CSSInlineError) -> [CSSPatch] {
        let parseBytes = Sanitizer.sanitize(original, charset: charset)
        let candidates = parseBytes.withUnsafeBufferPointer { ByteScan.styleElements($0) }
        var cssBytes = extraCSS?.count ?? 0
        for candidate in candidates {
            cssBytes += candidate.content.count
            if cssBytes > limits.maxStylesheetBytes { throw .stylesheetTooLarge(at: candidate.content.lowerBound) }
        }
        if candidates.isEmpty && extraCSS == nil { return [] }

        // One selector parser for all sheets: names and compiled selectors accumulate in it.
        var selectors = SelectorParser(
            bytes: [], tokens: [], names: NameTable(), program: SelectorProgram(), limits: limits)
        if prefilter ?? (cssBytes >= 8192 && cssBytes * 5 >= parseBytes.count) {
            selectors.documentNames = parseBytes.withUnsafeBufferPointer {
                Self.documentNames($0, skipping: candidates)
            }
        }
        var ruleBudget = limits.maxRules
        var sources: [SheetSource] = []
        for candidate in candidates {
            let tokens = CSSTokenizer.tokenizeSkippingBlocks(parseBytes, range: candidate.content)
            selectors.bytes = parseBytes
            selectors.tokens = tokens
            let parser = StylesheetParser(bytes: parseBytes, values: original, tokens: tokens)
            guard let sheet = parser.parse(selectors: &selectors, ruleBudget: &ruleBudget)
            else {
                throw .tooManyRules(at: candidate.content.lowerBound)
            }
            sources.append(SheetSource(element: candidate, sheet: sheet, bytes: original, parser: parser))
        }
        if let extraCSS {
            let extra = Sanitizer.sanitize(extraCSS, charset: nil)
            let tokens = CSSTokenizer.tokenizeSkippingBlocks(extra, range: 0..<extra.count)
            selectors.bytes = extra
            selectors.tokens = tokens
            let parser = StylesheetParser(bytes: extra, values: extraCSS, tokens: tokens)
            guard let sheet = parser.parse(selectors: &selectors, ruleBudget: &ruleBudget)
            else {
                throw .tooManyRules(at: 0)
            }
            sources.append(SheetSource(element: nil, sheet: sheet, bytes: extraCSS, parser: parser))
        }
        selectors.tokens = []
        let names = selectors.names
        let program = selectors.program
        let usesAttributes = selectors.usesAttributes
        let anyRule = sources.contains { !$0.sheet.rules.isEmpty }
        if !anyRule { return [] }

        let builder = TreeBuilder(names: names, recordAttributes: usesAttributes, maxElements: limits.maxElements)
        let styleName = names.lookup(Array("style".utf8))
        let testsStyle = styleName >= 0 && program.attributes.contains { $0.name == styleName }
        var startTags: [StartTag] = []
        // Attribute values libxml2 must still read: those some attribute selector tests.
        var testedAttributes = NameTable()
        for attribute in program.attributes where attribute.name >= 0 {
            _ = testedAttributes.intern(Array(names.name(attribute.name)))
        }
        let cuts = parseBytes.withUnsafeBufferPointer {
            Self.unparsedRanges(
                $0, styles: candidates, styleAttributes: !testsStyle, otherAttributes: true,
                keptNames: testedAttributes,
                startTags: &startTags)
        }
        builder.input = ParseInput(parseBytes, cutting: cuts)
        guard HTMLTreeParser.parse(builder.input.bytes, into: builder) else { throw .parserUnavailable }
        if builder.exceeded { throw .tooManyElements(at: parseBytes.count) }
        let tree = builder.tree

        // Only sheets libxml2 places in <head>, not opted out, are applied and shrunk.
        var active: [Bool] = []
        for source in sources {
            guard let element = source.element else {
                active.append(true)
                continue
            }
            let found = tree.styleElements.first { $0.tagEnd == element.tag.end }
            active.append(found.map { !$0.skip } ?? false)
        }

        var indexed: [IndexedSelector] = []
        var order: Int32 = 0
        for (sheetIndex, source) in sources.enumerated() where active[sheetIndex] {
            for (ruleIndex, rule) in source.sheet.rules.enumerated() {
                for selector in rule.selectors where selector.index >= 0 {
                    indexed.append(
                        IndexedSelector(
                            selector: selector, sheet: Int32(sheetIndex), rule: Int32(ruleIndex), order: order))
                }
                order += 1
            }
        }

        var patches: [CSSPatch] = []
        if !indexed.isEmpty {
            let cascade = Cascade(
                original: original, parseBytes: parseBytes, tree: tree, startTags: startTags, names: names,
                program: program,
                sources: sources, selectors: indexed, workBudget: limits.maxMatchWork)
            let (matched, work) = cascade.run()
            matchWork = work
            guard let matched else { throw .workLimit }
            patches = matched
        }
        patches.append(contentsOf: styleElementPatches(sources: sources, active: active))
        patches.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        // The contract is sorted, non-overlapping patches. They overlap only when libxml2 found
        // elements inside what the scanner read as a sheet's text: refuse rather than guess.
        for index in patches.indices.dropFirst()
        where patches[index].range.lowerBound < patches[index - 1].range.upperBound {
            throw .inconsistentMarkup(at: patches[index].range.lowerBound)
        }
        return patches
    }

    /// The values of everything written like a `class` or `id` attribute (after a blank or a
    /// quote, `class` or `id` in any case, optional blanks, `=`, optional blanks, a value) outside the
    /// sheets' text, cut into runs of CSS name characters (`[A-Za-z0-9_-]`, non-ASCII): every
    /// class or id libxml2 reports that a selector without escapes can name is among them (more
    /// names, from text or comments, only mean fewer skipped selectors). Nil when unsure: such a
    /// value holding `&` (libxml2 decodes character references) or a quote the input never closes.
    static func documentNames(_ bytes: UnsafeBufferPointer<UInt8>, skipping styles: [StyleElementBytes]) -> NameTable? {
        var names = NameTable()
        var cursor = 0
        var nextStyle = 0
        let count = bytes.count
        while let equals = bytes.firstOffset(of: 0x3D, from: cursor) {
            cursor = equals + 1
            while nextStyle < styles.count && styles[nextStyle].content.upperBound <= equals { nextStyle += 1 }
            if nextStyle < styles.count && styles[nextStyle].content.contains(equals) {
                cursor = styles[nextStyle].content.upperBound
                continue
            }
            var nameEnd = equals
            while nameEnd > 0 && HTMLBytes.isBlank(bytes[nameEnd - 1]) { nameEnd -= 1 }
            guard Self.isClassOrID(bytes, before: nameEnd) else { continue }
            var start = equals + 1
            while start < count && HTMLBytes.isBlank(bytes[start]) { start += 1 }
            guard start < count else { break }
            var end: Int
            if bytes[start] == 0x22 || bytes[start] == 0x27 {
                guard let close = bytes.firstOffset(of: bytes[start], from: start + 1) else { return nil }
                start += 1
                end = close
            } else {
                end = start
                while end < count && !HTMLBytes.isBlank(bytes[end]) && bytes[end] != 0x3E { end += 1 }
            }
            var index = start
            while index < end {
                while index < end && !Self.isNameByte(bytes[index]) {
                    if bytes[index] == 0x26 { return nil }
                    index += 1
                }
                let run = index
                while index < end && Self.isNameByte(bytes[index]) { index += 1 }
                if index > run { _ = names.intern(UnsafeBufferPointer(rebasing: bytes[run..<index])) }
            }
        }
        return names
    }

    @inline(__always) private static func isNameByte(_ byte: UInt8) -> Bool {
        byte >= 0x80 || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x5F || byte == 0x2D
    }

    /// Whether the bytes before `end` are `class` or `id`, in any case, after a blank or a quote
    /// (libxml2 reads an attribute name only after a blank or a quoted value).
    private static func isClassOrID(_ bytes: UnsafeBufferPointer<UInt8>, before end: Int) -> Bool {
        guard end >= 3 else { return false }
        let last = bytes[end - 1] | 0x20
        let start: Int
        if last == 0x64 {
            guard bytes[end - 2] | 0x20 == 0x69 else { return false }
            start = end - 2
        } else {
            guard last == 0x73, end >= 6, bytes[end - 2] | 0x20 == 0x73, bytes[end - 3] | 0x20 == 0x61,
                bytes[end - 4] | 0x20 == 0x6C, bytes[end - 5] | 0x20 == 0x63
            else { return false }
            start = end - 5
        }
        let before = bytes[start - 1]
        return HTMLBytes.isBlank(before) || before == 0x22 || before == 0x27
    }

    /// What libxml2 need not read: the text of `<style>` elements (we read sheets ourselves),
    /// the inside of comments (no element in there) and all but one byte of whitespace runs
    /// between `>` and `<` (a `>` inside a quoted attribute value makes that value shorter for
    /// libxml2, which matters only to attribute selectors on such values). With
    /// `styleAttributes` (no selector tests `style`), the text of quoted `style` attribute values
    /// goes too: libxml2 reads attribute values a character at a time, and those are the longest.
    /// With `otherAttributes`, so does the text of every other quoted attribute value but `class`,
    /// `id` and `data-*` whose name is not in `keptNames` (the names attribute selectors test), and text
    /// runs right after markup lose all but what decides the tree (see ``textCuts``).
    /// Cutting keeps the markup around them, so libxml2 builds the same tree. libxml2 ends a
    /// style element's raw text at any `</` followed by a letter, so sheets containing `</` are
    /// left in place; an unterminated comment ends the scan. Ascending, disjoint.
    static func unparsedRanges(
        _ bytes: UnsafeBufferPointer<UInt8>, styles: [StyleElementBytes], styleAttributes: Bool = false,
        otherAttributes: Bool = false, keptNames: NameTable = NameTable()
    ) -> [Range<Int>] {
        var startTags: [StartTag] = []
        return unparsedRanges(
            bytes, styles: styles, styleAttributes: styleAttributes, otherAttributes: otherAttributes,
            keptNames: keptNames, startTags: &startTags)
    }

    /// As ``unparsedRanges(_:styles:styleAttributes:otherAttributes:keptNames:)``; with
    /// `styleAttributes` or `otherAttributes`, also the start tags read on the way (in document
    /// order), so that the cascade need not read them again.
    static func unparsedRanges(
        _ bytes: UnsafeBufferPointer<UInt8>, styles: [StyleElementBytes], styleAttributes: Bool,
        otherAttributes: Bool = false, keptNames: NameTable = NameTable(), startTags: inout [StartTag]
    ) -> [Range<Int>] {
        var cuts: [Range<Int>] = []
        var cursor = 0
        var nextStyle = 0
        let count = bytes.count
        let readsTags = styleAttributes || otherAttributes
        // Where content starts right after markup libxml2 read as we did (a start tag, an end
        // tag, a comment, a style element), or -1: what follows is text for libxml2 too.
        var textStart = -1
        while let open = bytes.firstOffset(of: 0x3C, from: cursor) {
            if otherAttributes && textStart >= 0 {
                if textStart < open { textCuts(bytes, textStart..<open, into: &cuts) }
            } else {
                // Indentation between tags: libxml2 reads it a character at a time, and only
                // whether there is any whitespace matters to the tree, so one byte of it is kept.
                var blank = open
                while blank > cursor && HTMLBytes.isBlank(bytes[blank - 1]) { blank -= 1 }
                if open - blank >= 2 && blank > cursor && bytes[blank - 1] == 0x3E {
                    cuts.append((blank + 1)..<open)
                }
            }
            textStart = -1
            if nextStyle < styles.count && styles[nextStyle].element.lowerBound <= open {
                let style = styles[nextStyle]
                nextStyle += 1
                let from = cursor
                cursor = max(style.element.upperBound, open + 1)
                let content = style.content
                guard !content.isEmpty else { continue }
                var hasEndTagOpen = false
                var probe = content.lowerBound
                while let slash = bytes.firstOffset(of: 0x2F, from: probe), slash < content.upperBound {
                    if slash > content.lowerBound && bytes[slash - 1] == 0x3C {
                        hasEndTagOpen = true
                        break
                    }
                    probe = slash + 1
                }
                if !hasEndTagOpen && content.lowerBound >= from {
                    cuts.append(content)
                }
                continue
            }
            if open + 3 < count && bytes[open + 1] == 0x21 && bytes[open + 2] == 0x2D && bytes[open + 3] == 0x2D {
                let end = HTMLBytes.skipComment(bytes, open)
                let terminated =
                    end - 3 >= open + 4 && bytes[end - 3] == 0x2D && bytes[end - 2] == 0x2D && bytes[end - 1] == 0x3E
                guard terminated else { break }
                // Parsers differ on `<!-->`, `<!--->` and `--!>`: stop cutting at such a comment.
                let body = (open + 4)..<(end - 3)
                if bytes[open + 4] == 0x3E || (bytes[open + 4] == 0x2D && bytes[open + 5] == 0x3E) { break }
                var bang = body.lowerBound
                var abrupt = false
                while let found = bytes.firstOffset(of: 0x21, from: bang), found < body.upperBound + 1 {
                    if found >= body.lowerBound + 2 && bytes[found - 1] == 0x2D && bytes[found - 2] == 0x2D {
                        abrupt = true
                        break
                    }
                    bang = found + 1
                }
                if abrupt { break }
                if !body.isEmpty { cuts.append(body) }
                cursor = end
                textStart = end
                continue
            }
            if readsTags && open + 1 < count && HTMLBytes.isLetter(bytes[open + 1]) {
                let mark = cuts.count
                let found = HTMLBytes.readStartTag(bytes, at: open) { gap, name, value, quote in
                    // An attribute nothing reads goes whole when its value holds no `<` or `>`
                    // (markup we might read otherwise), with the blanks before it but one.
                    if otherAttributes,
                        Self.mayCutValue(bytes, name, style: styleAttributes, others: true, keptNames),
                        !Self.containsAngle(bytes, value)
                    {
                        var lower = gap < name.lowerBound ? gap + 1 : name.lowerBound
                        if gap < name.lowerBound, let last = cuts.last, last.upperBound == gap {
                            lower = last.lowerBound
                            cuts.removeLast()
                        }
                        cuts.append(lower..<value.upperBound)
                        return
                    }
                    if otherAttributes && name.lowerBound - gap >= 2 { cuts.append((gap + 1)..<name.lowerBound) }
                    // A quoted value without `<` or `>`: its text cannot hold markup.
                    guard quote != 0, value.count > 2,
                        Self.mayCutValue(bytes, name, style: styleAttributes, others: otherAttributes, keptNames)
                    else { return }
                    let inside = (value.lowerBound + 1)..<(value.upperBound - 1)
                    if !Self.containsAngle(bytes, inside) { cuts.append(inside) }
                }
                guard let tag = found else {
                    // Unterminated: libxml2 reads it otherwise, so nothing of it is cut.
                    cuts.removeSubrange(mark...)
                    cursor = open + 1
                    continue
                }
                startTags.append(tag)
                cursor = tag.end + 1
                textStart = bytes[tag.end] == 0x3E ? tag.end + 1 : tag.end + 2  // `>` or `/>`
                continue
            }
            // An end tag: libxml2 reads its name and skips to the next `>`.
            if otherAttributes && open + 2 < count && bytes[open + 1] == 0x2F && HTMLBytes.isLetter(bytes[open + 2]),
                let close = bytes.firstOffset(of: 0x3E, from: open + 2),
                bytes.firstOffset(of: 0x3C, from: open + 2).map({ $0 > close }) ?? true
            {
                cursor = close + 1
                textStart = cursor
                continue
            }
            cursor = open + 1
        }
        return cuts
    }

    /// Whether the text of a quoted attribute value named `bytes[name]` may be cut: `style`
    /// when `style`; with `others`, any other but `class`, `id`, `data-*` and names in `kept`.
    @inline(__always)
    private static func mayCutValue(
        _ bytes: UnsafeBufferPointer<UInt8>, _ name: Range<Int>, style: Bool, others: Bool, _ kept: NameTable
    ) -> Bool {
        let length = name.count
        let first = bytes[name.lowerBound] | 0x20
        if length == 5 && first == 0x73 && equalsLower(bytes, name.lowerBound, "style") { return style }
        guard others else { return false }
        if length == 5 && first == 0x63 && equalsLower(bytes, name.lowerBound, "class") { return false }
        if length == 2 && first == 0x69 && (bytes[name.lowerBound + 1] | 0x20) == 0x64 { return false }
        if length >= 5 && first == 0x64 && equalsLower(bytes, name.lowerBound, "data-") { return false }
        return kept.count == 0 || kept.lookup(bytes, name, lowercase: true) < 0
    }

    /// Whether `bytes` from `start` spell `literal` (lower-case ASCII) in any case.
    @inline(__always)
    private static func equalsLower(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ literal: StaticString) -> Bool
    {
        literal.withUTF8Buffer { text in
            guard start + text.count <= bytes.count else { return false }
            var index = 0
            while index < text.count {
                if ASCII.lower(bytes[start + index]) != text[index] { return false }
                index += 1
            }
            return true
        }
    }

    @inline(__always)
    private static func containsAngle(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            if byte == 0x3C || byte == 0x3E { return true }
            index += 1
        }
        return false
    }

    /// Cuts of a text run that starts right after markup and ends at `<`. libxml2 reads text a
    /// character at a time, and for the tree only two things matter: whether its first chunk
    /// (up to the first `&` or `<`, at most 1 000 bytes) is blank, which decides whether a `p`
    /// (and `body`) is implied, and where that chunk ends, where such an element is reported.
    /// So the run keeps its leading blanks, its first other byte, and the `&` that ends the first
    /// chunk; what follows only produces more characters. A blank run keeps one byte. Runs with
    /// `>` (markup we may have misread) or that start otherwise are left alone.
    private static func textCuts(_ bytes: UnsafeBufferPointer<UInt8>, _ run: Range<Int>, into cuts: inout [Range<Int>])
    {
        var first = run.lowerBound
        while first < run.upperBound && HTMLBytes.isBlank(bytes[first]) { first += 1 }
        if first == run.upperBound {
            if run.count >= 2 { cuts.append((run.lowerBound + 1)..<run.upperBound) }
            return
        }
        let lead = bytes[first]
        guard lead >= 0x21 && lead <= 0x7E && lead != 0x26 else { return }
        var chunkEnd = first + 1
        while chunkEnd < run.upperBound {
            let byte = bytes[chunkEnd]
            if byte == 0x26 { break }
            if byte == 0x3E { return }
            chunkEnd += 1
        }
        guard chunkEnd - run.lowerBound < 900 else { return }
        var index = chunkEnd
        while index < run.upperBound {
            if bytes[index] == 0x3E { return }
            index += 1
        }
        if chunkEnd > first + 1 { cuts.append((first + 1)..<chunkEnd) }
        if chunkEnd + 1 < run.upperBound { cuts.append((chunkEnd + 1)..<run.upperBound) }
    }

    /// Shrinks each active `<style>` element to the rules that were not fully inlined (or removes
    /// it), and inserts what the extra CSS could not inline before `</head>`.
    private func styleElementPatches(sources: [SheetSource], active: [Bool]) -> [CSSPatch] {
        var patches: [CSSPatch] = []
        for (index, source) in sources.enumerated() where active[index] {
            guard let element = source.element else {
                if let patch = extraLeftoverPatch(source.sheet) { patches.append(patch) }
                continue
            }
            var content: [UInt8] = []
            content.reserveCapacity(element.content.count)
            var cursor = element.content.lowerBound
            var changed = false
            var remains = !source.sheet.otherRanges.isEmpty
            for rule in source.sheet.rules {
                if rule.removable {
                    content.append(contentsOf: original[cursor..<rule.range.lowerBound])
                    cursor = rule.range.upperBound
                    while cursor < element.content.upperBound, ASCII.isWhitespace(original[cursor]) { cursor += 1 }
                    changed = true
                } else if !rule.invalid && !rule.nested && !rule.selectors.isEmpty {
                    content.append(contentsOf: original[cursor..<rule.preludeRange.lowerBound])
                    content.append(contentsOf: joined(rule.keptSelectors, from: original))
                    cursor = rule.preludeRange.upperBound
                    changed = true
                    remains = true
                } else {
                    remains = true
                }
            }
            guard changed else { continue }
            if remains {
                content.append(contentsOf: original[cursor..<element.content.upperBound])
                patches.append(CSSPatch(range: element.content, replacement: content))
            } else {
                patches.append(CSSPatch(range: element.element, replacement: []))
            }
        }
        return patches
    }

    private func joined(_ ranges: [Range<Int>], from bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, range) in ranges.enumerated() {
            if index > 0 { out.append(contentsOf: [0x2C, 0x20]) }
            out.append(contentsOf: bytes[range])
        }
        return out
    }

    /// The extra CSS's leftovers (at-rules, dynamic selectors) as a new `<style>` before `</head>`.
    private func extraLeftoverPatch(_ sheet: Stylesheet) -> CSSPatch? {
        guard let extraCSS else { return nil }
        var pieces: [(Int, [UInt8])] = sheet.otherRanges.map { ($0.lowerBound, Array(extraCSS[$0])) }
        for rule in sheet.rules where !rule.removable {
            if !rule.invalid && !rule.nested && !rule.selectors.isEmpty {
                var text = joined(rule.keptSelectors, from: extraCSS)
                text.append(contentsOf: extraCSS[rule.preludeRange.upperBound..<rule.range.upperBound])
                pieces.append((rule.range.lowerBound, text))
            } else {
                pieces.append((rule.range.lowerBound, Array(extraCSS[rule.range])))
            }
        }
        guard !pieces.isEmpty else { return nil }
        pieces.sort { $0.0 < $1.0 }
        let parseBytes = Sanitizer.sanitize(original, charset: charset)
        guard
            let headEnd = parseBytes.withUnsafeBufferPointer({ HTMLBytes.findTag($0, "head", from: 0, closing: true) })
        else { return nil }
        var text = Array("<style type=\"text/css\">\n".utf8)
        for (_, piece) in pieces {
            text.append(contentsOf: piece)
            text.append(0x0A)
        }
        text.append(contentsOf: "</style>".utf8)
        return CSSPatch(range: headEnd..<headEnd, replacement: text)
    }
}
