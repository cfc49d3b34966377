internal import CLibXML2
import MailBytes

/// The element tree libxml2's HTML parser sees, kept as flat arrays indexed by element number,
/// with the byte offset of each start tag's end in the caller's bytes. Only names that some
/// selector mentions are kept (interned); everything else cannot influence matching.
struct DocumentTree {
    /// Parent element, -1 for the root.
    var parent: [Int32] = []
    /// Previous and next sibling elements, -1 when none.
    var previous: [Int32] = []
    var next: [Int32] = []
    /// Interned tag name, -1 when no selector names it.
    var tag: [Int32] = []
    /// libxml2's interned name pointer as an integer: equal names, equal keys (for `*-of-type`).
    var tagKey: [Int] = []
    /// Offset of the start tag's closing `>` (or of `/` in `/>`), -1 for implied elements.
    var tagEnd: [Int] = []
    /// Interned id, -1 when none or unknown to the selectors.
    var id: [Int32] = []
    /// `classes[classStart[e]..<classStart[e+1]]`: interned classes of element e.
    var classStart: [Int32] = [0]
    var classes: [Int32] = []
    /// Attributes, only recorded when a selector uses attribute selectors.
    var attributeStart: [Int32] = [0]
    var attributeNames: [Int32] = []
    var attributeValues: [Range<Int>] = []
    var arena: [UInt8] = []
    /// Whether the element has child elements or text (for `:empty`).
    var hasContent: [Bool] = []
    /// Whether the element is `<head>` or inside it (such elements are never styled).
    var inHead: [Bool] = []
    /// `<style>` elements in `<head>` in document order, with their opening tag end offset and
    /// whether their attributes ask to leave them alone.
    var styleElements: [(element: Int32, tagEnd: Int, skip: Bool)] = []

    var count: Int { parent.count }
}

/// Builds a ``DocumentTree`` from libxml2 SAX events. The state lives behind a pointer so that
/// the callbacks mutate it without the dynamic exclusivity checks a class property would cost
/// on every element.
final class TreeBuilder {
    private let state: UnsafeMutablePointer<TreeState>

    init(names: NameTable, recordAttributes: Bool, maxElements: Int) {
        state = UnsafeMutablePointer<TreeState>.allocate(capacity: 1)
        state.initialize(to: TreeState(names: names, recordAttributes: recordAttributes, maxElements: maxElements))
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    var tree: DocumentTree { state.pointee.tree }
    var exceeded: Bool { state.pointee.exceeded }
    var input: ParseInput {
        get { state.pointee.input }
        set { state.pointee.input = newValue }
    }
    var context: htmlParserCtxtPtr? {
        get { state.pointee.context }
        set { state.pointee.context = newValue }
    }

    func startElement(_ name: UnsafePointer<xmlChar>, _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        state.pointee.startElement(name, attributes)
    }

    func endElement(_ name: UnsafePointer<xmlChar>?) {
        state.pointee.endElement(name)
    }

    func characters(_ length: Int32) {
        state.pointee.characters(length)
    }
}

/// What ``TreeBuilder`` accumulates.
struct TreeState {
    var tree = DocumentTree()
    let names: NameTable
    let recordAttributes: Bool
    let maxElements: Int
    var context: htmlParserCtxtPtr?
    var stack: [Int32] = []
    var lastChild: [Int32] = []
    var rootLastChild: Int32 = -1
    var headDepth = 0
    var bodySeen = false
    var exceeded = false
    /// Style sheet texts cut out of the bytes libxml2 parses (see ``ParseInput``).
    var input = ParseInput()
    /// Direct-mapped cache from libxml2's interned name pointers to our ids (a miss only costs
    /// a lookup, so collisions simply overwrite).
    private var cacheKeys = [UInt](repeating: 0, count: 256)
    private var cacheIDs = [Int32](repeating: -1, count: 256)

    init(names: NameTable, recordAttributes: Bool, maxElements: Int) {
        self.names = names
        self.recordAttributes = recordAttributes
        self.maxElements = maxElements
    }

    private static func length(_ pointer: UnsafePointer<xmlChar>) -> Int {
        var length = 0
        while pointer[length] != 0 { length += 1 }
        return length
    }

    private func lookup(_ pointer: UnsafePointer<xmlChar>) -> Int32 {
        names.lookup(UnsafeBufferPointer(start: pointer, count: Self.length(pointer)))
    }

    /// libxml2 interns element names in its dictionary, so the pointer identifies the name.
    private mutating func tagID(_ pointer: UnsafePointer<xmlChar>) -> Int32 {
        let key = UInt(bitPattern: pointer)
        let slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 56)
        if cacheKeys[slot] == key { return cacheIDs[slot] }
        let id = lookup(pointer)
        cacheKeys[slot] = key
        cacheIDs[slot] = id
        return id
    }

    private static func isName(_ pointer: UnsafePointer<xmlChar>, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { lit in
            var index = 0
            while index < lit.count {
                if pointer[index] != lit[index] { return false }
                index += 1
            }
            return pointer[lit.count] == 0
        }
    }

    mutating func startElement(
        _ name: UnsafePointer<xmlChar>, _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    ) {
        let element = Int32(tree.count)
        if tree.count >= maxElements {
            exceeded = true
            if let context { xmlStopParser(context) }
            return
        }
        let parsedOffset = context.map { linkstamp_input_offset($0) } ?? -1
        let offset = parsedOffset >= 0 ? input.originalOffset(parsedOffset) : -1
        let parent = stack.last ?? -1
        let previous = parent >= 0 ? lastChild[Int(parent)] : rootLastChild
        tree.parent.append(parent)
        tree.previous.append(previous)
        tree.next.append(-1)
        if previous >= 0 { tree.next[Int(previous)] = element }
        if parent >= 0 {
            lastChild[Int(parent)] = element
            tree.hasContent[Int(parent)] = true
        } else {
            rootLastChild = element
        }
        lastChild.append(-1)
        tree.tag.append(tagID(name))
        tree.tagKey.append(Int(bitPattern: UnsafeRawPointer(name)))
        tree.tagEnd.append(offset >= 0 ? offset : -1)
        tree.hasContent.append(false)
        let isHead = Self.isName(name, "head")
        if isHead { headDepth += 1 }
        if !bodySeen && Self.isName(name, "body") { bodySeen = true }
        tree.inHead.append(headDepth > 0)
        var id: Int32 = -1
        var skipStyle = false
        if let attributes {
            var index = 0
            while let attributeName = attributes[index] {
                let value = attributes[index + 1]
                index += 2
                if Self.isName(attributeName, "class") {
                    if let value { appendClasses(value) }
                } else if Self.isName(attributeName, "id") {
                    if let value { id = lookup(value) }
                } else if Self.isName(attributeName, "data-embed") {
                    skipStyle = true
                } else if Self.isName(attributeName, "data-inline") || Self.isName(attributeName, "data-css-inline") {
                    if let value, Self.isName(value, "false") || Self.isName(value, "ignore") { skipStyle = true }
                } else if Self.isName(attributeName, "data-premailer") {
                    if let value, Self.isName(value, "ignore") { skipStyle = true }
                }
                if recordAttributes {
                    tree.attributeNames.append(tagID(attributeName))
                    let lower = tree.arena.count
                    if let value {
                        tree.arena.append(contentsOf: UnsafeBufferPointer(start: value, count: Self.length(value)))
                    }
                    tree.attributeValues.append(lower..<tree.arena.count)
                }
            }
        }
        tree.id.append(id)
        tree.classStart.append(Int32(tree.classes.count))
        tree.attributeStart.append(Int32(tree.attributeNames.count))
        if Self.isName(name, "style") {
            // Between `</head>` and `<body>` libxml2 leaves a style element under `<html>`; the
            // HTML standard's "after head" mode puts it back in the head, and so do we.
            let afterHead = !bodySeen && parent >= 0 && tree.parent[Int(parent)] < 0
            if afterHead { tree.inHead[Int(element)] = true }
            if headDepth > 0 || afterHead { tree.styleElements.append((element, offset, skipStyle)) }
            // Its text was cut out of libxml2's input: it is not empty for `:empty`.
            if parsedOffset >= 0 && input.hasCut(after: parsedOffset) { tree.hasContent[Int(element)] = true }
        }
        stack.append(element)
    }

    private mutating func appendClasses(_ value: UnsafePointer<xmlChar>) {
        var index = 0
        while true {
            while value[index] != 0 && ASCII.isWhitespace(value[index]) { index += 1 }
            if value[index] == 0 { return }
            let start = index
            while value[index] != 0 && !ASCII.isWhitespace(value[index]) { index += 1 }
            let id = names.lookup(UnsafeBufferPointer(start: value + start, count: index - start))
            if id >= 0 { tree.classes.append(id) }
        }
    }

    mutating func endElement(_ name: UnsafePointer<xmlChar>?) {
        guard let element = stack.popLast() else { return }
        if let name, Self.isName(name, "head"), headDepth > 0 { headDepth -= 1 }
        _ = element
    }

    mutating func characters(_ length: Int32) {
        if length > 0, let element = stack.last { tree.hasContent[Int(element)] = true }
    }
}

/// What libxml2 is given: the sanitized document without the text of its `<style>` elements.
/// The inliner reads style sheets itself, and libxml2 reads raw text one character at a time,
/// so cutting it out roughly halves libxml2's work on sheet-heavy mail. Offsets libxml2
/// reports are mapped back to the caller's bytes through the cuts.
struct ParseInput {
    /// Bytes to parse.
    var bytes: [UInt8] = []
    /// Position of each cut in `bytes` (ascending), and the total length removed up to and
    /// including it.
    private(set) var cutPositions: [Int] = []
    private(set) var removedThrough: [Int] = []
    private var lastCut = 0

    init() {}

    /// `parseBytes` without `cuts` (ascending, disjoint ranges of `parseBytes`).
    init(_ parseBytes: [UInt8], cutting cuts: [Range<Int>]) {
        var previous = 0
        for cut in cuts {
            guard cut.lowerBound >= previous, cut.upperBound <= parseBytes.count else {
                bytes = parseBytes  // not ascending and disjoint: parse everything
                return
            }
            previous = cut.upperBound
        }
        guard !cuts.isEmpty else {
            bytes = parseBytes
            return
        }
        var removed = 0
        cutPositions.reserveCapacity(cuts.count)
        removedThrough.reserveCapacity(cuts.count)
        for cut in cuts {
            removed += cut.count
            cutPositions.append(cut.lowerBound - (removed - cut.count))
            removedThrough.append(removed)
        }
        let count = parseBytes.count - removed
        bytes = [UInt8](unsafeUninitializedCapacity: count) { target, initialized in
            parseBytes.withUnsafeBufferPointer { source in
                guard let from = source.baseAddress, let to = target.baseAddress else { return }
                var position = 0
                var written = 0
                for cut in cuts {
                    let length = cut.lowerBound - position
                    (to + written).update(from: from + position, count: length)
                    written += length
                    position = cut.upperBound
                }
                (to + written).update(from: from + position, count: source.count - position)
            }
            initialized = count
        }
    }

    /// The offset in the caller's bytes of `offset` in `bytes`. libxml2 reports offsets in
    /// increasing order, so the cut found last is tried first.
    mutating func originalOffset(_ offset: Int) -> Int {
        let hint = lastCut
        if hint < cutPositions.count, cutPositions[hint] <= offset,
            hint + 1 == cutPositions.count || offset < cutPositions[hint + 1]
        {
            return offset + removedThrough[hint]
        }
        // Last cut at or before `offset`: everything from a cut position on came after the cut.
        var lower = 0
        var upper = cutPositions.count
        while lower < upper {
            let middle = (lower + upper) / 2
            if cutPositions[middle] <= offset { lower = middle + 1 } else { upper = middle }
        }
        if lower == 0 { return offset }
        lastCut = lower - 1
        return offset + removedThrough[lower - 1]
    }

    /// Whether text was cut right after the start tag ending at `offset` (`>` or `/>`).
    func hasCut(after offset: Int) -> Bool {
        guard !cutPositions.isEmpty else { return false }
        var lower = 0
        var upper = cutPositions.count
        while lower < upper {
            let middle = (lower + upper) / 2
            if cutPositions[middle] <= offset { lower = middle + 1 } else { upper = middle }
        }
        return lower < cutPositions.count && cutPositions[lower] - offset <= 2
    }
}

/// Runs libxml2's HTML parser over bytes that are valid UTF-8 without NUL bytes.
enum HTMLTreeParser {
    private static let initialized: Bool = {
        xmlInitParser()
        return true
    }()

    static func parse(_ bytes: [UInt8], into builder: TreeBuilder) -> Bool {
        guard initialized else { return false }
        return bytes.withUnsafeBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return true }
            let pointer = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            guard let context = htmlCreateMemoryParserCtxt(pointer, Int32(buffer.count)) else { return false }
            defer { htmlFreeParserCtxt(context) }
            builder.context = context
            defer { builder.context = nil }
            let user = Unmanaged.passUnretained(builder).toOpaque()
            linkstamp_install_sax(
                context, user,
                { user, name, attributes in
                    guard let user, let name else { return }
                    Unmanaged<TreeBuilder>.fromOpaque(user).takeUnretainedValue().startElement(name, attributes)
                },
                { user, name in
                    guard let user else { return }
                    Unmanaged<TreeBuilder>.fromOpaque(user).takeUnretainedValue().endElement(name)
                },
                { user, _, length in
                    guard let user else { return }
                    Unmanaged<TreeBuilder>.fromOpaque(user).takeUnretainedValue().characters(length)
                })
            let options =
                Int32(HTML_PARSE_NONET.rawValue) | Int32(HTML_PARSE_NOERROR.rawValue)
                | Int32(HTML_PARSE_NOWARNING.rawValue) | Int32(HTML_PARSE_IGNORE_ENC.rawValue)
                | Int32(XML_PARSE_HUGE.rawValue)
            _ = htmlCtxtUseOptions(context, options)
            _ = htmlParseDocument(context)
            return true
        }
    }
}
