import MailBytes

/// One MIME entity: the whole message (index 0) or a body part, as ranges into the message.
public struct MIMEPart: Sendable, Hashable {
    /// Position in ``MessageStructure/parts`` (document order).
    public var index: Int
    /// Index of the enclosing multipart; nil for the whole message.
    public var parent: Int?
    /// 0 for the whole message, parent's depth + 1 otherwise.
    public var depth: Int
    /// The part's header block (ranges into the message).
    public var header: HeaderBlock
    /// Body bytes: after the header separator up to (excluding) the line break that precedes the
    /// next boundary delimiter (RFC 2046: that line break belongs to the delimiter); to the end of
    /// the input for the last part when the close delimiter is missing. For a multipart the body
    /// includes preamble, delimiters, children and epilogue.
    public var bodyRange: Range<Int>
    /// Parsed Content-Type; `text/plain` when absent or invalid (`message/rfc822` when absent
    /// inside `multipart/digest`).
    public var contentType: ContentType
    /// Parsed Content-Transfer-Encoding; `.sevenBit` when absent.
    public var transferEncoding: TransferEncoding
    /// Lower-cased Content-Disposition type (`inline`, `attachment`, …); nil when absent.
    public var disposition: String?
    /// Whether the disposition is `attachment`.
    public var isAttachment: Bool
    /// Indices of the direct children (multiparts only), in order.
    public var children: [Int]
    /// Whether an ancestor is a `message/rfc822` part. The walker never enters encapsulated
    /// messages, so this is always false today; see ``isEncapsulatedMessage`` for the part itself.
    public var isInsideMessageRFC822: Bool
    /// The file name: Content-Disposition `filename`, else Content-Type `name` (RFC 2231 decoded).
    public var filename: String?
    /// The Content-ID value, unfolded and trimmed (angle brackets kept); nil when absent.
    public var contentID: String?

    /// The whole entity: header start up to the end of the body.
    public var range: Range<Int> { header.range.lowerBound..<max(header.range.lowerBound, bodyRange.upperBound) }

    /// Whether the part is an encapsulated message (`message/rfc822` or `message/global`): a leaf
    /// whose body the walker does not enter.
    public var isEncapsulatedMessage: Bool {
        contentType.type == "message" && (contentType.subtype == "rfc822" || contentType.subtype == "global")
    }
}

/// The multipart tree of a message as a flat list of parts.
public struct MessageStructure: Sendable, Hashable {
    /// `parts[0]` is the whole message (top-level header); the rest in document order.
    public var parts: [MIMEPart]

    /// Parse with an explicit stack; never throws for malformed MIME (treat as best it can:
    /// missing final boundary, boundary never found -> part is a leaf, etc.); throws only past limits.
    ///
    /// Decisions: delimiter lines are `--boundary` plus optional transport padding (space/tab),
    /// close delimiters `--boundary--`; matching is exact and case-sensitive; the innermost open
    /// boundary is tried first, then the outer ones (an outer delimiter ends every inner part whose
    /// close delimiter is missing). Preamble and epilogue are not parts. A multipart without a
    /// boundary parameter is a leaf. `message/*` parts are leaves.
    public static func parse(
        _ bytes: [UInt8], limits: MIMELimits = MIMELimits()
    ) throws(MIMEError) -> MessageStructure {
        let result = bytes.withUnsafeBufferPointer { buf in
            var walker = Walker(buf: buf, limits: limits)
            return walker.run()
        }
        return MessageStructure(parts: try result.get())
    }

    /// The body of part `index` with its transfer encoding removed (charset untouched); empty
    /// when `index` or the part's range does not fit `bytes`.
    public func decodedBody(of index: Int, in bytes: [UInt8]) -> [UInt8] {
        guard index >= 0 && index < parts.count, parts[index].bodyRange.upperBound <= bytes.count else { return [] }
        return TransferCoding.decode(bytes[parts[index].bodyRange], parts[index].transferEncoding)
    }

    /// docs/SPEC.md §4.2: the first text/html and first text/plain reached through multipart/alternative,
    /// multipart/related and the FIRST part of multipart/mixed (unknown multipart/* treated as
    /// mixed; multipart/signed and multipart/encrypted never entered); never attachments, never
    /// inside message/rfc822.
    ///
    /// Decision: inside multipart/related only the root part is followed (the child whose
    /// Content-ID matches the `start` parameter, else the first child); the other children are
    /// resources referenced by the root, not bodies.
    public func trackableBodyParts() -> (html: Int?, text: Int?) {
        var html: Int?
        var text: Int?
        var stack: [Int] = parts.isEmpty ? [] : [0]
        while let index = stack.popLast(), html == nil || text == nil {
            guard index >= 0 && index < parts.count else { continue }
            let part = parts[index]
            if part.isAttachment || part.isInsideMessageRFC822 { continue }
            let type = part.contentType
            switch (type.type, type.subtype) {
            case ("text", "html"):
                if html == nil { html = index }
            case ("text", "plain"):
                if text == nil { text = index }
            case ("multipart", "signed"), ("multipart", "encrypted"):
                continue
            case ("multipart", "alternative"):
                stack.append(contentsOf: part.children.reversed())
            case ("multipart", "related"):
                if let root = relatedRoot(of: part) { stack.append(root) }
            case ("multipart", _):
                if let first = part.children.first { stack.append(first) }
            default:
                continue
            }
        }
        return (html, text)
    }

    private func relatedRoot(of part: MIMEPart) -> Int? {
        guard let start = part.contentType.parameter("start").map(Self.normalizeContentID), !start.isEmpty
        else { return part.children.first }
        for child in part.children where child < parts.count {
            if let id = parts[child].contentID, Self.normalizeContentID(id) == start { return child }
        }
        return part.children.first
    }

    private static func normalizeContentID(_ id: String) -> String {
        var s = Substring(id)
        while let f = s.first, f == " " || f == "\t" || f == "<" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == ">" { s = s.dropLast() }
        return String(s)
    }
}

/// Lower-cased names of the fields the walker reads.
private enum FieldNames {
    static let contentType: [UInt8] = Array("content-type".utf8)
    static let contentTransferEncoding: [UInt8] = Array("content-transfer-encoding".utf8)
    static let contentDisposition: [UInt8] = Array("content-disposition".utf8)
    static let contentID: [UInt8] = Array("content-id".utf8)
}

/// The explicit-stack multipart walker.
private struct Walker {
    let buf: UnsafeBufferPointer<UInt8>
    let limits: MIMELimits
    var parts: [MIMEPart] = []

    struct Frame {
        var part: Int
        var openChild: Int?
    }
    var stack: [Frame] = []
    /// Boundaries of `stack`, innermost first (the order delimiter matching tries them).
    var boundaries: [[UInt8]] = []

    init(buf: UnsafeBufferPointer<UInt8>, limits: MIMELimits) {
        self.buf = buf
        self.limits = limits
    }

    mutating func run() -> MIMEOutcome<[MIMEPart]> {
        let root: Int
        switch makePart(headerStart: 0, parent: nil, depth: 0) {
        case .success(let index): root = index
        case .failure(let error): return .failure(error)
        }
        var pos = parts[root].header.bodyStart
        enterIfMultipart(root)
        while !stack.isEmpty {
            guard let (delimiterStart, match) = nextDelimiter(from: pos) else { break }
            let level = stack.count - 1 - match.boundaryIndex
            let breakStart = lineBreakStart(before: delimiterStart)
            while stack.count - 1 > level {
                let frame = stack.removeLast()
                boundaries.removeFirst()
                if let child = frame.openChild { endPart(child, at: breakStart) }
            }
            if let child = stack[level].openChild {
                endPart(child, at: breakStart)
                stack[level].openChild = nil
            }
            pos = match.lineEnd
            if match.isClose {
                stack.removeLast()
                boundaries.removeFirst()
                continue
            }
            let parent = stack[level].part
            let child: Int
            switch makePart(headerStart: match.lineEnd, parent: parent, depth: parts[parent].depth + 1) {
            case .success(let index): child = index
            case .failure(let error): return .failure(error)
            }
            stack[level].openChild = child
            pos = parts[child].header.bodyStart
            enterIfMultipart(child)
        }
        return .success(parts)
    }

    /// Pushes a frame when the part is a multipart with a usable boundary.
    mutating func enterIfMultipart(_ index: Int) {
        let type = parts[index].contentType
        guard type.isMultipart, let boundary = type.boundary else { return }
        let bytes = Array(boundary.utf8)
        guard !bytes.isEmpty else { return }
        stack.append(Frame(part: index, openChild: nil))
        boundaries.insert(bytes, at: 0)
    }

    /// Ends a part's body at `breakStart`, never before its body start nor before the end of its
    /// last child (an empty part whose separator line is also the line break of the delimiter).
    mutating func endPart(_ index: Int, at breakStart: Int) {
        let start = parts[index].bodyRange.lowerBound
        var end = max(start, breakStart)
        if let last = parts[index].children.last { end = max(end, parts[last].bodyRange.upperBound) }
        parts[index].bodyRange = start..<end
    }

    /// RFC 2046: the CRLF (or LF) before `--boundary` belongs to the delimiter.
    func lineBreakStart(before delimiterStart: Int) -> Int {
        guard delimiterStart > 0, buf[delimiterStart - 1] == ASCII.lf else { return delimiterStart }
        if delimiterStart > 1 && buf[delimiterStart - 2] == ASCII.cr { return delimiterStart - 2 }
        return delimiterStart - 1
    }

    /// The next delimiter line of any open boundary, starting at line start `pos`.
    func nextDelimiter(from pos: Int) -> (Int, DelimiterMatch)? {
        let end = buf.count
        guard pos < end else { return nil }
        if let match = matchDelimiter(buf, at: pos, end: end, boundaries: boundaries) {
            return (pos, match)
        }
        var from = pos
        // Every other delimiter line follows a "\n": jump between "\n--" occurrences.
        while let hit = findLineStartingWithDashes(buf, from: from, to: end) {
            if let match = matchDelimiter(buf, at: hit, end: end, boundaries: boundaries) {
                return (hit, match)
            }
            from = hit
        }
        return nil
    }

    mutating func makePart(headerStart: Int, parent: Int?, depth: Int) -> MIMEOutcome<Int> {
        if parts.count >= limits.maxParts {
            return .failure(.tooManyParts(limit: limits.maxParts, offset: headerStart))
        }
        if depth > limits.maxDepth {
            return .failure(.nestingTooDeep(limit: limits.maxDepth, offset: headerStart))
        }
        let header: HeaderBlock
        switch HeaderParser.parse(buf, from: headerStart, limits: limits, delimiters: boundaries) {
        case .success(let h): header = h
        case .failure(let error): return .failure(error)
        }
        var contentType: ContentType?
        var encoding = TransferEncoding.sevenBit
        var disposition: ContentDisposition?
        var contentID: String?
        var sawEncoding = false
        for field in header.fields where field.nameRange.count >= 10 {
            let name = field.nameRange
            // Cheap pre-filter: every field of interest starts with "content-".
            guard ASCII.lower(buf[name.lowerBound]) == 0x63, buf[name.lowerBound + 7] == ASCII.hyphen else { continue }
            let value = UnsafeBufferPointer(rebasing: buf[field.valueRange])
            if asciiEqualsLowercased(buf, name, FieldNames.contentType) {
                if contentType == nil { contentType = ContentType.parse(value) }
            } else if asciiEqualsLowercased(buf, name, FieldNames.contentTransferEncoding) {
                if !sawEncoding { encoding = TransferEncoding.parse(value) }
                sawEncoding = true
            } else if asciiEqualsLowercased(buf, name, FieldNames.contentDisposition) {
                if disposition == nil { disposition = ContentDisposition.parse(value) }
            } else if asciiEqualsLowercased(buf, name, FieldNames.contentID) {
                if contentID == nil {
                    contentID = String(
                        decoding: HeaderUnfolding.unfold(Array(value)[...], .removeLineBreaks), as: UTF8.self)
                }
            }
        }
        let inDigest =
            parent.map { parts[$0].contentType.isMultipart && parts[$0].contentType.subtype == "digest" } ?? false
        let type = contentType ?? (inDigest ? .messageRFC822 : .textPlain)
        let index = parts.count
        let part = MIMEPart(
            index: index, parent: parent, depth: depth, header: header,
            bodyRange: header.bodyStart..<buf.count, contentType: type, transferEncoding: encoding,
            disposition: disposition?.type, isAttachment: disposition?.type == "attachment", children: [],
            isInsideMessageRFC822: false,
            filename: disposition?.parameter("filename") ?? type.parameter("name"), contentID: contentID)
        parts.append(part)
        if let parent { parts[parent].children.append(index) }
        return .success(index)
    }
}
