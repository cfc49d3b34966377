import MailBytes

/// Style sheets (CSS Syntax Level 3 §5) reduced to what inlining needs: qualified rules with
/// their selectors and declarations, and the byte ranges to keep or remove.

/// One `name: value [!important]` declaration.
struct Declaration: Sendable, Hashable {
    /// Interned lower-case property name (custom properties keep their case).
    var property: Int32
    /// The name as written (a range of the sheet's unsanitized bytes).
    var name: Range<Int>
    /// The value as written, trimmed, without `!important` (a range of the same bytes).
    var value: Range<Int>
    var important: Bool
}

/// A qualified rule: `prelude { declarations }`.
struct StyleRule: Sendable {
    /// The whole rule, prelude start to the closing brace, in the sheet's source.
    var range: Range<Int>
    /// The prelude (selector list), trimmed.
    var preludeRange: Range<Int>
    /// Selectors that can be applied now.
    var selectors: [ComplexSelector]
    /// Source ranges of selectors that must stay in the sheet.
    var keptSelectors: [Range<Int>]
    /// The prelude does not parse: nothing is inlined and the rule stays as written.
    var invalid: Bool
    /// The block holds more than declarations (nested rules): the rule stays as written.
    var nested: Bool
    /// Token indices of the block's content (between the braces). Declarations are read from
    /// it only for rules that may match (``StylesheetParser/declarations(_:properties:)``).
    var block: Range<Int>
    /// The block's content as bytes, when its tokens were left out
    /// (``CSSTokenizer/tokenizeSkippingBlocks(_:range:)``); empty otherwise.
    var blockBytes: Range<Int> = 0..<0

    /// Whether the whole rule goes away once inlined.
    var removable: Bool { !invalid && !nested && keptSelectors.isEmpty }
}

/// A parsed style sheet.
struct Stylesheet: Sendable {
    var rules: [StyleRule] = []
    /// Ranges of everything at top level that is not a qualified rule (at-rules, stray tokens).
    var otherRanges: [Range<Int>] = []
}

/// Parses a sheet's tokens (CSS Syntax §5.4.1 "consume a list of rules", top-level flag set).
struct StylesheetParser {
    /// The bytes tokens were read from.
    let bytes: [UInt8]
    /// The same bytes before sanitizing: declaration values are copied from here.
    let values: [UInt8]
    let tokens: [CSSToken]

    /// Index of the token that closes the block or function opened at `open`, or `end`.
    /// The stack of expected closers lives in a 64-bit word (2 bits a level) up to 32 levels, so
    /// the common case allocates nothing; deeper nesting spills to an array.
    func matchingClose(_ open: Int, _ end: Int) -> Int {
        var nestedBlock = false
        return matchingClose(open, end, nestedBlock: &nestedBlock)
    }

    /// As ``matchingClose(_:_:)``, also telling whether a `{` opens right inside the outer
    /// block (a nested rule where declarations would be).
    func matchingClose(_ open: Int, _ end: Int, nestedBlock: inout Bool) -> Int {
        var packed: UInt64 = 0
        var depth = 0
        var spill: [UInt8] = []
        var index = open
        while index < end {
            let code: UInt8
            switch tokens[index].kind {
            case .openCurly:
                if depth == 1 { nestedBlock = true }
                code = 1
            case .openSquare: code = 2
            case .openParen, .function: code = 3
            case .closeCurly, .closeSquare, .closeParen:
                let closing: UInt8 = tokens[index].kind == .closeCurly ? 1 : tokens[index].kind == .closeSquare ? 2 : 3
                let top = depth > 32 ? spill[spill.count - 1] : UInt8(truncatingIfNeeded: packed & 3)
                if depth > 0 && top == closing {
                    if depth > 32 {
                        spill.removeLast()
                    } else {
                        packed >>= 2
                    }
                    depth -= 1
                    if depth == 0 { return index }
                }
                index += 1
                continue
            default:
                index += 1
                continue
            }
            if depth >= 32 {
                spill.append(code)
            } else {
                packed = packed << 2 | UInt64(code)
            }
            depth += 1
            index += 1
        }
        return end
    }

    /// Parses the sheet, interning names and selectors through `selectors`.
    func parse(selectors: inout SelectorParser, ruleBudget: inout Int) -> Stylesheet? {
        var sheet = Stylesheet()
        var index = 0
        let end = tokens.count
        while index < end {
            let token = tokens[index]
            switch token.kind {
            case .whitespace, .cdo, .cdc:
                index += 1
            case .atKeyword:
                var cursor = index + 1
                while cursor < end, tokens[cursor].kind != .semicolon, tokens[cursor].kind != .openCurly {
                    if tokens[cursor].kind == .openParen || tokens[cursor].kind == .function
                        || tokens[cursor].kind == .openSquare
                    {
                        cursor = matchingClose(cursor, end)
                    }
                    cursor += 1
                }
                if cursor < end, tokens[cursor].kind == .openCurly {
                    cursor = matchingClose(cursor, end)
                }
                let last = min(cursor, end - 1)
                sheet.otherRanges.append(token.start..<tokens[last].end)
                index = cursor + 1
            default:
                var cursor = index
                while cursor < end, tokens[cursor].kind != .openCurly {
                    if tokens[cursor].kind == .openParen || tokens[cursor].kind == .function
                        || tokens[cursor].kind == .openSquare
                    {
                        cursor = matchingClose(cursor, end)
                    }
                    cursor += 1
                }
                guard cursor < end else {
                    // EOF in the prelude: a browser drops it; we leave its bytes alone.
                    sheet.otherRanges.append(token.start..<tokens[end - 1].end)
                    index = end
                    continue
                }
                var nested = false
                let close = matchingClose(cursor, end, nestedBlock: &nested)
                ruleBudget -= 1
                if ruleBudget < 0 { return nil }
                let prelude = selectors.trimmed(index..<cursor)
                // An empty prelude (`{color:red}`) is an invalid rule: kept as written, never applied.
                let preludeRange =
                    prelude.isEmpty
                    ? token.start..<token.start : tokens[prelude.lowerBound].start..<tokens[prelude.upperBound - 1].end
                var rule = StyleRule(
                    range: token.start..<tokens[min(close, end - 1)].end,
                    preludeRange: preludeRange,
                    selectors: [], keptSelectors: [], invalid: false, nested: false, block: (cursor + 1)..<close)
                if prelude.isEmpty {
                    rule.invalid = true
                } else {
                    selectors.parseList(prelude) { outcome, range in
                        switch outcome {
                        case .invalid: rule.invalid = true
                        case .keep:
                            rule.keptSelectors.append(tokens[range.lowerBound].start..<tokens[range.upperBound - 1].end)
                        case .inlinable(let selector): rule.selectors.append(selector)
                        }
                    }
                }
                if rule.invalid { rule.selectors = [] }
                rule.nested = nested || tokens[cursor].flag
                if close == cursor + 1 && close < end { rule.blockBytes = tokens[cursor].end..<tokens[close].start }
                sheet.rules.append(rule)
                index = close + 1
            }
        }
        return sheet
    }

    /// §5.4.5 "consume a list of declarations" of a rule's block (nested blocks are skipped).
    func declarations(_ rule: StyleRule, properties: inout NameTable) -> [Declaration] {
        var scratch: [CSSToken] = []
        return declarations(rule, properties: &properties, scratch: &scratch)
    }

    /// As ``declarations(_:properties:)``; a block left out by the tokenizer is tokenized into
    /// `scratch`, whose storage serves from one rule to the next.
    func declarations(_ rule: StyleRule, properties: inout NameTable, scratch: inout [CSSToken]) -> [Declaration] {
        if rule.block.isEmpty && !rule.blockBytes.isEmpty {
            CSSTokenizer.tokenize(bytes, range: rule.blockBytes, into: &scratch)
            let block = StylesheetParser(bytes: bytes, values: values, tokens: scratch)
            return block.declarations(in: 0..<scratch.count, properties: &properties)
        }
        return declarations(in: rule.block, properties: &properties)
    }

    /// The declarations of `tokens[range]`.
    private func declarations(in range: Range<Int>, properties: inout NameTable) -> [Declaration] {
        var result: [Declaration] = []
        var index = range.lowerBound
        while index < range.upperBound {
            var stop = index
            while stop < range.upperBound, tokens[stop].kind != .semicolon {
                switch tokens[stop].kind {
                case .openCurly, .openParen, .function, .openSquare:
                    stop = matchingClose(stop, range.upperBound)
                default: break
                }
                stop += 1
            }
            stop = min(stop, range.upperBound)
            if let declaration = declaration(index..<stop, properties: &properties) {
                result.append(declaration)
            }
            index = stop + 1
        }
        return result
    }

    /// One declaration from its tokens, or nil when it is not `ident ws* : value`.
    func declaration(_ range: Range<Int>, properties: inout NameTable) -> Declaration? {
        var index = range.lowerBound
        while index < range.upperBound, tokens[index].kind == .whitespace { index += 1 }
        guard index < range.upperBound, tokens[index].kind == .ident else { return nil }
        let nameToken = tokens[index]
        index += 1
        while index < range.upperBound, tokens[index].kind == .whitespace { index += 1 }
        guard index < range.upperBound, tokens[index].kind == .colon else { return nil }
        index += 1
        while index < range.upperBound, tokens[index].kind == .whitespace { index += 1 }
        var last = range.upperBound
        while last > index, tokens[last - 1].kind == .whitespace { last -= 1 }
        guard last > index else { return nil }
        var important = false
        if tokens[last - 1].kind == .ident,
            ASCII.equalsLower(bytes, tokens[last - 1].start..<tokens[last - 1].end, "important")
        {
            var bang = last - 2
            while bang >= index, tokens[bang].kind == .whitespace { bang -= 1 }
            if bang >= index, tokens[bang].kind == .delim, bytes[tokens[bang].start] == 0x21 {
                important = true
                last = bang
                while last > index, tokens[last - 1].kind == .whitespace { last -= 1 }
                guard last > index else { return nil }
            }
        }
        let name = nameToken.start..<nameToken.end
        let isCustom = name.count > 1 && values[name.lowerBound] == 0x2D && values[name.lowerBound + 1] == 0x2D
        let property = properties.intern(values, name, lowercase: !isCustom)
        return Declaration(
            property: property, name: name, value: tokens[index].start..<tokens[last - 1].end, important: important)
    }
}
