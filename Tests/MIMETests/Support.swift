import Foundation
import TestSupport
import Testing

@testable import MIME

enum Paths {
    /// `<package root>` found from this file: Tests/MIMETests/Support.swift.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let fixtures: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// The `.eml` messages of a corpus, sorted by name.
    static func emlFiles(_ source: CorpusSource) throws -> [URL] {
        try Corpora.files(source, .eml, suffix: ".eml")
    }
}

func readBytes(_ url: URL) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url))
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func toCRLF(_ lf: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(lf.count + lf.count / 20)
    for b in lf {
        if b == 10 { out.append(13) }
        out.append(b)
    }
    return out
}

/// Compares `actual` with the golden file byte for byte (see `Golden`: a mismatch writes
/// `<golden>.actual`; `LINKSTAMP_UPDATE_GOLDEN=1` rewrites the golden file and says so).
func expectGolden(_ actual: [UInt8], _ golden: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    if let difference = Golden.check(actual, against: golden) {
        Issue.record("\(difference)", sourceLocation: sourceLocation)
    }
}

/// Shows bytes with CR, LF, tab and non-ASCII escaped so that goldens are readable.
func escaped(_ slice: ArraySlice<UInt8>) -> String {
    var s = ""
    for b in slice {
        switch b {
        case 13: s += "\\r"
        case 10: s += "\\n"
        case 9: s += "\\t"
        case 0x5C: s += "\\\\"
        case 0x20...0x7E: s.unicodeScalars.append(Unicode.Scalar(b))
        default: s += String(format: "\\x%02X", b)
        }
    }
    return s
}

/// A readable, complete dump of a structure: every part's ranges, type and body bytes.
func dump(_ structure: MessageStructure, _ message: [UInt8]) -> String {
    var out = ""
    for part in structure.parts {
        let indent = String(repeating: "  ", count: part.depth)
        out += "\(indent)#\(part.index) \(part.contentType.mimeType)"
        for p in part.contentType.parameters { out += " \(p.name)=\"\(p.value)\"" }
        out += " cte=\(part.transferEncoding.token)"
        if let d = part.disposition { out += " disposition=\(d)" }
        if let f = part.filename { out += " filename=\"\(f)\"" }
        if part.isEncapsulatedMessage { out += " encapsulated" }
        out += "\n\(indent)   parent=\(part.parent.map(String.init) ?? "-") children=\(part.children)"
        out += " header=\(part.header.range) fields=\(part.header.fields.map { $0.name(in: message) })"
        out += " separator=\(part.header.separatorRange.map { "\($0)" } ?? "none")"
        out += " body=\(part.bodyRange)\n"
        out += "\(indent)   body: \(escaped(message[part.bodyRange]))\n"
    }
    let (html, text) = structure.trackableBodyParts()
    out += "trackable html=\(html.map(String.init) ?? "none") text=\(text.map(String.init) ?? "none")\n"
    return out
}

/// Structural invariants that hold for any input: the walk loses no bytes and every range nests.
func checkInvariants(
    _ s: MessageStructure, _ bytes: [UInt8], _ name: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    var problems: [String] = []
    func fail(_ what: String) { problems.append(what) }
    guard let root = s.parts.first else {
        Issue.record("\(name): no root part", sourceLocation: sourceLocation)
        return
    }
    if root.header.range.lowerBound != 0 { fail("root header does not start at 0") }
    if root.bodyRange.upperBound != bytes.count { fail("root body does not end at the end") }
    var listedParent: [Int: Int] = [:]
    for part in s.parts {
        for child in part.children { listedParent[child] = part.index }
    }
    for (i, part) in s.parts.enumerated() {
        if part.index != i { fail("#\(i) index \(part.index)") }
        let ranges = [part.range, part.bodyRange, part.header.range] + (part.header.separatorRange.map { [$0] } ?? [])
        if ranges.contains(where: { $0.lowerBound < 0 || $0.upperBound > bytes.count })
            || part.children.contains(where: { $0 <= i || $0 >= s.parts.count })
            || (part.parent.map { $0 < 0 || $0 >= i } ?? false)
        {
            fail("#\(i) ranges or indices out of bounds")
            continue
        }
        let h = part.header
        // Header fields are contiguous and cover the header range.
        var cursor = h.range.lowerBound
        for f in h.fields {
            if f.range.lowerBound != cursor { fail("#\(i) field gap at \(cursor)") }
            if !(f.range.lowerBound <= f.nameRange.lowerBound && f.nameRange.upperBound <= f.range.upperBound) {
                fail("#\(i) name outside field")
            }
            if !(f.nameRange.upperBound <= f.valueRange.lowerBound && f.valueRange.upperBound <= f.range.upperBound) {
                fail("#\(i) value outside field")
            }
            cursor = f.range.upperBound
        }
        if cursor != h.range.upperBound { fail("#\(i) fields end \(cursor) != header end \(h.range.upperBound)") }
        if let sep = h.separatorRange {
            if sep.lowerBound != h.range.upperBound || sep.upperBound != h.bodyStart { fail("#\(i) separator") }
            let line = Array(bytes[sep])
            if line != [10] && line != [13, 10] { fail("#\(i) separator bytes \(line)") }
        } else if h.bodyStart < h.range.upperBound {
            fail("#\(i) body starts inside header")
        }
        if part.bodyRange.lowerBound != h.bodyStart { fail("#\(i) body start") }
        if part.bodyRange.upperBound > bytes.count { fail("#\(i) body beyond end") }
        if !part.contentType.isMultipart && !part.children.isEmpty { fail("#\(i) leaf with children") }
        if part.isEncapsulatedMessage && !part.children.isEmpty { fail("#\(i) message/rfc822 entered") }
        if part.isInsideMessageRFC822 { fail("#\(i) inside message/rfc822 exists") }
        if let p = part.parent {
            if p >= i { fail("#\(i) parent \(p) after child") }
            let parent = s.parts[p]
            if part.depth != parent.depth + 1 { fail("#\(i) depth") }
            if listedParent[i] != p { fail("#\(i) not in parent's children") }
            if !(parent.bodyRange.lowerBound <= part.range.lowerBound
                && part.range.upperBound <= parent.bodyRange.upperBound)
            {
                fail("#\(i) range \(part.range) outside parent body \(parent.bodyRange)")
            }
            // The line right before the part is a delimiter of the parent's boundary.
            let boundary = Array("--\(parent.contentType.boundary ?? "")".utf8)
            var lineStart = part.range.lowerBound - 1
            while lineStart > 0 && bytes[lineStart - 1] != 10 { lineStart -= 1 }
            if lineStart < 0 || !bytes[max(0, lineStart)...].starts(with: boundary) {
                fail("#\(i) not preceded by its parent's delimiter line")
            }
        } else if i != 0 {
            fail("#\(i) without parent")
        }
        // Siblings in order and disjoint; between them only a line break and a delimiter.
        for (a, b) in zip(part.children, part.children.dropFirst()) {
            let left = s.parts[a].range
            let right = s.parts[b].range
            if left.upperBound > right.lowerBound {
                fail("#\(a) overlaps #\(b)")
                continue
            }
            var gap = bytes[left.upperBound..<right.lowerBound]
            if gap.first == 13 { gap = gap.dropFirst() }
            if gap.first == 10 { gap = gap.dropFirst() }
            let boundary = Array("--\(part.contentType.boundary ?? "")".utf8)
            if !gap.starts(with: boundary) { fail("#\(a)..#\(b) gap is not a delimiter: \(escaped(gap.prefix(80)))") }
        }
        if part.children != part.children.sorted() { fail("#\(i) children out of order") }
        // After the last child: nothing (ended by an outer delimiter or the end) or its close delimiter.
        if let last = part.children.last, s.parts[last].range.upperBound <= part.bodyRange.upperBound {
            var tail = bytes[s.parts[last].range.upperBound..<part.bodyRange.upperBound]
            if tail.first == 13 { tail = tail.dropFirst() }
            if tail.first == 10 { tail = tail.dropFirst() }
            let boundary = Array("--\(part.contentType.boundary ?? "")".utf8)
            if !tail.isEmpty && !tail.starts(with: boundary) {
                fail("#\(i) bytes after the last child are not its delimiter: \(escaped(tail.prefix(80)))")
            }
        }
    }
    if !problems.isEmpty {
        Issue.record("\(name): \(problems.prefix(10).joined(separator: "; "))", sourceLocation: sourceLocation)
    }
}
