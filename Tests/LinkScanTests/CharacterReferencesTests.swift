import Testing

@testable import LinkScan

/// The attribute-value character reference decoder, byte for byte.
@Suite struct CharacterReferencesTests {
    /// Decoded bytes, or nil when the decoder refuses to guess.
    func decode(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        let ok = bytes.withUnsafeBufferPointer { CharacterReferences.decode($0, 0..<$0.count, into: &out) }
        return ok ? out : nil
    }

    @Test func latin1TableIsInCodePointOrder() {
        #expect(CharacterReferences.latin1Names.count == 96)
        #expect(decode("&nbsp;&iexcl;&copy;&reg;&times;&divide;&eacute;&yuml;") == Array("\u{A0}¡©®×÷éÿ".utf8))
        #expect(decode("&Agrave;&THORN;&szlig;&frac34;&iquest;") == Array("ÀÞß¾¿".utf8))
    }

    /// Every name of the three tables, with and without `;` (the lookup is a linear search).
    @Test func everyNameDecodes() {
        let legacy = CharacterReferences.latin1Names + CharacterReferences.legacyASCII.map(\.name)
        let all = legacy + CharacterReferences.semicolonOnly.map(\.name)
        #expect(Set(all).count == all.count, "a name in two tables (the lookup takes the first)")
        var out: [UInt8] = []
        for (index, name) in CharacterReferences.latin1Names.enumerated() {
            out.removeAll()
            CharacterReferences.appendUTF8(0xA0 + UInt32(index), to: &out)
            #expect(decode("&" + name + ";") == out, "\(name)")
            #expect(decode("&" + name) == out, "\(name)")
        }
        for (name, scalar) in CharacterReferences.legacyASCII {
            out.removeAll()
            CharacterReferences.appendUTF8(scalar, to: &out)
            #expect(decode("&" + name + ";x&" + name) == out + [UInt8(ascii: "x")] + out, "\(name)")
        }
        for (name, scalar) in CharacterReferences.semicolonOnly {
            #expect(decode("&" + name + ";") == [UInt8(scalar)], "\(name)")
            #expect(decode("&" + name) == Array(("&" + name).utf8), "\(name)")
        }
    }

    @Test func legacyNamesWithoutSemicolon() {
        #expect(decode("a&ampb") == Array("a&ampb".utf8))  // longer run: literal
        #expect(decode("a&amp b") == Array("a& b".utf8))
        #expect(decode("&amp=") == Array("&amp=".utf8))  // before `=`: literal in attributes
        #expect(decode("&copy") == Array("©".utf8))
        #expect(decode("&AMP&LT&GT&QUOT&COPY&REG") == Array("&<>\"©®".utf8))
        #expect(decode("&apos") == Array("&apos".utf8))  // not a legacy name: needs `;`
        #expect(decode("&apos;&sol;&NewLine;&Tab;") == Array("'/\n\t".utf8))
    }

    @Test func numericReferences() {
        #expect(decode("&#65;&#x42;&#X43&#0068;") == Array("ABCD".utf8))
        #expect(decode("&#x10FFFF;") == [0xF4, 0x8F, 0xBF, 0xBF])
        #expect(decode("&#x7FF;&#x800;&#xFFFF;") == [0xDF, 0xBF, 0xE0, 0xA0, 0x80, 0xEF, 0xBF, 0xBF])
        #expect(decode("&#;&#x;&# 1") == Array("&#;&#x;&# 1".utf8))
        #expect(decode("&#99999999999999999999;") == nil)
        #expect(decode("&#x9F;") == nil)
        #expect(decode("&#xDFFF;") == nil)
    }

    @Test func unknownNamesAreRefused() {
        #expect(decode("&hellip;") == nil)
        #expect(decode("&ampx;") == nil)
        #expect(decode("& &; &1") == Array("& &; &1".utf8))
        #expect(decode("&") == Array("&".utf8))
    }
}
