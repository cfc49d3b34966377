import Foundation
import TestSupport
import Testing

@testable import MIME

/// Runs on the project's own corpus and, when present, the shared real-world one (see `Corpora`).
@Suite struct CorpusTests {
    /// Every corpus message parses without error and satisfies the structural invariants.
    @Test(arguments: Corpora.sources)
    func everyMessageParses(_ source: CorpusSource) throws {
        let files = try Paths.emlFiles(source)
        var multipart = 0
        for file in files {
            let message = try readBytes(file)
            let structure = try MessageStructure.parse(message)
            checkInvariants(structure, message, file.lastPathComponent)
            if structure.parts.count > 1 { multipart += 1 }
            let (html, text) = structure.trackableBodyParts()
            for chosen in [html, text].compactMap({ $0 }) {
                let part = structure.parts[chosen]
                #expect(!part.isAttachment)
                #expect(part.contentType.type == "text")
            }
        }
        #expect(multipart > files.count / 4, "expected many multipart messages in the corpus")
    }

    /// The structure of every message of the project's own corpus (types, encodings, ranges, the
    /// parts chosen for tracking; no body bytes) compared with `Fixtures/own-corpus-structure.golden`.
    @Test func ownCorpusStructureGolden() throws {
        var summary = ""
        for file in try Paths.emlFiles(.own) {
            let message = try readBytes(file)
            let structure = try MessageStructure.parse(message)
            let lineEnding = structure.parts.first.map { "\($0.header.lineEnding)" } ?? "-"
            summary += "\(file.lastPathComponent) size=\(message.count) line-ending=\(lineEnding)\n"
            for part in structure.parts {
                summary += String(repeating: "  ", count: part.depth + 1)
                summary += "#\(part.index) \(part.contentType.mimeType) cte=\(part.transferEncoding.token)"
                if let disposition = part.disposition { summary += " disposition=\(disposition)" }
                if let filename = part.filename { summary += " filename=\"\(filename)\"" }
                if part.isEncapsulatedMessage { summary += " encapsulated" }
                summary += " header=\(part.header.range) body=\(part.bodyRange)\n"
            }
            let (html, text) = structure.trackableBodyParts()
            summary += "  trackable html=\(html.map(String.init) ?? "none") text=\(text.map(String.init) ?? "none")\n"
        }
        try expectGolden(Array(summary.utf8), Paths.fixtures.appendingPathComponent("own-corpus-structure.golden"))
    }

    /// Seeded random mutations of corpus messages never crash and keep the invariants.
    @Test(arguments: Corpora.sources)
    func fuzzMutations(_ source: CorpusSource) throws {
        let files = try Paths.emlFiles(source)
        var rng = SeededGenerator(seed: 0xF022)
        var smallLimits = MIMELimits()
        smallLimits.maxDepth = 3
        smallLimits.maxParts = 6
        smallLimits.maxHeaderBytes = 300
        smallLimits.maxFieldsPerHeader = 8
        let snippets: [[UInt8]] = [
            bytes("\n--"), bytes("\r\n--"), bytes("--\r\n"), bytes("\r\n\r\n"), bytes("\n\n"), bytes(":"),
            bytes(" "), bytes("\r"), [0], [0xFF], bytes("Content-Type: multipart/mixed; boundary=\"z\"\n\n--z\n"),
            bytes("\n--z--\n"), bytes("=?utf-8?q?x?="), bytes("boundary="), bytes("\""),
        ]
        // LINKSTAMP_FUZZ_ROUNDS scales the run for local soak testing (default: 6 per file; every
        // other file of the shared corpus).
        let rounds = ProcessInfo.processInfo.environment["LINKSTAMP_FUZZ_ROUNDS"].flatMap { Int($0) }
        let stride = rounds == nil ? source.pick(own: 1, shared: 2) : 1
        for (n, file) in files.enumerated() where n % stride == 0 {
            let original = try readBytes(file)
            for _ in 0..<(rounds ?? 6) {
                var m = original
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    guard !m.isEmpty else { break }
                    let at = Int.random(in: 0..<m.count, using: &rng)
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0: m[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: m.insert(contentsOf: snippets.randomElement(using: &rng) ?? [], at: at)
                    case 2: m.removeSubrange(at..<min(m.count, at + Int.random(in: 1...50, using: &rng)))
                    case 3: m = Array(m[..<at])
                    default:
                        // Duplicate a line-ish span (often a boundary line).
                        let end = min(m.count, at + Int.random(in: 1...80, using: &rng))
                        m.insert(contentsOf: m[at..<end], at: end)
                    }
                }
                if let structure = try? MessageStructure.parse(m) {
                    checkInvariants(structure, m, "mutated \(file.lastPathComponent)")
                    _ = structure.trackableBodyParts()
                }
                if let structure = try? MessageStructure.parse(m, limits: smallLimits) {
                    #expect(structure.parts.count <= 6)
                    #expect(structure.parts.allSatisfy { $0.depth <= 3 })
                }
                for part in (try? MessageStructure.parse(m))?.parts ?? [] {
                    _ = TransferCoding.decode(m[part.bodyRange], part.transferEncoding)
                }
            }
        }
    }
}

@Suite struct LimitTests {
    private func nested(_ depth: Int) -> [UInt8] {
        var head = ""
        var tail = ""
        for level in 0..<depth {
            head += "Content-Type: multipart/mixed; boundary=b\(level)\n\n--b\(level)\n"
            tail = "\n--b\(level)--\n" + tail
        }
        return bytes(head + "Content-Type: text/html\n\n<p>deep</p>" + tail)
    }

    @Test func depthLimit() throws {
        let ok = try MessageStructure.parse(nested(32))
        #expect(ok.parts.count == 33)
        #expect(ok.parts.last?.depth == 32)
        #expect(ok.trackableBodyParts().html == 32)
        checkInvariants(ok, nested(32), "nested 32")
        #expect(throws: MIMEError.self) { try MessageStructure.parse(nested(33)) }
        var limits = MIMELimits()
        limits.maxDepth = 500
        let deep = try MessageStructure.parse(nested(400), limits: limits)
        #expect(deep.parts.count == 401)
    }

    @Test func partLimit() throws {
        var s = "Content-Type: multipart/mixed; boundary=p\n\n"
        for _ in 0..<10_000 { s += "--p\n\nx\n" }
        let m = bytes(s)
        #expect(throws: MIMEError.tooManyParts(limit: 10_000, offset: m.count - 3)) { try MessageStructure.parse(m) }
        var limits = MIMELimits()
        limits.maxParts = 10_001
        let all = try MessageStructure.parse(m, limits: limits)
        #expect(all.parts.count == 10_001)
        checkInvariants(all, m, "10k parts")
    }
}
