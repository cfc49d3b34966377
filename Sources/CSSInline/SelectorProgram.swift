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

/// Matches compiled selectors against one document's tree.
struct SelectorMatcher {
    let program: SelectorProgram
    let tree: DocumentTree

    /// Whether complex selector `index` matches `element`.
    func matches(_ index: Int32, _ element: Int32) -> Bool {
        let complex = program.complexes[Int(index)]
        return matches(Int(complex.compoundStart), Int(complex.compoundEnd), element)
    }

    /// Whether `compounds[index..<end]` match with compound `index` on `element`. Recursion depth
    /// is bounded by the number of compounds (``CSSLimits/maxSelectorCompounds``).
    private func matches(_ index: Int, _ end: Int, _ element: Int32) -> Bool {
        let compound = program.compounds[index]
        guard matchesCompound(compound, element) else { return false }
        if index + 1 == end { return true }
        switch compound.combinator {
        case .child:
            let parent = tree.parent[Int(element)]
            return parent >= 0 && matches(index + 1, end, parent)
        case .descendant:
            var ancestor = tree.parent[Int(element)]
            while ancestor >= 0 {
                if matches(index + 1, end, ancestor) { return true }
                ancestor = tree.parent[Int(ancestor)]
            }
            return false
        case .adjacent:
            let previous = tree.previous[Int(element)]
            return previous >= 0 && matches(index + 1, end, previous)
        case .sibling:
            var previous = tree.previous[Int(element)]
            while previous >= 0 {
                if matches(index + 1, end, previous) { return true }
                previous = tree.previous[Int(previous)]
            }
            return false
        }
    }

    private func matchesCompound(_ compound: SelectorProgram.Compound, _ element: Int32) -> Bool {
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

    private func matchesPseudo(_ pseudo: SelectorProgram.Pseudo, _ element: Int32) -> Bool {
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
            var position = 1
            let key = tree.tagKey[Int(element)]
            var sibling = pseudo.fromEnd ? tree.next[Int(element)] : tree.previous[Int(element)]
            while sibling >= 0 {
                if !pseudo.ofType || tree.tagKey[Int(sibling)] == key { position += 1 }
                sibling = pseudo.fromEnd ? tree.next[Int(sibling)] : tree.previous[Int(sibling)]
            }
            let a = Int(pseudo.a)
            let b = Int(pseudo.b)
            if a == 0 { return position == b }
            let difference = position - b
            return difference % a == 0 && difference / a >= 0
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
            for byte in wanted where ASCII.isSpace(byte) { return false }
            var start = 0
            while start < count {
                while start < count && ASCII.isSpace(value[start]) { start += 1 }
                var stop = start
                while stop < count && !ASCII.isSpace(value[stop]) { stop += 1 }
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
