import MailBytes
import TestSupport
import Testing

@Suite struct Base64Tests {
    // RFC 4648 §10 test vectors.
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test func urlVectors() {
        for (plain, encoded) in Self.vectors {
            #expect(Base64.encodeToString(Array(plain.utf8), alphabet: .url) == encoded)
            #expect(Base64.decode(ArraySlice(encoded.utf8), alphabet: .url) == Array(plain.utf8))
        }
    }

    @Test func standardVectorsWithPadding() {
        for (plain, unpadded) in Self.vectors {
            let padded = unpadded + String(repeating: "=", count: (4 - unpadded.count % 4) % 4)
            #expect(Base64.encodeToString(Array(plain.utf8), alphabet: .standard) == padded)
            #expect(Base64.decode(ArraySlice(padded.utf8), alphabet: .standard) == Array(plain.utf8))
            #expect(Base64.decode(ArraySlice(unpadded.utf8), alphabet: .standard) == Array(plain.utf8))
        }
    }

    @Test func alphabetsDiffer() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF]
        #expect(Base64.encodeToString(bytes, alphabet: .url) == "-_-_")
        #expect(Base64.encodeToString(bytes, alphabet: .standard) == "+/+/")
        #expect(Base64.decode(ArraySlice("+/+/".utf8), alphabet: .url) == nil)
        #expect(Base64.decode(ArraySlice("-_-_".utf8), alphabet: .standard) == nil)
    }

    @Test(arguments: ["Z", "Zh", "Zm9", "Zm9vY", "Zm=v", "Zm9v=", "Zg=", "Zg===", "=Zg=", "Z g", "Zm9\u{0}"])
    func rejectsInvalidURLInput(input: String) {
        #expect(Base64.decode(ArraySlice(input.utf8), alphabet: .url) == nil)
    }

    @Test func rejectsInvalidStandardInput() {
        for input in ["Zh==", "Zg=", "Zg===", "Z===", "====", "Zm9vY===", "Zm 9v"] {
            #expect(Base64.decode(ArraySlice(input.utf8), alphabet: .standard) == nil, "\(input)")
        }
    }

    @Test func everyLengthRoundTrips() {
        var generator = SeededGenerator(seed: 7)
        for length in 0..<300 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            for alphabet in [Base64.Alphabet.url, .standard] {
                let encoded = Base64.encodeToString(bytes, alphabet: alphabet)
                #expect(encoded.utf8.count == Base64.encodedCount(length, alphabet: alphabet))
                #expect(Base64.decode(ArraySlice(encoded.utf8), alphabet: alphabet) == bytes)
            }
        }
    }
}
