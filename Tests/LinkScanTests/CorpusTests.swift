import Foundation
import TestSupport
import Testing

@testable import LinkScan

/// Runs the scanners over the project's own corpus and, when present, the shared real-email one
/// (see `Corpora`): structural invariants, every replaced slice decodes to its target, agreement
/// with an independent reference, seeded mutations, and a byte-exact per-file summary golden.
@Suite struct CorpusTests {
    @Test(arguments: Corpora.sources)
    func everyHTMLFileScansConsistently(_ source: CorpusSource) throws {
        let files = try Corpora.contents(source, .html, suffix: ".html")
        var total = 0
        for (name, bytes) in files {
            let result = HTMLLinkScanner.scan(bytes)
            Invariants.check(bytes, result, file: name)
            for link in result.links {
                let decoded = Reference.decodeAttribute(Array(bytes[link.replaceRange]))
                #expect(decoded == link.target, "\(name): \(link.replaceRange) decodes to \(decoded ?? "nil")")
            }
            total += result.links.count
        }
        #expect(total > source.pick(own: 150, shared: 150), "only \(total) links in the whole corpus")
    }

    /// The scanner agrees with `Reference.quotedLinks` on every quoted href of the corpus.
    @Test(arguments: Corpora.sources)
    func agreesWithIndependentReference(_ source: CorpusSource) throws {
        var total = 0
        for (name, bytes) in try Corpora.contents(source, .html, suffix: ".html") {
            let scanned = HTMLLinkScanner.scan(bytes).links.filter { $0.quote != nil }
                .map { Reference.Link(range: $0.replaceRange, target: $0.target) }
            let reference = Reference.quotedLinks(bytes)
            #expect(scanned == reference, "\(name): \(Set(scanned).symmetricDifference(reference))")
            total += reference.count
        }
        #expect(total > source.pick(own: 150, shared: 150), "the reference found only \(total) links")
    }

    /// Per file: link count by source, pixel offsets. Golden: Fixtures/corpus-html-summary.expected
    /// (shared corpus), Fixtures/own-html-summary.expected (the project's own).
    @Test(arguments: Corpora.sources)
    func summaryGolden(_ source: CorpusSource) throws {
        var summary = ""
        for (name, bytes) in try Corpora.contents(source, .html, suffix: ".html") {
            let result = HTMLLinkScanner.scan(bytes)
            let bySource = [LinkSource.anchor, .area, .vml].map { source in
                "\(source)=\(result.links.filter { $0.source == source }.count)"
            }
            let initial = result.initialPixelOffset.map(String.init) ?? "-"
            summary +=
                "\(name) size=\(bytes.count) links=\(result.links.count) \(bySource.joined(separator: " "))"
                + " unsub=\(result.links.filter(\.isUnsubscribe).count) initial=\(initial) open=\(result.openPixelOffset)\n"
        }
        try Golden.compare(summary, fixture: source.pick(own: "own-html-summary", shared: "corpus-html-summary"))
    }

    @Test(arguments: Corpora.sources)
    func textScannerOnEveryCorpusFile(_ source: CorpusSource) throws {
        let eml = try Corpora.contents(source, .eml, suffix: ".eml")
        let html = try Corpora.contents(source, .html, suffix: ".html")
        var total = 0
        for (name, bytes) in eml + html {
            let result = TextLinkScanner.scan(bytes)
            Invariants.check(bytes, result, file: name)
            total += result.links.count
        }
        #expect(total > source.pick(own: 300, shared: 1000), "only \(total) text links")
    }

    /// Seeded random byte mutations of corpus files never crash and keep every invariant.
    @Test(arguments: Corpora.sources, [UInt64(1), 2, 3, 4])
    func mutatedCorpusFiles(_ source: CorpusSource, seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let files = try Corpora.contents(source, .html, suffix: ".html")
        let interesting = Array("<>\"'=/-![]&;# \n\tahbv:".utf8)
        for _ in 0..<40 {
            guard let (name, original) = files.randomElement(using: &rng) else { return }
            var bytes = original
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: bytes[at] = interesting.randomElement(using: &rng) ?? 0
                case 1: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 2: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...200, using: &rng)))
                case 3:
                    let end = min(bytes.count, at + Int.random(in: 1...200, using: &rng))
                    bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &rng))
                default: bytes.removeSubrange(at...)
                }
            }
            let result = HTMLLinkScanner.scan(bytes)
            Invariants.check(bytes, result, file: "\(name) seed \(seed)")
            for link in result.links {
                // The simple decoder gives up on unusual references; when it does answer, it must agree.
                if let decoded = Reference.decodeAttribute(Array(bytes[link.replaceRange])) {
                    #expect(decoded == link.target, "\(name) seed \(seed)")
                }
            }
            Invariants.check(bytes, TextLinkScanner.scan(bytes), file: "\(name) seed \(seed)")
        }
    }
}

/// A second, deliberately different implementation of "which quoted hrefs are tracked", for the
/// common case only: it lower-cases the document, jumps between `<` with plain substring
/// searches, and reads `href="…"` / `href='…'` out of the tag text.
enum Reference {
    struct Link: Hashable, CustomStringConvertible {
        var range: Range<Int>
        var target: String
        var description: String { "\(range)=\(target)" }
    }

    static func quotedLinks(_ original: [UInt8]) -> [Link] {
        let doc = original.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        var links: [Link] = []
        var p = 0
        while let lt = find("<", in: doc, from: p) {
            if starts("<!--[if", doc, lt), let close = find("]>", in: doc, from: lt) {
                p = close + 2
            } else if starts("<!--", doc, lt) {
                if starts("<!-->", doc, lt) {
                    p = lt + 5
                    continue
                }
                guard let close = find("-->", in: doc, from: lt + 4) else { break }
                p = close + 3
            } else if starts("<![cdata[", doc, lt) {
                guard let close = find("]]>", in: doc, from: lt) else { break }
                p = close + 3
            } else if let raw = ["script", "style", "title", "textarea"].first(where: { openingTag($0, doc, lt) }) {
                guard let close = find("</" + raw, in: doc, from: lt + 1) else { break }
                p = close
            } else if ["a", "area", "v:roundrect", "v:rect"].contains(where: { openingTag($0, doc, lt) }) {
                guard let end = tagEnd(doc, from: lt) else { break }
                if let link = quotedHref(original, doc, lt..<end) { links.append(link) }
                p = end
            } else {
                p = lt + 1
            }
        }
        return links
    }

    private static func quotedHref(_ original: [UInt8], _ doc: [UInt8], _ tag: Range<Int>) -> Link? {
        if contains(#"data-msys-clicktrack="0""#, doc, tag) || contains("data-msys-clicktrack='0'", doc, tag) {
            return nil
        }
        var p = tag.lowerBound
        while let h = find("href", in: doc, from: p, before: tag.upperBound) {
            p = h + 4
            guard isSpace(doc[h - 1]) else { continue }
            var q = h + 4
            while isSpace(doc[q]) { q += 1 }
            guard doc[q] == UInt8(ascii: "=") else { continue }
            q += 1
            while isSpace(doc[q]) { q += 1 }
            let quote = doc[q]
            guard quote == 34 || quote == 39, let close = doc[(q + 1)...].firstIndex(of: quote) else { return nil }
            guard let target = decodeAttribute(Array(original[(q + 1)..<close])) else { return nil }
            let lower = target.lowercased()
            for scheme in ["http://", "https://"] where lower.hasPrefix(scheme) {
                let rest = lower.dropFirst(scheme.count)
                if let first = rest.first, !"/?#:@".contains(first), target.utf8.count <= 4096 {
                    return Link(range: (q + 1)..<close, target: target)
                }
            }
            return nil
        }
        return nil
    }

    /// Decodes the character references the corpus uses, trims, drops tab/CR/LF. Nil for
    /// anything unusual (unknown names, control bytes, invalid UTF-8).
    static func decodeAttribute(_ value: [UInt8]) -> String? {
        guard var text = String(validating: value, as: UTF8.self) else { return nil }
        let named = [
            "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&apos;": "'", "&AMP;": "&",
            "&nbsp;": "\u{A0}",
        ]
        var out = ""
        while let amp = text.firstIndex(of: "&") {
            out += text[..<amp]
            text = String(text[amp...])
            if let (entity, replacement) = named.first(where: { text.hasPrefix($0.key) }) {
                out += replacement
                text.removeFirst(entity.count)
            } else if let (length, scalar) = numericReference(text) {
                out.unicodeScalars.append(scalar)
                text.removeFirst(length)
            } else if text.dropFirst().first.map({ $0.isLetter || $0 == "#" }) == true {
                return nil  // a reference this simple decoder does not know
            } else {
                out += "&"
                text.removeFirst()
            }
        }
        out += text
        out = out.trimmingCharacters(in: CharacterSet(charactersIn: " \t\n\r\u{0C}"))
        out.removeAll { $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        if out.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return nil }
        return out
    }

    /// `&#123;`, `&#x7B;`, `&#123` at the start of `text`: (characters consumed, scalar).
    private static func numericReference(_ text: String) -> (Int, Unicode.Scalar)? {
        let chars = Array(text.prefix(12))
        guard chars.count > 2, chars[0] == "&", chars[1] == "#" else { return nil }
        let hex = chars[2] == "x" || chars[2] == "X"
        var i = hex ? 3 : 2
        var digits = ""
        while i < chars.count, hex ? chars[i].isHexDigit : chars[i].isWholeNumber {
            digits.append(chars[i])
            i += 1
        }
        guard !digits.isEmpty, let value = UInt32(digits, radix: hex ? 16 : 10), let scalar = Unicode.Scalar(value),
            value != 0, !(0x80...0x9F).contains(value)
        else { return nil }
        if i < chars.count, chars[i] == ";" { i += 1 }
        return (i, scalar)
    }

    private static func openingTag(_ name: String, _ doc: [UInt8], _ lt: Int) -> Bool {
        let end = lt + 1 + name.utf8.count
        guard starts("<" + name, doc, lt), end < doc.count else { return false }
        return isSpace(doc[end]) || doc[end] == UInt8(ascii: ">") || doc[end] == UInt8(ascii: "/")
    }

    /// End of a tag: the first `>` outside quotes that follow an `=`.
    private static func tagEnd(_ doc: [UInt8], from start: Int) -> Int? {
        var quote: UInt8?
        var previousSignificant: UInt8 = 0
        for i in start..<doc.count {
            let b = doc[i]
            if let q = quote {
                if b == q { quote = nil }
                continue
            }
            if (b == 34 || b == 39) && previousSignificant == UInt8(ascii: "=") {
                quote = b
            } else if b == UInt8(ascii: ">") {
                return i + 1
            }
            if !isSpace(b) { previousSignificant = b }
        }
        return nil
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 || b == 12 }

    private static func starts(_ literal: String, _ doc: [UInt8], _ at: Int) -> Bool {
        starts(Array(literal.utf8), doc, at)
    }

    private static func starts(_ bytes: [UInt8], _ doc: [UInt8], _ at: Int) -> Bool {
        guard at + bytes.count <= doc.count else { return false }
        for k in 0..<bytes.count where doc[at + k] != bytes[k] { return false }
        return true
    }

    private static func contains(_ literal: String, _ doc: [UInt8], _ range: Range<Int>) -> Bool {
        let bytes = Array(literal.utf8)
        guard range.count >= bytes.count else { return false }
        return (range.lowerBound...(range.upperBound - bytes.count)).contains { starts(bytes, doc, $0) }
    }

    private static func find(_ literal: String, in doc: [UInt8], from start: Int, before limit: Int? = nil) -> Int? {
        let bytes = Array(literal.utf8)
        let end = min(limit ?? doc.count, doc.count)
        guard let first = bytes.first, start < end else { return nil }
        var i = start
        while i + bytes.count <= end {
            if doc[i] == first && starts(bytes, doc, i) { return i }
            i += 1
        }
        return nil
    }
}
