import Testing

@testable import SMTPAPI

@Suite struct JSONValueTests {
    @Test func compactSerialization() {
        let value = JSONValue.object([
            JSONMember(key: "z", value: .null),
            JSONMember(
                key: "a", value: .array([.bool(true), .bool(false), .number("-1.5E+3"), .array([]), .object([])])),
            JSONMember(key: "s", value: .string("q\"b\\s/\u{8}\u{C}\n\r\t\u{0}\u{1F}\u{7F}é€😀\u{2028}")),
        ])
        #expect(
            value.serialized()
                == #"{"z":null,"a":[true,false,-1.5E+3,[],{}],"s":"q\"b\\s/\b\f\n\r\t\u0000\u001f"#
                + "\u{7F}é€😀\u{2028}\"}")
        #expect(JSONValue.string("").serialized() == #""""#)
        #expect(JSONValue.array([.number("1")]).serialized() == "[1]")
    }

    @Test func roundTripKeepsOrderAndLexemes() {
        let source = #"""
            { "metadata" : { "z" : [ 1.0 , -0 , 2e10 , "\u00e9\ud83d\ude00\n" ] ,
              "a" : { "nested" : { "deeper" : [ [ ], { } , null ] } }, "t" : true, "s": "x\/y" } }
            """#
        guard let metadata = accepted(source)?.metadata else {
            Issue.record("refused")
            return
        }
        let once = JSONValue.object(metadata).serialized()
        #expect(once == #"{"z":[1.0,-0,2e10,"é😀\n"],"a":{"nested":{"deeper":[[],{},null]}},"t":true,"s":"x/y"}"#)
        // Serialized output parses back to the same value and serializes to the same bytes.
        let again = accepted("{\"metadata\":\(once)}")?.metadata
        #expect(again == metadata)
        #expect(again.map { JSONValue.object($0).serialized() } == once)
    }

    @Test func deepValuesSerializeWithoutRecursion() {
        var value = JSONValue.null
        for _ in 0..<1000 { value = .array([value]) }
        let text = value.serialized()
        #expect(text == String(repeating: "[", count: 1000) + "null" + String(repeating: "]", count: 1000))
    }
}
