import MailBytes

/// Selectors of docs/SPEC.md §5.3: parsed from CSS tokens into right-to-left compound lists, with
/// Selectors Level 4 specificity.

/// How a compound relates to the compound on its left.
enum Combinator: UInt8, Sendable {
    case descendant, child, adjacent, sibling
}

/// `[name op value i]`.
struct AttributeSelector: Sendable, Hashable {
    enum Operator: UInt8, Sendable {
        case exists, equals, includes, dashMatch, prefix, suffix, substring
    }
    var name: Int32
    var op: Operator
    var value: [UInt8]
    var caseInsensitive: Bool
}

/// The structural pseudo-classes we can evaluate on a static tree.
enum PseudoClass: Sendable, Hashable {
    /// `:nth-child(an+b)` and friends: `ofType` limits counting to same-tag siblings, `fromEnd`
    /// counts from the last sibling.
    case nth(a: Int, b: Int, ofType: Bool, fromEnd: Bool)
    case root
    case empty
    case not([ComplexSelector])
}

/// Interned names of one compound (its ids or its classes): up to three held inline, so the
/// usual `.name` or `#name` compound allocates nothing.
struct NameList: Sendable, Hashable, Sequence {
    private var count: Int32 = 0
    private var n0: Int32 = -1
    private var n1: Int32 = -1
    private var n2: Int32 = -1
    private var more: [Int32] = []

    var isEmpty: Bool { count == 0 }
    var first: Int32? { count > 0 ? n0 : nil }

    mutating func append(_ name: Int32) {
        switch count {
        case 0: n0 = name
        case 1: n1 = name
        case 2: n2 = name
        default: more.append(name)
        }
        count += 1
    }

    struct Iterator: IteratorProtocol {
        let list: NameList
        var index: Int32 = 0

        mutating func next() -> Int32? {
            guard index < list.count else { return nil }
            defer { index += 1 }
            switch index {
            case 0: return list.n0
            case 1: return list.n1
            case 2: return list.n2
            default: return list.more[Int(index) - 3]
            }
        }
    }

    func makeIterator() -> Iterator { Iterator(list: self) }
}

/// A compound selector: every part must match the same element.
struct CompoundSelector: Sendable, Hashable {
    /// Interned lower-case tag name, -1 for any (`*` or absent).
    var tag: Int32 = -1
    var ids = NameList()
    var classes = NameList()
    var attributes: [AttributeSelector] = []
    var pseudos: [PseudoClass] = []
    /// Relation to the compound on the left (unused for the leftmost).
    var combinator: Combinator = .descendant
}

/// A complex selector: its compiled form in the parser's ``SelectorProgram``, and its
/// specificity. A plain value, so rules holding thousands of them cost nothing to release.
struct ComplexSelector: Sendable, Hashable {
    /// Index in ``SelectorProgram/complexes``.
    var index: Int32
    /// Specificity packed as a << 20 | b << 10 | c.
    var specificity: UInt32

    /// A selector that needs a class or id the document lacks: valid and inlinable, never compiled
    /// nor matched (``SelectorParser/documentNames``).
    static let absent = ComplexSelector(index: -1, specificity: 0)
}

/// What a selector in a rule's prelude turned out to be.
enum SelectorOutcome: Sendable {
    /// Can be applied to elements now.
    case inlinable(ComplexSelector)
    /// Valid for a browser but needs a live document (`:hover`, `::before`, unknown pseudo):
    /// stays in the style sheet.
    case keep
    /// Syntax error: browsers drop the whole rule; we keep it verbatim and inline nothing.
    case invalid
}

/// Parses selector lists from tokens. Names are interned into `names`.
struct SelectorParser {
    /// The sheet being parsed: its (sanitized) bytes and tokens.
    var bytes: [UInt8]
    var tokens: [CSSToken]
    var names: NameTable
    /// Where parsed selectors are compiled to (shared by all sheets of a document).
    var program: SelectorProgram
    let limits: CSSLimits
    /// Set when any attribute selector was parsed (elements then record their attributes).
    var usesAttributes = false
    var compoundBuffer: [CompoundSelector] = []
    /// The document's class names and ids (a superset, see ``InlineEngine/documentNames(_:skipping:)``),
    /// or nil when unknown. A top-level selector that ``cannotMatch(_:present:)`` is not compiled:
    /// it is answered with ``ComplexSelector/absent`` (inlinable, never matched).
    var documentNames: NameTable? = nil

    /// Dynamic or otherwise document-state pseudo-classes, known to browsers, kept in the sheet.
    private static let dynamicPseudoClasses: Set<[UInt8]> = Set(
        [
            "hover", "active", "focus", "visited", "link", "any-link", "focus-within", "focus-visible",
            "target", "target-within", "checked", "disabled", "enabled", "indeterminate", "default",
            "valid", "invalid", "in-range", "out-of-range", "required", "optional", "read-only",
            "read-write", "placeholder-shown", "fullscreen", "scope", "current", "past", "future",
            "playing", "paused", "defined", "autofill", "-webkit-autofill", "local-link", "lang", "dir",
            "has", "is", "where", "host", "host-context",
        ].map { Array($0.utf8) })

    private static let legacyPseudoElements: Set<[UInt8]> = Set(
        ["before", "after", "first-line", "first-letter"].map { Array($0.utf8) })

    /// Splits `tokens[range]` at top-level commas and parses each selector.
    mutating func parseList(
        _ range: Range<Int>, depth: Int = 0, _ body: (SelectorOutcome, Range<Int>) -> Void
    ) {
        var start = range.lowerBound
        var nesting = 0
        var index = range.lowerBound
        while index <= range.upperBound {
            if index == range.upperBound || (nesting == 0 && tokens[index].kind == .comma) {
                let piece = trimmed(start..<index)
                if piece.isEmpty {
                    body(.invalid, piece)
                } else if depth == 0, let present = documentNames, cannotMatch(piece, present: present) {
                    internNames(piece)
                    body(.inlinable(.absent), piece)
                } else {
                    body(parseComplex(piece, depth: depth), piece)
                }
                start = index + 1
            } else {
                switch tokens[index].kind {
                case .openParen, .openSquare, .openCurly, .function: nesting += 1
                case .closeParen, .closeSquare, .closeCurly: nesting = max(0, nesting - 1)
                default: break
                }
            }
            index += 1
        }
    }

    /// The interned name written at `range` (escapes resolved); no allocation when it has no
    /// escape and is already known.
    private mutating func internName(_ range: Range<Int>, lowercase: Bool) -> Int32 {
        var index = range.lowerBound
        while index < range.upperBound && bytes[index] != 0x5C { index += 1 }
        if index == range.upperBound { return names.intern(bytes, range, lowercase: lowercase) }
        let value = CSSValue.unescape(bytes, range)
        return names.intern(lowercase ? ASCII.lowercased(value) : value)
    }

    /// `range` without leading and trailing whitespace tokens.
    func trimmed(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, tokens[lower].kind == .whitespace { lower += 1 }
        while upper > lower, tokens[upper - 1].kind == .whitespace { upper -= 1 }
        return lower..<upper
    }

    private func isDelim(_ index: Int, _ byte: UInt8) -> Bool {
        index < tokens.count && tokens[index].kind == .delim && tokens[index].end - tokens[index].start == 1
            && bytes[tokens[index].start] == byte
    }

    /// Whether `tokens[range]` (trimmed) is a plain selector that ``parseComplex(_:depth:)``
    /// would find inlinable — compounds of an optional tag or `*` then ids and classes, joined by
    /// whitespace, `>`, `+` or `~`, no escape, no more compounds than the limit — with an id or
    /// class not in `present`, so that it can match no element. Anything else (pseudo-classes,
    /// attribute selectors, namespaces, escapes, syntax errors) answers false and is parsed.
    func cannotMatch(_ range: Range<Int>, present: NameTable) -> Bool {
        let end = range.upperBound
        var index = range.lowerBound
        var compounds = 0
        var absent = false
        while true {
            let compoundStart = index
            if index < end, tokens[index].kind == .ident {
                if hasEscape(tokens[index]) { return false }
                index += 1
            } else if isDelim(index, 0x2A) {
                index += 1
            }
            while index < end {
                let token = tokens[index]
                let name: Range<Int>
                if token.kind == .hash {
                    guard token.flag, !hasEscape(token) else { return false }
                    name = (token.start + 1)..<token.end
                    index += 1
                } else if isDelim(index, 0x2E), index + 1 < end, tokens[index + 1].kind == .ident {
                    guard !hasEscape(tokens[index + 1]) else { return false }
                    name = tokens[index + 1].start..<tokens[index + 1].end
                    index += 2
                } else {
                    break
                }
                if !absent && present.lookup(bytes, name, lowercase: false) < 0 { absent = true }
            }
            guard index > compoundStart else { return false }
            compounds += 1
            if index >= end { break }
            var sawWhitespace = false
            while index < end, tokens[index].kind == .whitespace {
                index += 1
                sawWhitespace = true
            }
            if isDelim(index, 0x3E) || isDelim(index, 0x2B) || isDelim(index, 0x7E) {
                index += 1
                while index < end, tokens[index].kind == .whitespace { index += 1 }
            } else if !sawWhitespace {
                return false
            }
            guard index < end else { return false }
        }
        return absent && compounds <= limits.maxSelectorCompounds
    }

    /// Interns the tag, id and class names of a selector ``cannotMatch(_:present:)`` accepted, in
    /// the order ``parseComplex(_:depth:)`` would: names get the same numbers with the pre-filter
    /// and without it, so the ancestor filter's bits, and the matching work, stay the same.
    private mutating func internNames(_ range: Range<Int>) {
        var index = range.lowerBound
        var compoundStart = true
        while index < range.upperBound {
            let token = tokens[index]
            switch token.kind {
            case .whitespace:
                compoundStart = true
            case .ident where compoundStart:
                _ = names.intern(bytes, token.start..<token.end, lowercase: true)
                compoundStart = false
            case .hash:
                _ = names.intern(bytes, (token.start + 1)..<token.end, lowercase: false)
                compoundStart = false
            case .delim where bytes[token.start] == 0x2E:
                let name = tokens[index + 1]
                _ = names.intern(bytes, name.start..<name.end, lowercase: false)
                index += 1
                compoundStart = false
            case .delim where bytes[token.start] == 0x2A:
                compoundStart = false
            default:
                compoundStart = true  // a combinator
            }
            index += 1
        }
    }

    private func hasEscape(_ token: CSSToken) -> Bool {
        var index = token.start
        while index < token.end {
            if bytes[index] == 0x5C { return true }
            index += 1
        }
        return false
    }

    /// complex-selector = compound-selector [ combinator? compound-selector ]*
    mutating func parseComplex(_ range: Range<Int>, depth: Int) -> SelectorOutcome {
        // Top-level selectors reuse one buffer (taken out while in use, so it stays unique).
        var compounds: [CompoundSelector] = []
        if depth == 0 {
            swap(&compounds, &compoundBuffer)
            compounds.removeAll(keepingCapacity: true)
        }
        defer { if depth == 0 { swap(&compounds, &compoundBuffer) } }
        var specificity: UInt32 = 0
        var index = range.lowerBound
        var pendingCombinator: Combinator? = nil
        var keep = false
        while index < range.upperBound {
            var sawWhitespace = false
            while index < range.upperBound, tokens[index].kind == .whitespace {
                index += 1
                sawWhitespace = true
            }
            guard index < range.upperBound else { break }
            var explicit: Combinator? = nil
            if isDelim(index, 0x3E) {
                explicit = .child
            } else if isDelim(index, 0x2B) {
                explicit = .adjacent
            } else if isDelim(index, 0x7E) {
                explicit = .sibling
            }
            if let explicit {
                if compounds.isEmpty || pendingCombinator != nil { return .invalid }
                pendingCombinator = explicit
                index += 1
                continue
            }
            if !compounds.isEmpty && pendingCombinator == nil {
                guard sawWhitespace else { return .invalid }
                pendingCombinator = .descendant
            }
            var compound = CompoundSelector()
            switch parseCompound(&index, range.upperBound, &compound, &specificity, depth: depth) {
            case .invalid: return .invalid
            case .keep: keep = true
            case .inlinable: break
            }
            if let combinator = pendingCombinator, !compounds.isEmpty {
                compounds[compounds.count - 1].combinator = combinator
            }
            pendingCombinator = nil
            compounds.append(compound)
            if compounds.count > limits.maxSelectorCompounds { return .keep }
        }
        if compounds.isEmpty || pendingCombinator != nil { return .invalid }
        if keep { return .keep }
        // Stored right to left; each compound's combinator describes its link to the next one
        // (the combinator written before it, which the compound on its left holds until now).
        compounds.reverse()
        let count = compounds.count
        for position in 0..<(count - 1) {
            compounds[position].combinator = compounds[position + 1].combinator
        }
        compounds[count - 1].combinator = .descendant
        return .inlinable(ComplexSelector(index: program.add(compounds), specificity: specificity))
    }

    private enum PartOutcome { case inlinable, keep, invalid }

    /// compound-selector = [ type-selector? subclass-selector* pseudo* ]!
    private mutating func parseCompound(
        _ index: inout Int, _ end: Int, _ compound: inout CompoundSelector, _ specificity: inout UInt32, depth: Int
    ) -> PartOutcome {
        var outcome = PartOutcome.inlinable
        var first = true
        while index < end {
            let token = tokens[index]
            switch token.kind {
            case .ident where first:
                if isDelim(index + 1, 0x7C) { return .keep }  // namespace prefix
                compound.tag = internName(token.start..<token.end, lowercase: true)
                specificity &+= 1
                index += 1
            case .delim where first && bytes[token.start] == 0x2A:
                if isDelim(index + 1, 0x7C) { return .keep }
                index += 1
            case .delim where bytes[token.start] == 0x7C:
                return .keep
            case .hash:
                guard token.flag else { return .invalid }
                compound.ids.append(internName((token.start + 1)..<token.end, lowercase: false))
                specificity &+= 1 << 20
                index += 1
            case .delim where bytes[token.start] == 0x2E:
                guard index + 1 < end, tokens[index + 1].kind == .ident else { return .invalid }
                let name = tokens[index + 1]
                compound.classes.append(internName(name.start..<name.end, lowercase: false))
                specificity &+= 1 << 10
                index += 2
            case .openSquare:
                guard let attribute = parseAttribute(&index, end) else { return .invalid }
                compound.attributes.append(attribute)
                usesAttributes = true
                specificity &+= 1 << 10
            case .colon:
                switch parsePseudo(&index, end, &compound, &specificity, depth: depth) {
                case .invalid: return .invalid
                case .keep: outcome = .keep
                case .inlinable: break
                }
            default:
                if first { return .invalid }
                return outcome
            }
            first = false
            if index < end, tokens[index].kind == .whitespace { return outcome }
            if index < end, isDelim(index, 0x3E) || isDelim(index, 0x2B) || isDelim(index, 0x7E) { return outcome }
        }
        return outcome
    }

    /// attribute-selector = '[' ident ( attr-matcher ( string | ident ) attr-modifier? )? ']'
    private mutating func parseAttribute(_ index: inout Int, _ end: Int) -> AttributeSelector? {
        var cursor = index + 1
        func skipSpace() { while cursor < end, tokens[cursor].kind == .whitespace { cursor += 1 } }
        skipSpace()
        guard cursor < end, tokens[cursor].kind == .ident else { return nil }
        let nameToken = tokens[cursor]
        let name = internName(nameToken.start..<nameToken.end, lowercase: true)
        cursor += 1
        skipSpace()
        guard cursor < end else { return nil }
        if tokens[cursor].kind == .closeSquare {
            index = cursor + 1
            return AttributeSelector(name: name, op: .exists, value: [], caseInsensitive: false)
        }
        var op: AttributeSelector.Operator
        if isDelim(cursor, 0x3D) {
            op = .equals
            cursor += 1
        } else {
            guard tokens[cursor].kind == .delim, isDelim(cursor + 1, 0x3D) else { return nil }
            switch bytes[tokens[cursor].start] {
            case 0x7E: op = .includes
            case 0x7C: op = .dashMatch
            case 0x5E: op = .prefix
            case 0x24: op = .suffix
            case 0x2A: op = .substring
            default: return nil
            }
            cursor += 2
        }
        skipSpace()
        guard cursor < end else { return nil }
        let valueToken = tokens[cursor]
        let value: [UInt8]
        switch valueToken.kind {
        case .string: value = CSSValue.stringValue(bytes, valueToken)
        case .ident: value = CSSValue.unescape(bytes, valueToken.start..<valueToken.end)
        case .number, .dimension, .percentage: value = Array(bytes[valueToken.start..<valueToken.end])
        default: return nil
        }
        cursor += 1
        skipSpace()
        var caseInsensitive = false
        if cursor < end, tokens[cursor].kind == .ident {
            if ASCII.equalsLower(bytes, tokens[cursor].start..<tokens[cursor].end, "i") {
                caseInsensitive = true
            } else if !ASCII.equalsLower(bytes, tokens[cursor].start..<tokens[cursor].end, "s") {
                return nil
            }
            cursor += 1
            skipSpace()
        }
        guard cursor < end, tokens[cursor].kind == .closeSquare else { return nil }
        index = cursor + 1
        return AttributeSelector(name: name, op: op, value: value, caseInsensitive: caseInsensitive)
    }

    /// pseudo-class = ':' ident | ':' function-token any-value ')'; pseudo-element = ':' pseudo-class
    private mutating func parsePseudo(
        _ index: inout Int, _ end: Int, _ compound: inout CompoundSelector, _ specificity: inout UInt32, depth: Int
    ) -> PartOutcome {
        var cursor = index + 1
        guard cursor < end else { return .invalid }
        if tokens[cursor].kind == .colon {
            cursor += 1
            guard cursor < end else { return .invalid }
            index = skipPseudoArgument(cursor, end)
            return index > cursor ? .keep : .invalid
        }
        let token = tokens[cursor]
        if token.kind == .ident {
            let name = ASCII.lowercased(CSSValue.unescape(bytes, token.start..<token.end))
            index = cursor + 1
            let structural: PseudoClass?
            switch String(decoding: name, as: UTF8.self) {
            case "first-child": structural = .nth(a: 0, b: 1, ofType: false, fromEnd: false)
            case "last-child": structural = .nth(a: 0, b: 1, ofType: false, fromEnd: true)
            case "first-of-type": structural = .nth(a: 0, b: 1, ofType: true, fromEnd: false)
            case "last-of-type": structural = .nth(a: 0, b: 1, ofType: true, fromEnd: true)
            case "only-child":
                compound.pseudos.append(.nth(a: 0, b: 1, ofType: false, fromEnd: false))
                structural = .nth(a: 0, b: 1, ofType: false, fromEnd: true)
            case "only-of-type":
                compound.pseudos.append(.nth(a: 0, b: 1, ofType: true, fromEnd: false))
                structural = .nth(a: 0, b: 1, ofType: true, fromEnd: true)
            case "root": structural = .root
            case "empty": structural = .empty
            default: structural = nil
            }
            if let structural {
                compound.pseudos.append(structural)
                specificity &+= 1 << 10
                return .inlinable
            }
            return .keep  // dynamic, pseudo-element in legacy syntax, or unknown
        }
        guard token.kind == .function else { return .invalid }
        let name = ASCII.lowercased(CSSValue.unescape(bytes, token.start..<(token.end - 1)))
        let argumentEnd = skipPseudoArgument(cursor, end) - 1  // index of ')'
        guard argumentEnd > cursor, argumentEnd < end, tokens[argumentEnd].kind == .closeParen else {
            return .invalid
        }
        index = argumentEnd + 1
        let arguments = (cursor + 1)..<argumentEnd
        switch String(decoding: name, as: UTF8.self) {
        case "nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type":
            guard let (a, b) = parseNth(arguments) else { return .invalid }
            let ofType = name.count > 7 && name.suffix(7).elementsEqual("of-type".utf8)
            compound.pseudos.append(
                .nth(a: a, b: b, ofType: ofType, fromEnd: name.starts(with: Array("nth-last".utf8))))
            specificity &+= 1 << 10
            return .inlinable
        case "not":
            guard depth < limits.maxSelectorNesting else { return .keep }
            var inner: [ComplexSelector] = []
            var best: UInt32 = 0
            var outcome = PartOutcome.inlinable
            parseList(arguments, depth: depth + 1) { selector, _ in
                switch selector {
                case .invalid: outcome = .invalid
                case .keep: if outcome == .inlinable { outcome = .keep }
                case .inlinable(let selector):
                    inner.append(selector)
                    best = max(best, selector.specificity)
                }
            }
            if outcome != .inlinable { return outcome }
            compound.pseudos.append(.not(inner))
            specificity &+= best
            return .inlinable
        default:
            return .keep
        }
    }

    /// Index after the pseudo's name token, or after the closing parenthesis of its function.
    private func skipPseudoArgument(_ cursor: Int, _ end: Int) -> Int {
        guard cursor < end else { return cursor }
        guard tokens[cursor].kind == .function else { return cursor + 1 }
        var depth = 1
        var index = cursor + 1
        while index < end {
            switch tokens[index].kind {
            case .function, .openParen: depth += 1
            case .closeParen:
                depth -= 1
                if depth == 0 { return index + 1 }
            default: break
            }
            index += 1
        }
        return cursor  // unterminated
    }

    /// An+B microsyntax (CSS Syntax §6), read from the argument's raw text without whitespace.
    private func parseNth(_ range: Range<Int>) -> (Int, Int)? {
        guard !range.isEmpty else { return nil }
        var text: [UInt8] = []
        for token in tokens[range] where token.kind != .whitespace {
            text.append(contentsOf: bytes[token.start..<token.end].map(ASCII.lower))
        }
        if text == Array("odd".utf8) { return (2, 1) }
        if text == Array("even".utf8) { return (2, 0) }
        guard let nIndex = text.firstIndex(of: 0x6E) else {
            guard let b = Self.integer(text[...]) else { return nil }
            return (0, b)
        }
        let aText = text[..<nIndex]
        let a: Int
        if aText.isEmpty || aText == [0x2B] {
            a = 1
        } else if aText == [0x2D] {
            a = -1
        } else {
            guard let value = Self.integer(aText) else { return nil }
            a = value
        }
        let rest = text[(nIndex + 1)...]
        if rest.isEmpty { return (a, 0) }
        guard rest.first == 0x2B || rest.first == 0x2D, rest.count > 1 else { return nil }
        guard let b = Self.integer(rest) else { return nil }
        return (a, b)
    }

    private static func integer(_ text: ArraySlice<UInt8>) -> Int? {
        var index = text.startIndex
        var negative = false
        if index < text.endIndex, text[index] == 0x2B || text[index] == 0x2D {
            negative = text[index] == 0x2D
            index += 1
        }
        guard index < text.endIndex else { return nil }
        var value = 0
        while index < text.endIndex {
            let byte = text[index]
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value &* 10 &+ Int(byte - 0x30)
            if value > 1_000_000_000 { return nil }
            index += 1
        }
        return negative ? -value : value
    }
}
