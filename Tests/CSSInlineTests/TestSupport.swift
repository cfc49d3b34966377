import Foundation
import TestSupport
import Testing

@testable import CSSInline

/// Paths and helpers shared by the CSSInline tests (the corpora are found by
/// `TestSupport.Corpora`).
enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func bytes(_ url: URL) -> [UInt8]? {
        (try? Data(contentsOf: url)).map { [UInt8]($0) }
    }

    /// Compares bytes with the golden file at `url` (see `Golden`: a mismatch writes
    /// `<golden>.actual`; `LINKSTAMP_UPDATE_GOLDEN=1` rewrites the file and says so).
    static func expectGolden(_ actual: [UInt8], expectedAt url: URL, sourceLocation: SourceLocation = #_sourceLocation)
    {
        if let difference = Golden.check(actual, against: url) {
            Issue.record("\(difference)", sourceLocation: sourceLocation)
        }
    }
}

/// What the conformance comparison sees of a document: each start tag's name and the
/// declarations of its style attribute, normalized (formatting, quotes, case ignored).
struct StyledElement: Equatable, CustomStringConvertible {
    var name: String
    var declarations: [String: String]

    var description: String {
        "<\(name) " + declarations.keys.sorted().map { "\($0): \(declarations[$0] ?? "")" }.joined(separator: "; ")
            + ">"
    }
}

enum StyleExtraction {
    static let ignoredTags: Set<String> = [
        "html", "head", "body", "tbody", "style", "title", "meta", "link", "script", "thead",
    ]

    /// Start tags in document order outside comments, raw text and `<head>`.
    static func elements(_ html: [UInt8], ignoreImportant: Bool) -> [StyledElement] {
        var result: [StyledElement] = []
        html.withUnsafeBufferPointer { bytes in
            var cursor = 0
            var inHead = false
            while cursor < bytes.count {
                guard bytes[cursor] == 0x3C else {
                    cursor += 1
                    continue
                }
                if cursor + 3 < bytes.count, bytes[cursor + 1] == 0x21, bytes[cursor + 2] == 0x2D,
                    bytes[cursor + 3] == 0x2D
                {
                    cursor = HTMLBytes.skipComment(bytes, cursor)
                    continue
                }
                if cursor + 1 < bytes.count, bytes[cursor + 1] == 0x2F {
                    if let end = HTMLBytes.nameEnd(bytes, cursor + 2) {
                        let name = String(decoding: bytes[(cursor + 2)..<end], as: UTF8.self).lowercased()
                        if name == "head" { inHead = false }
                    }
                    cursor += 2
                    continue
                }
                guard let tag = HTMLBytes.readStartTag(bytes, at: cursor),
                    let nameEnd = HTMLBytes.nameEnd(bytes, cursor + 1)
                else {
                    cursor += 1
                    continue
                }
                let name = String(decoding: bytes[(cursor + 1)..<nameEnd], as: UTF8.self).lowercased()
                cursor = tag.end + 1
                if name == "head" { inHead = true }
                if name == "body" { inHead = false }
                if name == "style" || name == "script" {
                    let closing = HTMLBytes.findTag(
                        bytes, name == "style" ? "style" : "script", from: cursor, closing: true)
                    cursor = closing ?? bytes.count
                }
                if inHead || ignoredTags.contains(name) { continue }
                var style = ""
                if let value = tag.styleValue {
                    var range = value
                    if tag.styleQuote != 0, range.count >= 2 { range = (range.lowerBound + 1)..<(range.upperBound - 1) }
                    style = decodeEntities(String(decoding: bytes[range], as: UTF8.self))
                }
                result.append(
                    StyledElement(name: name, declarations: declarations(style, ignoreImportant: ignoreImportant)))
            }
        }
        return result
    }

    static func decodeEntities(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&#x27;", with: "'").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// `name: value` pairs, last one (or the important one) winning, values normalized.
    static func declarations(_ style: String, ignoreImportant: Bool) -> [String: String] {
        var result: [String: String] = [:]
        var important: Set<String> = []
        var pieces: [String] = []
        var current = ""
        var quote: Character? = nil
        var depth = 0
        for character in style {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "(" {
                depth += 1
            } else if character == ")" {
                depth -= 1
            } else if character == ";" && depth <= 0 {
                pieces.append(current)
                current = ""
                continue
            }
            current.append(character)
        }
        pieces.append(current)
        for piece in pieces {
            guard let colon = piece.firstIndex(of: ":") else { continue }
            let name = piece[..<colon].trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            var value = String(piece[piece.index(after: colon)...])
            var isImportant = false
            if let bang = value.range(of: "!\\s*important\\s*$", options: [.regularExpression, .caseInsensitive]) {
                value.removeSubrange(bang)
                isImportant = !ignoreImportant
            }
            let normalized = normalize(value)
            guard !name.isEmpty, !normalized.isEmpty else { continue }
            if important.contains(name) && !isImportant { continue }
            if isImportant { important.insert(name) }
            result[name] = normalized + (isImportant ? " !important" : "")
        }
        return result
    }

    static func normalize(_ value: String) -> String {
        var text = value.lowercased().replacingOccurrences(of: "\"", with: "'")
        text = text.replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
        text = text.replacingOccurrences(of: "\\s*([,()/])\\s*", with: "$1", options: .regularExpression)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
