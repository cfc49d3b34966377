import Foundation
import Testing

@testable import MIME

/// Hand-written messages (Fixtures/structure/*.eml, written with LF) parsed as LF and as CRLF;
/// each dump is compared byte for byte with `<name>.lf.golden` / `<name>.crlf.golden`.
@Suite struct StructureGoldenTests {
    static let names = [
        "nested", "rfc822", "missing-close", "padding", "headers-only", "empty-parts", "signed",
        "mixed-first", "attachment-only", "digest", "single", "related-start", "prefix-boundaries", "odd-bytes",
    ]

    @Test(arguments: names)
    func golden(name: String) throws {
        let dir = Paths.fixtures.appendingPathComponent("structure")
        let lf = try readBytes(dir.appendingPathComponent("\(name).eml"))
        #expect(
            !lf.contains(10) || !(0..<lf.count - 1).contains { lf[$0] == 13 && lf[$0 + 1] == 10 },
            "fixtures are written with LF; CRLF is derived")
        for (variant, message) in [("lf", lf), ("crlf", toCRLF(lf))] {
            let structure = try MessageStructure.parse(message)
            checkInvariants(structure, message, "\(name).\(variant)")
            try expectGolden(
                Array(dump(structure, message).utf8), dir.appendingPathComponent("\(name).\(variant).golden"))
        }
    }

    /// The LF and CRLF variants have the same shape and the same selection.
    @Test(arguments: names)
    func lineEndingsAgree(name: String) throws {
        let lf = try readBytes(Paths.fixtures.appendingPathComponent("structure/\(name).eml"))
        let crlf = toCRLF(lf)
        let a = try MessageStructure.parse(lf)
        let b = try MessageStructure.parse(crlf)
        #expect(a.parts.map(\.children) == b.parts.map(\.children))
        #expect(a.parts.map(\.contentType) == b.parts.map(\.contentType))
        #expect(a.trackableBodyParts() == b.trackableBodyParts())
        for (x, y) in zip(a.parts, b.parts) {
            #expect(toCRLF(Array(lf[x.bodyRange])) == Array(crlf[y.bodyRange]))
        }
        #expect(a.parts.first?.header.lineEnding == .lf)
        #expect(b.parts.first?.header.lineEnding == .crlf)
    }
}

/// The invariant checker used on the corpus and the fuzz run must be able to fail.
@Suite struct InvariantCheckerTests {
    @Test func detectsCorruptedStructures() throws {
        let message = try readBytes(Paths.fixtures.appendingPathComponent("structure/nested.eml"))
        let good = try MessageStructure.parse(message)
        checkInvariants(good, message, "nested")

        var shifted = good
        shifted.parts[2].bodyRange = 300..<700
        withKnownIssue { checkInvariants(shifted, message, "shifted body") }

        var swapped = good
        swapped.parts[1].children = [3, 2]
        withKnownIssue { checkInvariants(swapped, message, "swapped children") }

        var lostField = good
        lostField.parts[0].header.fields.remove(at: 1)
        withKnownIssue { checkInvariants(lostField, message, "lost field") }

        var wrongEnd = good
        wrongEnd.parts[4].bodyRange =
            wrongEnd.parts[4].bodyRange.lowerBound..<(wrongEnd.parts[4].bodyRange.upperBound - 3)
        withKnownIssue { checkInvariants(wrongEnd, message, "body end short") }
    }
}
