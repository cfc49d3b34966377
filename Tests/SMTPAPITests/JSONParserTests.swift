import MailBytes
import Testing

@testable import SMTPAPI

/// Strict RFC 8259: every refusal names what, the byte offset and 20 characters of context.
@Suite struct JSONParserTests {
    static let prefix = "550 5.6.0 JSON parsing error in X-MSYS-API: "

    @Test(arguments: [
        // Trailing commas.
        (#"{"tags":["a","b",]}"#, "trailing comma before ']' at byte 16 near ',]}'"),
        (#"{"a":1,}"#, "trailing comma before '}' at byte 6 near ',}'"),
        // Missing commas.
        (#"{"a":1 "b":2}"#, #"expected ',' or '}' after object member at byte 7 near '"b":2}'"#),
        (#"{"tags":["a" "b"]}"#, #"expected ',' or ']' after array element at byte 13 near '"b"]}'"#),
        // Single quotes, unquoted keys.
        (#"{"a":'b'}"#, "strings must use double quotes, not single quotes at byte 5 near ''b'}'"),
        (#"{'a':1}"#, "object keys must use double quotes, not single quotes at byte 1 near ''a':1}'"),
        (#"{campaign_id:"x"}"#, #"object keys must be double-quoted strings at byte 1 near 'campaign_id:"x"}'"#),
        // Comments, wherever they are.
        (#"{"a":1 /* c */}"#, "comments are not allowed at byte 7 near '/* c */}'"),
        ("{// c\n\"a\":1}", "comments are not allowed at byte 1 near '// c?\"a\":1}'"),
        (#"{"a":/*x*/1}"#, "comments are not allowed at byte 5 near '/*x*/1}'"),
        (#"{"a":[1 # x]}"#, "comments are not allowed at byte 8 near '# x]}'"),
        (#"{"a":1} // x"#, "comments are not allowed at byte 8 near '// x'"),
        // Numbers.
        (#"{"a":01}"#, "leading zeros are not allowed in numbers at byte 5 near '01}'"),
        (#"{"a":-01}"#, "leading zeros are not allowed in numbers at byte 5 near '-01}'"),
        (#"{"a":1.}"#, "expected a digit after the decimal point at byte 7 near '}'"),
        (#"{"a":-}"#, "expected a digit in number at byte 6 near '}'"),
        (#"{"a":1e}"#, "expected a digit in the exponent at byte 7 near '}'"),
        (#"{"a":+1}"#, "unexpected character '+', expected a JSON value at byte 5 near '+1}'"),
        (#"{"a":.5}"#, "unexpected character '.', expected a JSON value at byte 5 near '.5}'"),
        // Escapes.
        (#"{"a":"\x"}"#, #"invalid escape '\x' at byte 6 near '\x"}'"#),
        (#"{"a":"\u12G4"}"#, #"invalid \u escape: expected four hex digits at byte 6 near '\u12G4"}'"#),
        (#"{"a":"\u12"}"#, #"invalid \u escape: expected four hex digits at byte 6 near '\u12"}'"#),
        (#"{"a":"\u1"#, #"incomplete \u escape at byte 6 near '\u1'"#),
        (#"{"a":"\uD83D"}"#, #"lone high surrogate in \u escape at byte 6 near '\uD83D"}'"#),
        (#"{"a":"\uD83Dx"}"#, #"lone high surrogate in \u escape at byte 6 near '\uD83Dx"}'"#),
        (#"{"a":"\uD83D\u0041"}"#, #"lone high surrogate in \u escape at byte 6 near '\uD83D\u0041"}'"#),
        (#"{"a":"\uD83D\uD83D"}"#, #"lone high surrogate in \u escape at byte 6 near '\uD83D\uD83D"}'"#),
        (#"{"a":"\uDE00x"}"#, #"lone low surrogate in \u escape at byte 6 near '\uDE00x"}'"#),
        // Control characters in strings (a fold inside a string leaves a space, which is fine).
        ("{\"a\":\"b\tc\"}", "unescaped control character U+0009 in string at byte 7 near '?c\"}'"),
        ("{\"a\":\"b\u{0}c\"}", "unescaped control character U+0000 in string at byte 7 near '?c\"}'"),
        ("{\"a\":\"b\u{1F}\"}", "unescaped control character U+001F in string at byte 7 near '?\"}'"),
        // Trailing garbage.
        (#"{"a":1}x"#, "unexpected data after the JSON value at byte 7 near 'x'"),
        (#"{"a":1}{"b":2}"#, #"unexpected data after the JSON value at byte 7 near '{"b":2}'"#),
        (#"{"a":1}}"#, "unexpected data after the JSON value at byte 7 near '}'"),
        // Truncation.
        (#"{"a":"b"#, #"unterminated string at byte 5 near '"b'"#),
        (#"{"a":1"#, #"unexpected end of input at byte 6 near '{"a":1'"#),
        (#"{"a""#, #"unexpected end of input at byte 4 near '{"a"'"#),
        (#"{"campaign_id":"abc","tags":["#, #"unexpected end of input at byte 29 near 'n_id":"abc","tags":['"#),
        // Literals, keys, separators.
        (
            #"{"a":tru}"#,
            "invalid literal (strings must be double-quoted; literals are true, false, null) at byte 5 near 'tru}'"
        ),
        (
            #"{"a":True}"#,
            "invalid literal (strings must be double-quoted; literals are true, false, null) at byte 5 near 'True}'"
        ),
        (
            #"{"a":NaN}"#,
            "invalid literal (strings must be double-quoted; literals are true, false, null) at byte 5 near 'NaN}'"
        ),
        (#"{"a" 1}"#, "expected ':' after object key at byte 5 near '1}'"),
        (#"{"a":}"#, "unexpected character '}', expected a JSON value at byte 5 near '}'"),
        (#"{,"a":1}"#, #"unexpected character ',', expected an object key at byte 1 near ',"a":1}'"#),
        (#"{"a":[,1]}"#, "unexpected character ',', expected a JSON value at byte 6 near ',1]}'"),
        // Duplicate keys, also when only the RFC 2047 decoding makes them equal, also nested.
        (#"{"a":1,"a":2}"#, #"duplicate key 'a' at byte 7 near '"a":2}'"#),
        (#"{"a":1,"=?UTF-8?Q?a?=":2}"#, #"duplicate key 'a' at byte 7 near '"=?UTF-8?Q?a?=":2}'"#),
        (#"{"metadata":{"x":{"k":1,"k":1}}}"#, #"duplicate key 'k' at byte 24 near '"k":1}}}'"#),
    ])
    func refusedWithPreciseMessage(input: String, message: String) {
        #expect(refusal(input) == Self.prefix + message)
    }

    /// Keys are compared as `String`s (canonical equivalence) whether the object holds few keys
    /// (searched in order) or more than `SmallStringSet.linearLimit` (a `Set`).
    @Test(arguments: [
        1, SmallStringSet.linearLimit - 1, SmallStringSet.linearLimit, SmallStringSet.linearLimit + 1, 40,
    ])
    func duplicateKeysAreFoundPastAnyNumberOfKeys(distinct: Int) {
        let members = (0..<distinct).map { #""k\#($0)":\#($0)"# }
        let unique = "{" + (members + [#""\u00e9":1"#]).joined(separator: ",") + "}"
        #expect(accepted(#"{"metadata":"# + unique + "}") != nil)
        // "é" precomposed, then as "e" and a combining acute accent: equal Strings.
        let twice = "{" + (members + [#""\u00e9":1"#, #""e\u0301":2"#]).joined(separator: ",") + "}"
        #expect(refusal(#"{"metadata":"# + twice + "}")?.contains("duplicate key '") == true)
        let again = "{" + (members + [#""k0":0"#]).joined(separator: ",") + "}"
        #expect(refusal(#"{"metadata":"# + again + "}")?.contains("duplicate key 'k0'") == true)
    }

    @Test func emptyValue() {
        for value in ["", "   ", "\t", " \r\n ", "\r\n\t"] {
            #expect(refusal(value) == Self.prefix + "empty value")
        }
    }

    @Test func topLevelMustBeAnObject() {
        for value in [#"["a"]"#, #""x""#, "1", "null", "true", "[]"] {
            #expect(refusal(value) == "550 5.6.0 X-MSYS-API must be a JSON object")
        }
    }

    @Test func invalidUTF8IsRefusedWithItsOffset() {
        let cases: [([UInt8], Int)] = [
            (Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), 6),  // bad continuation
            (Array(#"{"a":""#.utf8) + [0xC0, 0x80] + Array(#""}"#.utf8), 6),  // overlong NUL
            (Array(#"{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8), 6),  // surrogate
            (Array(#"{"a":""#.utf8) + [0xF4, 0x90, 0x80, 0x80] + Array(#""}"#.utf8), 6),  // > U+10FFFF
            (Array(#"{"é":"#.utf8) + [0xE2, 0x82], 6),  // truncated at the end
            ([0x20, 0x20, 0xFF] + Array("{}".utf8), 0),  // offsets count from the trimmed value
        ]
        for (bytes, offset) in cases {
            guard case .failure(let reply) = outcome(bytes: bytes) else {
                Issue.record("accepted \(bytes)")
                continue
            }
            #expect(reply.description == Self.prefix + "invalid UTF-8 at byte \(offset)")
        }
    }

    @Test func rawUTF8IsAccepted() {
        let header = accepted(#"{"campaign_id":"café 日本 😀","tags":["ünïcödé"]}"#)
        #expect(header?.campaignID == "café 日本 😀")
        #expect(header?.tags == ["ünïcödé"])
    }

    @Test func escapesAreResolved() {
        let header = accepted(#"{"campaign_id":"\"\\\/\b\f\n\r\t\u00e9\u20AC\uD83D\uDE00\u0000"}"#)
        #expect(header?.campaignID == "\"\\/\u{8}\u{C}\n\r\t\u{E9}\u{20AC}\u{1F600}\u{0}")
        // A surrogate pair makes one 4-byte character.
        #expect(accepted(#"{"campaign_id":"\ud83d\ude00"}"#)?.campaignID?.utf8.count == 4)
    }

    @Test func numbersKeepTheirLexeme() {
        let header = accepted(
            #"{"metadata":{"n":-1.5e+10,"z":0,"f":0.250,"E":1E5,"big":123456789012345678901234567890}}"#)
        #expect(
            header?.metadata == [
                JSONMember(key: "n", value: .number("-1.5e+10")), JSONMember(key: "z", value: .number("0")),
                JSONMember(key: "f", value: .number("0.250")), JSONMember(key: "E", value: .number("1E5")),
                JSONMember(key: "big", value: .number("123456789012345678901234567890")),
            ])
    }

    @Test func sameKeyInDifferentObjectsIsFine() {
        let header = accepted(#"{"metadata":{"k":{"k":1},"j":{"k":2}}}"#)
        #expect(header?.metadata?.count == 2)
    }

    @Test func nestingUpToTheLimitIsAccepted() {
        // The top-level object is depth 1, metadata 2; 62 arrays inside make 64.
        let value =
            "{\"metadata\":{\"a\":" + String(repeating: "[", count: 62) + String(repeating: "]", count: 62) + "}}"
        #expect(accepted(value) != nil)
    }

    @Test func nestingBeyondTheLimitIsRefused() {
        let value =
            "{\"metadata\":{\"a\":" + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "}}"
        #expect(
            refusal(value) == Self.prefix + "nesting deeper than 64 levels at byte 79 near '[]]]]]]]]]]]]]]]]]]]'"
        )
        var limits = APILimits()
        limits.maxNestingDepth = 2
        #expect(
            refusal(#"{"metadata":{"a":[]}}"#, limits: limits)
                == Self.prefix + "nesting deeper than 2 levels at byte 17 near '[]}}'")
        #expect(accepted(#"{"metadata":{"a":1}}"#, limits: limits) != nil)
    }

    @Test func veryDeepNestingDoesNotCrash() {
        let value = "{\"metadata\":" + String(repeating: "[{\"a\":", count: 150_000)
        #expect(
            refusal(value) == Self.prefix + #"nesting deeper than 64 levels at byte 199 near '{"a":[{"a":[{"a":[{"'"#
        )
        // A configured depth is capped (JSONValue's synthesized ==, hash and deinit recurse).
        var limits = APILimits()
        limits.maxNestingDepth = 1_000_000
        let deep =
            "{\"metadata\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(
            refusal(deep, limits: limits)
                == Self.prefix + "nesting deeper than 1024 levels at byte 1035 near '[[[[[[[[[[[[[[[[[[[['")
        #expect(APILimits.hardMaxNestingDepth == 1024)
    }
}
