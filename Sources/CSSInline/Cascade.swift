import MailBytes

/// Selector matching against the libxml2 tree and the cascade into `style` attributes
/// (collect property, importance, specificity, order per element, then write once).
struct Cascade {
    let original: [UInt8]
    let parseBytes: [UInt8]
    let tree: DocumentTree
    /// Start tags read before parsing, in document order (may be empty): found by their end.
    let startTags: [StartTag]
    let names: NameTable
    let properties: NameTable
    let sources: [InlineEngine.SheetSource]
    let selectors: [InlineEngine.IndexedSelector]

    private let program: SelectorProgram
    private let entries: [Entry]
    private let declarations: [DeclarationRef]
    private let byID: [[Int32]]
    private let byClass: [[Int32]]
    private let byTag: [[Int32]]
    private let byAttribute: [[Int32]]
    /// Selectors whose subject needs `[name=value]`, by ``Cascade/attributeKey(_:_:)``.
    private let byAttributeValue: [UInt64: [Int32]]
    /// Selectors whose subject needs one sibling position (`:nth-child(5)`, `:last-of-type`),
    /// by ``Cascade/positionKey(tag:ofType:fromEnd:position:)``.
    private let byPosition: [UInt64: [Int32]]
    private let universal: [Int32]
    /// Most matching steps (``CSSLimits/maxMatchWork``).
    private let workBudget: Int

    /// A selector ready for matching: its compiled form, cascade keys, and its rule's
    /// declarations (`declarations[declarationStart..<declarationEnd]`).
    struct Entry {
        /// Names the element's ancestors must include for the selector to match.
        var ancestors: NameFilter
        var complex: Int32
        var specificity: UInt32
        var order: Int32
        var declarationStart: Int32
        var declarationEnd: Int32
    }

    /// What the cascade needs of a declaration, without its bytes.
    struct DeclarationRef {
        var property: Int32
        var important: Bool
        /// Whether `name` and `value` are ranges of the extra CSS (else of the document).
        var extra: Bool
        var name: Range<Int>
        var value: Range<Int>
    }

    /// One winning declaration for an element.
    struct Winner {
        var property: Int32
        var important: Bool
        var specificity: UInt32
        var order: Int32
        /// Index in `declarations`: later declarations of a rule come later there.
        var declaration: Int32

        @inline(__always) func beats(_ other: Winner) -> Bool {
            if important != other.important { return important }
            if specificity != other.specificity { return specificity > other.specificity }
            if order != other.order { return order > other.order }
            return declaration > other.declaration
        }
    }

    /// An existing declaration of a `style` attribute: its raw bytes and what it sets.
    struct InlineDeclaration {
        var range: Range<Int>
        var property: Int32
        var important: Bool
    }

    init(
        original: [UInt8], parseBytes: [UInt8], tree: DocumentTree, startTags: [StartTag], names: NameTable,
        program: SelectorProgram,
        sources: [InlineEngine.SheetSource], selectors: [InlineEngine.IndexedSelector], workBudget: Int
    ) {
        self.workBudget = workBudget
        self.original = original
        self.parseBytes = parseBytes
        self.tree = tree
        self.startTags = startTags
        self.names = names
        self.sources = sources
        self.selectors = selectors
        // Names present in the document: a selector whose subject needs an id, class or tag the
        // document lacks can never match, and is neither compiled nor indexed (large framework
        // sheets use a small part of their classes).
        var present = [Bool](repeating: false, count: names.count)
        for element in 0..<tree.count {
            if tree.tag[element] >= 0 { present[Int(tree.tag[element])] = true }
            if tree.id[element] >= 0 { present[Int(tree.id[element])] = true }
        }
        for name in tree.classes where name >= 0 { present[Int(name)] = true }
        var entries: [Entry] = []
        // Properties are interned as the declarations of rules that may match are read.
        var properties = NameTable()
        var declarations: [DeclarationRef] = []
        var byID = [[Int32]](repeating: [], count: names.count)
        var byClass = [[Int32]](repeating: [], count: names.count)
        var byTag = [[Int32]](repeating: [], count: names.count)
        var byAttribute = [[Int32]](repeating: [], count: names.count)
        var byAttributeValue: [UInt64: [Int32]] = [:]
        var byPosition: [UInt64: [Int32]] = [:]
        var universal: [Int32] = []
        var lastRule: (Int32, Int32) = (-1, -1)
        var blockTokens: [CSSToken] = []
        var ruleDeclarations: (Int32, Int32) = (0, 0)
        for entry in selectors {
            let key = program.subject(entry.selector.index)
            // Every compound must match some element (those inside `:not()` are not compounds
            // of this selector).
            if program.needsAbsentName(entry.selector.index, present: present) { continue }
            if lastRule != (entry.sheet, entry.rule) {
                lastRule = (entry.sheet, entry.rule)
                let start = Int32(declarations.count)
                let source = sources[Int(entry.sheet)]
                for declaration in source.parser.declarations(
                    source.sheet.rules[Int(entry.rule)], properties: &properties, scratch: &blockTokens)
                {
                    declarations.append(
                        DeclarationRef(
                            property: declaration.property, important: declaration.important,
                            extra: sources[Int(entry.sheet)].element == nil, name: declaration.name,
                            value: declaration.value))
                }
                ruleDeclarations = (start, Int32(declarations.count))
            }
            if ruleDeclarations.0 == ruleDeclarations.1 { continue }
            let complex = entry.selector.index
            let index = Int32(entries.count)
            entries.append(
                Entry(
                    ancestors: program.ancestorNames(complex), complex: complex,
                    specificity: entry.selector.specificity, order: entry.order,
                    declarationStart: ruleDeclarations.0, declarationEnd: ruleDeclarations.1))
            // The most selective thing the subject needs decides the bucket, so that a rule is
            // offered only to elements that can match it.
            if key.classStart > key.idStart {
                byID[Int(program.names[Int(key.idStart)])].append(index)
            } else if key.classEnd > key.classStart {
                byClass[Int(program.names[Int(key.classStart)])].append(index)
            } else if let equals = program.firstEqualsAttribute(key) {
                let attribute = program.attributes[equals]
                let value = program.attributeValues[Int(attribute.valueStart)..<Int(attribute.valueEnd)]
                byAttributeValue[Self.attributeKey(attribute.name, value), default: []].append(index)
            } else if let nth = program.firstExactPosition(key) {
                let pseudo = program.pseudos[nth]
                byPosition[
                    Self.positionKey(
                        tag: key.tag, ofType: pseudo.ofType, fromEnd: pseudo.fromEnd, position: Int(pseudo.b)),
                    default: []
                ].append(index)
            } else if key.tag >= 0 {
                byTag[Int(key.tag)].append(index)
            } else if key.attributeEnd > key.attributeStart {
                byAttribute[Int(program.attributes[Int(key.attributeStart)].name)].append(index)
            } else {
                universal.append(index)
            }
        }
        self.properties = properties
        self.byID = byID
        self.byClass = byClass
        self.byTag = byTag
        self.byAttribute = byAttribute
        self.byAttributeValue = byAttributeValue
        self.byPosition = byPosition
        self.universal = universal
        self.program = program
        self.entries = entries
        self.declarations = declarations
    }

    /// Hash of an attribute name and value, case folded (a `[name=value i]` selector and
    /// the element's value give the same key; the selector itself decides on case).
    static func attributeKey<Value: Collection<UInt8>>(_ name: Int32, _ value: Value) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(UInt32(bitPattern: name))
        for byte in value { hash = (hash ^ UInt64(ASCII.lower(byte))) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// Key of the position bucket: the subject's tag (-1 for any), what is counted, where.
    static func positionKey(tag: Int32, ofType: Bool, fromEnd: Bool, position: Int) -> UInt64 {
        let kind: UInt64 = (ofType ? 2 : 0) | (fromEnd ? 1 : 0)
        return UInt64(UInt32(bitPattern: tag)) << 32 | kind << 30 | UInt64(UInt32(clamping: position) & 0x3FFF_FFFF)
    }

    /// The patches, and the matching steps taken; `nil` patches when
    /// ``CSSLimits/maxMatchWork`` was exceeded.
    func run() -> (patches: [CSSPatch]?, work: Int) {
        let extraBytes = sources.last(where: { $0.element == nil })?.bytes ?? []
        return original.withUnsafeBufferPointer { document in
            extraBytes.withUnsafeBufferPointer { extra in
                run(document: document, extra: extra)
            }
        }
    }

    /// The cascade with the document's and the extra CSS's bytes at hand (declarations and
    /// existing style attributes are copied from them).
    private func run(
        document: UnsafeBufferPointer<UInt8>, extra: UnsafeBufferPointer<UInt8>
    ) -> (patches: [CSSPatch]?, work: Int) {
        var patches: [CSSPatch] = []
        var winners: [Winner] = []
        var scratch = Scratch()
        var slot = [Int32](repeating: -1, count: properties.count)
        var previousEnd = 0
        var matcher = SelectorMatcher(program: program, tree: tree, budget: workBudget)
        if matcher.exceeded { return (nil, matcher.work) }
        let recordsAttributes = tree.attributeStart.count == tree.count + 1
        // Ancestor name filters, parents before children (document order).
        var ownNames = [NameFilter](repeating: NameFilter(), count: tree.count)
        var ancestorNames = [NameFilter](repeating: NameFilter(), count: tree.count)
        for element in 0..<tree.count {
            var own = NameFilter()
            own.insert(tree.tag[element])
            own.insert(tree.id[element])
            var index = Int(tree.classStart[element])
            while index < Int(tree.classStart[element + 1]) {
                own.insert(tree.classes[index])
                index += 1
            }
            ownNames[element] = own
            let parent = Int(tree.parent[element])
            if parent >= 0 {
                var inherited = ancestorNames[parent]
                inherited.formUnion(ownNames[parent])
                ancestorNames[element] = inherited
            }
        }
        for element in 0..<tree.count {
            let tagEnd = tree.tagEnd[element]
            // Implied elements (html, head, body, p that libxml2 adds) are reported where the
            // parser stood, which is not the end of a start tag.
            // Elements implied while a start tag is read are reported at that tag's position too:
            // the real element is the last one reported there.
            guard tagEnd >= 0, tagEnd < parseBytes.count, parseBytes[tagEnd] == 0x3E || parseBytes[tagEnd] == 0x2F,
                element + 1 == tree.count || tree.tagEnd[element + 1] != tagEnd
            else { continue }
            defer { previousEnd = max(previousEnd, tagEnd + 1) }
            if tree.inHead[element] { continue }
            winners.removeAll(keepingCapacity: true)
            let e = Int32(element)
            let ancestors = ancestorNames[element]
            if tree.id[element] >= 0 { consider(byID[Int(tree.id[element])], e, ancestors, &matcher, &winners, &slot) }
            var classIndex = Int(tree.classStart[element])
            let classEnd = Int(tree.classStart[element + 1])
            while classIndex < classEnd {
                consider(byClass[Int(tree.classes[classIndex])], e, ancestors, &matcher, &winners, &slot)
                classIndex += 1
            }
            if tree.tag[element] >= 0 {
                consider(byTag[Int(tree.tag[element])], e, ancestors, &matcher, &winners, &slot)
            }
            if recordsAttributes {
                var attribute = Int(tree.attributeStart[element])
                let attributeEnd = Int(tree.attributeStart[element + 1])
                while attribute < attributeEnd {
                    let name = tree.attributeNames[attribute]
                    if name >= 0 { consider(byAttribute[Int(name)], e, ancestors, &matcher, &winners, &slot) }
                    attribute += 1
                }
            }
            if !byAttributeValue.isEmpty && recordsAttributes {
                var attribute = Int(tree.attributeStart[element])
                let attributeEnd = Int(tree.attributeStart[element + 1])
                while attribute < attributeEnd {
                    let name = tree.attributeNames[attribute]
                    if name >= 0,
                        let bucket = byAttributeValue[
                            Self.attributeKey(name, tree.arena[tree.attributeValues[attribute]])]
                    {
                        consider(bucket, e, ancestors, &matcher, &winners, &slot)
                    }
                    attribute += 1
                }
            }
            if !byPosition.isEmpty {
                for kind in 0..<4 {
                    let ofType = kind & 2 != 0
                    let fromEnd = kind & 1 != 0
                    let position = matcher.position(e, ofType: ofType, fromEnd: fromEnd)
                    if let bucket = byPosition[
                        Self.positionKey(tag: -1, ofType: ofType, fromEnd: fromEnd, position: position)]
                    {
                        consider(bucket, e, ancestors, &matcher, &winners, &slot)
                    }
                    if tree.tag[element] >= 0,
                        let bucket = byPosition[
                            Self.positionKey(
                                tag: tree.tag[element], ofType: ofType, fromEnd: fromEnd, position: position)]
                    {
                        consider(bucket, e, ancestors, &matcher, &winners, &slot)
                    }
                }
            }
            consider(universal, e, ancestors, &matcher, &winners, &slot)
            if matcher.exceeded { return (nil, matcher.work) }
            guard !winners.isEmpty else { continue }
            for winner in winners { slot[Int(winner.property)] = -1 }
            if let patch = stylePatch(
                tagEnd: tagEnd, floor: previousEnd, winners: &winners, scratch: &scratch, document: document,
                extra: extra)
            {
                patches.append(patch)
            }
        }
        return (patches, matcher.work)
    }

    private func consider(
        _ bucket: [Int32], _ element: Int32, _ ancestors: NameFilter, _ matcher: inout SelectorMatcher,
        _ winners: inout [Winner], _ slot: inout [Int32]
    ) {
        matcher.work &+= bucket.count
        if matcher.exceeded { return }
        for selectorIndex in bucket {
            let entry = entries[Int(selectorIndex)]
            guard ancestors.mayContain(entry.ancestors), matcher.matches(entry.complex, element) else { continue }
            var index = Int(entry.declarationStart)
            while index < Int(entry.declarationEnd) {
                let declaration = declarations[index]
                let candidate = Winner(
                    property: declaration.property, important: declaration.important,
                    specificity: entry.specificity, order: entry.order, declaration: Int32(index))
                let existing = slot[Int(declaration.property)]
                if existing < 0 {
                    slot[Int(declaration.property)] = Int32(winners.count)
                    winners.append(candidate)
                } else if candidate.beats(winners[Int(existing)]) {
                    winners[Int(existing)] = candidate
                }
                index += 1
            }
        }
    }

    // MARK: Writing

    /// The patch that gives the element ending at `tagEnd` its cascaded style.
    /// Buffers reused from one element to the next (no allocation per element but the patch).
    struct Scratch {
        var nextTag = 0
        var inline: [InlineDeclaration] = []
        var overridden: [Bool] = []
    }

    private func stylePatch(
        tagEnd: Int, floor: Int, winners: inout [Winner], scratch: inout Scratch, document: UnsafeBufferPointer<UInt8>,
        extra: UnsafeBufferPointer<UInt8>
    ) -> CSSPatch? {
        // Elements come in document order, so the known start tags are walked with a cursor.
        while scratch.nextTag < startTags.count && startTags[scratch.nextTag].end < tagEnd { scratch.nextTag += 1 }
        let known =
            scratch.nextTag < startTags.count && startTags[scratch.nextTag].end == tagEnd
            && startTags[scratch.nextTag].start >= floor
        guard
            let tag = known
                ? startTags[scratch.nextTag]
                : parseBytes.withUnsafeBufferPointer({
                    HTMLBytes.locateStartTag($0, endingAt: tagEnd, notBefore: floor)
                })
        else { return nil }
        winners.sort { ($0.specificity, $0.order, $0.declaration) < ($1.specificity, $1.order, $1.declaration) }
        var quote: UInt8 = 0x22
        var existing: Range<Int> = 0..<0
        if let value = tag.styleValue {
            if tag.styleQuote != 0 {
                quote = tag.styleQuote
                existing = (value.lowerBound + 1)..<(value.upperBound - 1)
            } else {
                existing = value
            }
        }
        inlineDeclarations(existing, into: &scratch.inline)
        scratch.overridden.removeAll(keepingCapacity: true)
        scratch.overridden.append(contentsOf: repeatElement(false, count: scratch.inline.count))
        var anyOverridden = false
        var text: [UInt8] = []
        text.reserveCapacity(existing.count + 10 + winners.count * 24)
        // Unquoted (or valueless) style attributes get a quoted value; a new one is inserted.
        let prefix: StaticString
        let patchRange: Range<Int>
        if let value = tag.styleValue {
            if tag.styleQuote != 0 {
                prefix = ""
                patchRange = existing
            } else {
                prefix = value.isEmpty ? "=\"" : "\""
                patchRange = value
            }
        } else {
            prefix = " style=\""
            patchRange = tag.insertionPoint..<tag.insertionPoint
        }
        Self.append(prefix, to: &text)
        let prefixLength = text.count
        for winner in winners {
            var inlineWins = false
            for index in scratch.inline.indices where scratch.inline[index].property == winner.property {
                if winner.important && !scratch.inline[index].important {
                    scratch.overridden[index] = true
                    anyOverridden = true
                } else {
                    inlineWins = true
                }
            }
            if inlineWins { continue }
            let declaration = declarations[Int(winner.declaration)]
            let bytes = declaration.extra ? extra : document
            text.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[declaration.name]))
            text.append(0x3A)
            text.append(0x20)
            Self.appendEscaped(UnsafeBufferPointer(rebasing: bytes[declaration.value]), quote: quote, to: &text)
            if declaration.important { Self.append(" !important", to: &text) }
            text.append(0x3B)
        }
        if text.count == prefixLength && !anyOverridden { return nil }
        if !anyOverridden {
            text.append(contentsOf: UnsafeBufferPointer(rebasing: document[existing]))
        } else {
            var first = true
            for index in scratch.inline.indices where !scratch.overridden[index] {
                if !first { text.append(0x3B) }
                text.append(contentsOf: UnsafeBufferPointer(rebasing: document[scratch.inline[index].range]))
                first = false
            }
        }
        if prefixLength > 0 { text.append(0x22) }
        return CSSPatch(range: patchRange, replacement: text)
    }

    @inline(__always) private static func append(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// Escapes a CSS value for an attribute delimited by `quote`: the quote becomes the other
    /// quote when the value has none of those, else a character reference; `&` becomes `&amp;`.
    static func appendEscaped(_ value: UnsafeBufferPointer<UInt8>, quote: UInt8, to out: inout [UInt8]) {
        let other: UInt8 = quote == 0x22 ? 0x27 : 0x22
        var plain = true
        var hasOther = false
        for byte in value {
            if byte == quote || byte == 0x26 { plain = false }
            if byte == other { hasOther = true }
        }
        if plain {
            out.append(contentsOf: value)
            return
        }
        for byte in value {
            if byte == quote {
                if !hasOther {
                    out.append(other)
                } else {
                    append(quote == 0x22 ? "&quot;" : "&#39;", to: &out)
                }
            } else if byte == 0x26 {
                append("&amp;", to: &out)
            } else {
                out.append(byte)
            }
        }
    }

    /// Splits an existing style attribute value (raw bytes) into declarations: `;` separates
    /// them except inside quotes, parentheses, or as the end of a character reference.
    func inlineDeclarations(_ range: Range<Int>, into result: inout [InlineDeclaration]) {
        result.removeAll(keepingCapacity: true)
        guard !range.isEmpty else { return }
        var start = range.lowerBound
        var index = range.lowerBound
        var quote: UInt8 = 0
        var depth = 0
        while index <= range.upperBound {
            if index == range.upperBound {
                appendInline(start..<index, to: &result)
                break
            }
            let byte = original[index]
            if byte == 0x26, let referenceEnd = characterReferenceEnd(index, range.upperBound) {
                if referenceEnd - index == 6 && original[index + 1] == 0x71 && (quote == 0 || quote == 0x26) {
                    quote = quote == 0 ? 0x26 : 0  // `&quot;` opens or closes a quoted CSS string
                }
                index = referenceEnd
                continue
            }
            if quote != 0 {
                if byte == quote { quote = 0 }
            } else if byte == 0x22 || byte == 0x27 {
                quote = byte
            } else if byte == 0x28 {
                depth += 1
            } else if byte == 0x29 {
                depth = max(0, depth - 1)
            } else if byte == 0x3B && depth == 0 {
                appendInline(start..<index, to: &result)
                start = index + 1
            }
            index += 1
        }
    }

    /// End (after `;`) of the character reference starting at `index`, if one starts there.
    private func characterReferenceEnd(_ index: Int, _ limit: Int) -> Int? {
        var cursor = index + 1
        while cursor < limit, cursor - index < 32,
            HTMLBytes.isLetter(original[cursor]) || (original[cursor] >= 0x30 && original[cursor] <= 0x39)
                || original[cursor] == 0x23
        {
            cursor += 1
        }
        guard cursor < limit, original[cursor] == 0x3B, cursor > index + 1 else { return nil }
        return cursor + 1
    }

    private func appendInline(_ range: Range<Int>, to result: inout [InlineDeclaration]) {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, ASCII.isWhitespace(original[lower]) { lower += 1 }
        while upper > lower, ASCII.isWhitespace(original[upper - 1]) { upper -= 1 }
        guard lower < upper else { return }
        var colon = lower
        while colon < upper, original[colon] != 0x3A { colon += 1 }
        var nameEnd = colon
        while nameEnd > lower, ASCII.isWhitespace(original[nameEnd - 1]) { nameEnd -= 1 }
        let isCustom = nameEnd - lower > 1 && original[lower] == 0x2D && original[lower + 1] == 0x2D
        let property = properties.lookup(original, lower..<nameEnd, lowercase: !isCustom)
        var important = false
        var end = upper
        let wordCount = 9  // "important"
        if end - colon > wordCount {
            if ASCII.equalsLower(original, (end - wordCount)..<end, "important") {
                end -= wordCount
                while end > colon, ASCII.isWhitespace(original[end - 1]) { end -= 1 }
                important = end > colon && original[end - 1] == 0x21
            }
        }
        result.append(InlineDeclaration(range: lower..<upper, property: property, important: important))
    }
}
