import MailBytes

/// Selectors compiled into flat arrays of plain values, and matched against a ``DocumentTree``.
///
/// The parsed ``ComplexSelector`` keeps nested arrays, which is convenient to build but costs a
/// retain and a release for every compound looked at. Matching runs for every element against
/// every candidate selector, so it reads only these flat arrays of trivial values instead:
/// nothing is reference counted or allocated while matching.
struct SelectorProgram: Sendable {
    struct Compound {
        /// Interned lower-case tag, -1 for any.
        var tag: Int32
        /// Relation to the next compound (the one on its left in the source).
        var combinator: Combinator
        /// `names[idStart..<classStart]` are ids, `names[classStart..<classEnd]` classes.
        var idStart: Int32
        var classStart: Int32
        var classEnd: Int32
        var attributeStart: Int32
        var attributeEnd: Int32
        var pseudoStart: Int32
        var pseudoEnd: Int32
    }

    struct Attribute {
        var name: Int32
        var op: AttributeSelector.Operator
        var caseInsensitive: Bool
        /// `attributeValues[valueStart..<valueEnd]`.
        var valueStart: Int32
        var valueEnd: Int32
    }

    struct Pseudo {
        enum Kind: UInt8 { case nth, root, empty, not }
        var kind: Kind
        var ofType: Bool
        var fromEnd: Bool
        var a: Int32
        var b: Int32
        /// For `:not()`: `notLists[listStart..<listEnd]` are complex selector indices.
        var listStart: Int32
        var listEnd: Int32
    }

    struct Complex {
        /// `compounds[compoundStart..<compoundEnd]`, right to left.
        var compoundStart: Int32
        var compoundEnd: Int32
    }

    private(set) var compounds: [Compound] = []
    private(set) var names: [Int32] = []
    private(set) var attributes: [Attribute] = []
    private(set) var attributeValues: [UInt8] = []
    private(set) var pseudos: [Pseudo] = []
    private(set) var complexes: [Complex] = []
    private(set) var notLists: [Int32] = []

    /// Compiles a complex selector given right to left (the selectors inside its `:not()`s
    /// were compiled before); returns its index.
    mutating func add(_ selector: [CompoundSelector]) -> Int32 {
        let start = Int32(compounds.count)
        for compound in selector {
            let pseudoStart = Int32(pseudos.count)
            for pseudo in compound.pseudos {
                switch pseudo {
                case .nth(let a, let b, let ofType, let fromEnd):
                    pseudos.append(
                        Pseudo(
                            kind: .nth, ofType: ofType, fromEnd: fromEnd, a: Self.clamp(a), b: Self.clamp(b),
                            listStart: 0, listEnd: 0))
                case .root:
                    pseudos.append(
                        Pseudo(kind: .root, ofType: false, fromEnd: false, a: 0, b: 0, listStart: 0, listEnd: 0))
                case .empty:
                    pseudos.append(
                        Pseudo(kind: .empty, ofType: false, fromEnd: false, a: 0, b: 0, listStart: 0, listEnd: 0))
                case .not(let list):
                    let listStart = Int32(notLists.count)
                    for inner in list { notLists.append(inner.index) }
                    pseudos.append(
                        Pseudo(
                            kind: .not, ofType: false, fromEnd: false, a: 0, b: 0, listStart: listStart,
                            listEnd: Int32(notLists.count)))
                }
            }
            let idStart = Int32(names.count)
            for id in compound.ids { names.append(id) }
            let classStart = Int32(names.count)
            for className in compound.classes { names.append(className) }
            let attributeStart = Int32(attributes.count)
            for attribute in compound.attributes {
                let valueStart = Int32(attributeValues.count)
                attributeValues.append(contentsOf: attribute.value)
                attributes.append(
                    Attribute(
                        name: attribute.name, op: attribute.op, caseInsensitive: attribute.caseInsensitive,
                        valueStart: valueStart, valueEnd: Int32(attributeValues.count)))
            }
            compounds.append(
                Compound(
                    tag: compound.tag, combinator: compound.combinator, idStart: idStart, classStart: classStart,
                    classEnd: Int32(names.count), attributeStart: attributeStart, attributeEnd: Int32(attributes.count),
                    pseudoStart: pseudoStart, pseudoEnd: Int32(pseudos.count)))
        }
        complexes.append(Complex(compoundStart: start, compoundEnd: Int32(compounds.count)))
        return Int32(complexes.count - 1)
    }

    /// The subject (rightmost) compound of complex selector `index`.
    func subject(_ index: Int32) -> Compound {
        compounds[Int(complexes[Int(index)].compoundStart)]
    }

    private static func clamp(_ value: Int) -> Int32 {
        Int32(clamping: value)
    }
}

/// A 256-bit Bloom filter of interned names (tags, ids, classes): "may this set hold all of
/// those names?" answered with four ANDs, so a descendant selector whose ancestors cannot all
/// be there is rejected without walking up the tree.
struct NameFilter: Equatable {
    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var w2: UInt64 = 0
    var w3: UInt64 = 0

    @inline(__always) mutating func insert(_ name: Int32) {
        guard name >= 0 else { return }
        let hash = UInt32(truncatingIfNeeded: name) &* 2_654_435_761
        let bit = UInt64(1) << UInt64(hash >> 26 & 63)
        switch hash >> 24 & 3 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        default: w3 |= bit
        }
    }

    @inline(__always) mutating func formUnion(_ other: NameFilter) {
        w0 |= other.w0
        w1 |= other.w1
        w2 |= other.w2
        w3 |= other.w3
    }

    /// Whether every name of `required` may be in this set.
    @inline(__always) func mayContain(_ required: NameFilter) -> Bool {
        (w0 & required.w0) == required.w0 && (w1 & required.w1) == required.w1 && (w2 & required.w2) == required.w2
            && (w3 & required.w3) == required.w3
    }

    var isEmpty: Bool { (w0 | w1 | w2 | w3) == 0 }
}

extension SelectorProgram {
    /// Names that any element matching `complex` must have among its ancestors: those of the
    /// compounds reached through a descendant or child combinator (sibling combinators keep the
    /// parent, so compounds further left of those are still ancestors).
    func ancestorNames(_ index: Int32) -> NameFilter {
        var filter = NameFilter()
        let complex = complexes[Int(index)]
        var position = Int(complex.compoundStart) + 1
        while position < Int(complex.compoundEnd) {
            let link = compounds[position - 1].combinator
            if link == .descendant || link == .child {
                let compound = compounds[position]
                filter.insert(compound.tag)
                var name = Int(compound.idStart)
                while name < Int(compound.classEnd) {
                    filter.insert(names[name])
                    name += 1
                }
            }
            position += 1
        }
        return filter
    }
}

extension SelectorProgram {
    /// Whether a compound of complex selector `index` needs a tag, id or class that no element
    /// has (`present` is indexed by interned name): then it can match nothing.
    func needsAbsentName(_ index: Int32, present: [Bool]) -> Bool {
        let complex = complexes[Int(index)]
        var position = Int(complex.compoundStart)
        while position < Int(complex.compoundEnd) {
            let compound = compounds[position]
            if compound.tag >= 0 && !present[Int(compound.tag)] { return true }
            var name = Int(compound.idStart)
            while name < Int(compound.classEnd) {
                if !present[Int(names[name])] { return true }
                name += 1
            }
            position += 1
        }
        return false
    }

    /// Index in ``attributes`` of the compound's first `[name=value]`.
    func firstEqualsAttribute(_ compound: Compound) -> Int? {
        var index = Int(compound.attributeStart)
        while index < Int(compound.attributeEnd) {
            if attributes[index].op == .equals { return index }
            index += 1
        }
        return nil
    }

    /// Index in ``pseudos`` of the compound's first `:nth-*` that allows one position only
    /// (`:nth-child(5)`, `:first-child`, `:last-of-type`).
    func firstExactPosition(_ compound: Compound) -> Int? {
        var index = Int(compound.pseudoStart)
        while index < Int(compound.pseudoEnd) {
            if pseudos[index].kind == .nth && pseudos[index].a == 0 { return index }
            index += 1
        }
        return nil
    }
}

/// Matches compiled selectors against one document's tree, in time linear in elements ×
/// compounds whatever the selectors: every result past a selector's subject is remembered per
/// (element, compound), and so is "some ancestor (earlier sibling) matches from this compound
/// on", so a descendant or sibling combinator never re-walks what it has walked (without this,
/// `a ~ p ~ p ~ p ~ p ~ p ~ p` backtracks through every choice of siblings). Sibling positions
/// for `:nth-*` are counted once per document. Every step is charged to ``work``; once it
/// passes `budget` the answers are meaningless and the caller must give up.
struct SelectorMatcher {
    let program: SelectorProgram
    let tree: DocumentTree
    let budget: Int
    /// Steps taken: compounds tested against an element, elements walked (and rules offered,
    /// charged by the cascade).
    var work = 0
    private var memo = MatchMemo()
    private var positions: SiblingPositions?
    /// Elements on the walk in progress (shared by nested walks, each above the one it is in).
    private var path: [Int32] = []

    init(program: SelectorProgram, tree: DocumentTree, budget: Int) {
        self.program = program
        self.tree = tree
        self.budget = budget
        // Memo keys hold a compound index in 28 bits (default limits need 21).
        if program.compounds.count >= 1 << 28 { work = budget &+ 1 }
    }

    var exceeded: Bool { work > budget }

    /// Whether complex selector `index` matches `element`.
    mutating func matches(_ index: Int32, _ element: Int32) -> Bool {
        let complex = program.complexes[Int(index)]
        return evaluate(Int(complex.compoundStart), Int(complex.compoundEnd), element)
    }

    /// Memo kinds: compound `index` on the element and the rest leftwards; the same on the
    /// element or any ancestor; the same on the element or any earlier sibling.
    private static let matchKind: UInt64 = 0
    private static let ancestorKind: UInt64 = 1
    private static let siblingKind: UInt64 = 2

    @inline(__always) private static func key(_ index: Int, _ kind: UInt64, _ element: Int32) -> UInt64 {
        (UInt64(index) &* 3 &+ kind &+ 1) << 32 | UInt64(UInt32(bitPattern: element))
    }

    /// `evaluate` remembered (for compounds left of a subject).
    private mutating func remembered(_ index: Int, _ end: Int, _ element: Int32) -> Bool {
        let key = Self.key(index, Self.matchKind, element)
        if let known = memo.value(key) { return known }
        let result = evaluate(index, end, element)
        memo.insert(key, result)
        return result
    }

    /// Whether `compounds[index..<end]` match with compound `index` on `element`. Recursion depth
    /// is bounded by the number of compounds (``CSSLimits/maxSelectorCompounds``) times the
    /// `:not()` nesting (``CSSLimits/maxSelectorNesting``); walks along the tree are loops.
    private mutating func evaluate(_ index: Int, _ end: Int, _ element: Int32) -> Bool {
        work &+= 1
        if work > budget { return false }
        let compound = program.compounds[index]
        guard matchesCompound(compound, element) else { return false }
        if index + 1 == end { return true }
        switch compound.combinator {
        case .child:
            let parent = tree.parent[Int(element)]
            return parent >= 0 && remembered(index + 1, end, parent)
        case .adjacent:
            let previous = tree.previous[Int(element)]
            return previous >= 0 && remembered(index + 1, end, previous)
        case .descendant:
            let parent = tree.parent[Int(element)]
            return parent >= 0 && walk(index + 1, end, from: parent, kind: Self.ancestorKind)
        case .sibling:
            let previous = tree.previous[Int(element)]
            return previous >= 0 && walk(index + 1, end, from: previous, kind: Self.siblingKind)
        }
    }

    /// Whether `compounds[index..<end]` match on `start` or on one of its ancestors
    /// (`ancestorKind`) or earlier siblings (`siblingKind`). The answer is remembered for every
    /// element walked: below the first match it is yes, else it is what was already known
    /// where the walk stopped (no when it ran off the tree).
    private mutating func walk(_ index: Int, _ end: Int, from start: Int32, kind: UInt64) -> Bool {
        let base = path.count
        var node = start
        var found = false
        while node >= 0 {
            let key = Self.key(index, kind, node)
            if let known = memo.value(key) {
                found = known
                break
            }
            work &+= 1
            if work > budget { break }
            path.append(node)
            if remembered(index, end, node) {
                found = true
                break
            }
            node = kind == Self.ancestorKind ? tree.parent[Int(node)] : tree.previous[Int(node)]
        }
        var position = base
        while position < path.count {
            memo.insert(Self.key(index, kind, path[position]), found)
            position += 1
        }
        path.removeSubrange(base...)
        return found
    }

    private mutating func matchesCompound(_ compound: SelectorProgram.Compound, _ element: Int32) -> Bool {
        let e = Int(element)
        if compound.tag >= 0 && tree.tag[e] != compound.tag { return false }
        var index = Int(compound.idStart)
        let classStart = Int(compound.classStart)
        while index < classStart {
            if tree.id[e] != program.names[index] { return false }
            index += 1
        }
        let classEnd = Int(compound.classEnd)
        if index < classEnd {
            let lower = Int(tree.classStart[e])
            let upper = Int(tree.classStart[e + 1])
            while index < classEnd {
                let wanted = program.names[index]
                var cursor = lower
                while cursor < upper && tree.classes[cursor] != wanted { cursor += 1 }
                if cursor == upper { return false }
                index += 1
            }
        }
        var attribute = Int(compound.attributeStart)
        while attribute < Int(compound.attributeEnd) {
            if !matchesAttribute(program.attributes[attribute], e) { return false }
            attribute += 1
        }
        var pseudo = Int(compound.pseudoStart)
        while pseudo < Int(compound.pseudoEnd) {
            if !matchesPseudo(program.pseudos[pseudo], element) { return false }
            pseudo += 1
        }
        return true
    }

    private func matchesAttribute(_ selector: SelectorProgram.Attribute, _ element: Int) -> Bool {
        guard tree.attributeStart.count > element + 1 else { return false }
        var index = Int(tree.attributeStart[element])
        let upper = Int(tree.attributeStart[element + 1])
        while index < upper {
            if tree.attributeNames[index] == selector.name {
                let range = tree.attributeValues[index]
                return tree.arena.withUnsafeBufferPointer { arena in
                    program.attributeValues.withUnsafeBufferPointer { values in
                        AttributeMatch.matches(
                            op: selector.op, caseInsensitive: selector.caseInsensitive,
                            value: UnsafeBufferPointer(rebasing: arena[range]),
                            wanted: UnsafeBufferPointer(
                                rebasing: values[Int(selector.valueStart)..<Int(selector.valueEnd)]))
                    }
                }
            }
            index += 1
        }
        return false
    }

    /// The element's 1-based position among its siblings (counted once per document).
    mutating func position(_ element: Int32, ofType: Bool, fromEnd: Bool) -> Int {
        if positions == nil {
            work &+= tree.count
            positions = SiblingPositions(tree)
        }
        guard let positions else { return 0 }
        return positions.position(element, ofType: ofType, fromEnd: fromEnd)
    }

    private mutating func matchesPseudo(_ pseudo: SelectorProgram.Pseudo, _ element: Int32) -> Bool {
        switch pseudo.kind {
        case .root:
            return tree.parent[Int(element)] < 0
        case .empty:
            return !tree.hasContent[Int(element)]
        case .not:
            var index = Int(pseudo.listStart)
            while index < Int(pseudo.listEnd) {
                if matches(program.notLists[index], element) { return false }
                index += 1
            }
            return true
        case .nth:
            let position = position(element, ofType: pseudo.ofType, fromEnd: pseudo.fromEnd)
            return SelectorProgram.nth(position, a: Int(pseudo.a), b: Int(pseudo.b))
        }
    }
}

extension SelectorProgram {
    /// Whether 1-based `position` is `a`n+`b` for some n ≥ 0.
    static func nth(_ position: Int, a: Int, b: Int) -> Bool {
        if a == 0 { return position == b }
        let difference = position - b
        return difference % a == 0 && difference / a >= 0
    }
}

/// Each element's 1-based position among its siblings, from the start and from the end, among
/// all siblings and among those of its type: four arrays filled in one pass each.
struct SiblingPositions {
    private var child: [Int32]
    private var childFromEnd: [Int32]
    private var ofType: [Int32]
    private var ofTypeFromEnd: [Int32]

    init(_ tree: DocumentTree) {
        let count = tree.count
        child = [Int32](repeating: 1, count: count)
        childFromEnd = [Int32](repeating: 1, count: count)
        ofType = [Int32](repeating: 1, count: count)
        ofTypeFromEnd = [Int32](repeating: 1, count: count)
        // Siblings come in document order: an earlier sibling has a smaller index.
        var nextOfType = [Int32](repeating: -1, count: count)
        var lastOfType: [SiblingType: Int32] = [:]
        for element in 0..<count {
            let previous = tree.previous[element]
            if previous >= 0 { child[element] = child[Int(previous)] &+ 1 }
            let type = SiblingType(parent: tree.parent[element], tag: tree.tagKey[element])
            if let last = lastOfType[type] {
                ofType[element] = ofType[Int(last)] &+ 1
                nextOfType[Int(last)] = Int32(element)
            }
            lastOfType[type] = Int32(element)
        }
        for element in stride(from: count - 1, through: 0, by: -1) {
            let next = tree.next[element]
            if next >= 0 { childFromEnd[element] = childFromEnd[Int(next)] &+ 1 }
            let nextSame = nextOfType[element]
            if nextSame >= 0 { ofTypeFromEnd[element] = ofTypeFromEnd[Int(nextSame)] &+ 1 }
        }
    }

    private struct SiblingType: Hashable {
        var parent: Int32
        var tag: Int
    }

    func position(_ element: Int32, ofType byType: Bool, fromEnd: Bool) -> Int {
        let e = Int(element)
        switch (byType, fromEnd) {
        case (false, false): return Int(child[e])
        case (false, true): return Int(childFromEnd[e])
        case (true, false): return Int(ofType[e])
        case (true, true): return Int(ofTypeFromEnd[e])
        }
    }
}

/// Open-addressing set of remembered answers: each slot is `key << 1 | answer`, 0 when free.
/// Keys are nonzero and below 2^62.
struct MatchMemo {
    private var slots = [UInt64](repeating: 0, count: 1024)
    private var count = 0

    @inline(__always) private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & (slots.count - 1)
    }

    func value(_ key: UInt64) -> Bool? {
        var slot = home(key)
        while true {
            let stored = slots[slot]
            if stored == 0 { return nil }
            if stored >> 1 == key { return stored & 1 == 1 }
            slot = (slot + 1) & (slots.count - 1)
        }
    }

    mutating func insert(_ key: UInt64, _ answer: Bool) {
        if (count + 1) * 2 > slots.count { grow() }
        var slot = home(key)
        while slots[slot] != 0 && slots[slot] >> 1 != key { slot = (slot + 1) & (slots.count - 1) }
        if slots[slot] == 0 { count += 1 }
        slots[slot] = key << 1 | (answer ? 1 : 0)
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        for stored in old where stored != 0 {
            var slot = home(stored >> 1)
            while slots[slot] != 0 { slot = (slot + 1) & (slots.count - 1) }
            slots[slot] = stored
        }
    }
}

/// Attribute selector operators (Selectors §6.1, §6.2) over raw bytes.
enum AttributeMatch {
    @inline(__always) private static func equal(
        _ a: UnsafeBufferPointer<UInt8>, _ aStart: Int, _ b: UnsafeBufferPointer<UInt8>, _ count: Int,
        _ caseInsensitive: Bool
    ) -> Bool {
        var index = 0
        if caseInsensitive {
            while index < count {
                if ASCII.lower(a[aStart + index]) != ASCII.lower(b[index]) { return false }
                index += 1
            }
        } else {
            while index < count {
                if a[aStart + index] != b[index] { return false }
                index += 1
            }
        }
        return true
    }

    static func matches(
        op: AttributeSelector.Operator, caseInsensitive: Bool, value: UnsafeBufferPointer<UInt8>,
        wanted: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        let n = wanted.count
        let count = value.count
        switch op {
        case .exists:
            return true
        case .equals:
            return count == n && equal(value, 0, wanted, n, caseInsensitive)
        case .includes:
            guard n > 0 else { return false }
            for byte in wanted where ASCII.isWhitespace(byte) { return false }
            var start = 0
            while start < count {
                while start < count && ASCII.isWhitespace(value[start]) { start += 1 }
                var stop = start
                while stop < count && !ASCII.isWhitespace(value[stop]) { stop += 1 }
                if stop > start && stop - start == n && equal(value, start, wanted, n, caseInsensitive) { return true }
                start = stop
            }
            return false
        case .dashMatch:
            if count == n { return equal(value, 0, wanted, n, caseInsensitive) }
            return count > n && value[n] == 0x2D && equal(value, 0, wanted, n, caseInsensitive)
        case .prefix:
            return n > 0 && count >= n && equal(value, 0, wanted, n, caseInsensitive)
        case .suffix:
            return n > 0 && count >= n && equal(value, count - n, wanted, n, caseInsensitive)
        case .substring:
            guard n > 0, count >= n else { return false }
            var start = 0
            while start + n <= count {
                if equal(value, start, wanted, n, caseInsensitive) { return true }
                start += 1
            }
            return false
        }
    }
}
