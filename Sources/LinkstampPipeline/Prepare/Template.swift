import Tracking

/// A message laid out once as wire-ready pieces: byte ranges of the input, prepared bytes kept in
/// one arena, and holes that each copy fills (its recipient token, its own header fields).
struct Template: Sendable {
    enum Segment: Sendable, Hashable {
        /// Bytes of the original message, copied as they came.
        case input(Range<Int>)
        /// Prepared bytes in `arena`.
        case arena(Range<Int>)
        /// The recipient token of the copy whose links this is (the first envelope copy's for
        /// archive copies). `softBreak` is set inside quoted-printable bodies: the token is then
        /// cut into lines with soft line breaks and followed by one. `kind` picks the tag that
        /// follows the token (the kind of URL the hole is in).
        case bodyToken(softBreak: [UInt8]?, kind: URLKind)
        /// The copy's own header fields (Bcc, List-Unsubscribe, …), each ending with the
        /// message's line ending.
        case copyHeaders
    }

    var segments: [Segment] = []
    var arena: [UInt8] = []
    /// Bytes every copy has in common (used to reserve output capacity).
    var fixedByteCount = 0
    var usesBodyToken = false

    mutating func appendInput(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        fixedByteCount += range.count
        if case .input(let previous)? = segments.last, previous.upperBound == range.lowerBound {
            segments[segments.count - 1] = .input(previous.lowerBound..<range.upperBound)
        } else {
            segments.append(.input(range))
        }
    }

    mutating func appendBytes<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard !bytes.isEmpty else { return }
        let start = arena.count
        arena.append(contentsOf: bytes)
        fixedByteCount += bytes.count
        if case .arena(let previous)? = segments.last, previous.upperBound == start {
            segments[segments.count - 1] = .arena(previous.lowerBound..<arena.count)
        } else {
            segments.append(.arena(start..<arena.count))
        }
    }

    mutating func append(_ piece: Piece) {
        switch piece {
        case .bytes(let bytes): appendBytes(bytes)
        case .input(let range): appendInput(range)
        case .bodyToken(let softBreak, let kind):
            usesBodyToken = true
            segments.append(.bodyToken(softBreak: softBreak, kind: kind))
        case .copyHeaders: segments.append(.copyHeaders)
        }
    }
}

/// A piece of prepared output before it is laid into a template.
enum Piece: Sendable, Hashable {
    case bytes([UInt8])
    /// Bytes of the input, laid out as they are (no copy into the arena).
    case input(Range<Int>)
    case bodyToken(softBreak: [UInt8]?, kind: URLKind)
    case copyHeaders
}

/// A change to the input: replace `range` (empty for an insertion) with `pieces`.
struct Edit: Sendable {
    /// What an edit belongs to. At one offset, header edits are laid out before body edits: a
    /// header block that ends without its empty line (at a line that is not a field, or at a
    /// delimiter) has its body start right where its last field ends, and the fields added there
    /// must stay in the header, before the body.
    enum Layer: Int, Sendable, Comparable {
        case header = 0
        case body = 1

        static func < (lhs: Layer, rhs: Layer) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    var range: Range<Int>
    var pieces: [Piece]
    var layer: Layer = .header
}

extension Template {
    /// Lays the input out with `edits` applied. Edits must not overlap; at the same offset header
    /// edits come before body edits, and edits of one layer keep their order.
    init(input: [UInt8], edits: [Edit]) {
        let ordered = edits.enumerated().sorted { lhs, rhs in
            if lhs.element.range.lowerBound != rhs.element.range.lowerBound {
                return lhs.element.range.lowerBound < rhs.element.range.lowerBound
            }
            if lhs.element.layer != rhs.element.layer { return lhs.element.layer < rhs.element.layer }
            return lhs.offset < rhs.offset
        }
        // One allocation for the arena and one for the segments, not a regrowth per part.
        var arenaBytes = 0
        var pieceCount = 0
        for edit in edits {
            pieceCount += edit.pieces.count
            for case .bytes(let bytes) in edit.pieces { arenaBytes += bytes.count }
        }
        arena.reserveCapacity(arenaBytes)
        segments.reserveCapacity(2 * edits.count + pieceCount + 1)
        var cursor = 0
        for (_, edit) in ordered {
            let start = max(edit.range.lowerBound, cursor)
            appendInput(cursor..<start)
            for piece in edit.pieces { append(piece) }
            cursor = max(cursor, edit.range.upperBound)
        }
        appendInput(cursor..<input.count)
    }
}
