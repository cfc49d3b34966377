import Testing

@testable import SMTPAPI

/// RFC 2047 encoded-words: whole values and string values (keys included).
@Suite struct EncodedWordsTests {
    func campaignID(_ encoded: String) -> String? {
        accepted("{\"campaign_id\":\"\(encoded)\"}")?.campaignID
    }

    @Test(arguments: [
        ("=?UTF-8?Q?caf=C3=A9?=", "café"),
        ("=?utf-8?q?caf=c3=a9?=", "café"),  // lower-case charset, encoding and hex
        ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
        ("=?UTF-8?b?Y2Fmw6k?=", "café"),  // padding omitted
        ("=?UTF-8?Q?caf=C3=A9_cr=C3=A8me?=", "café crème"),  // "_" is a space
        ("=?UTF-8?Q?caf?= =?UTF-8?Q?=C3=A9?=", "café"),  // whitespace between words dropped
        ("=?UTF-8?Q?caf?=\\t \\r\\n =?UTF-8?B?w6k=?=", "café"),  // JSON-escaped whitespace
        ("=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?=", "café"),  // a character split across two words
        ("=?ISO-8859-1?Q?caf=E9?=", "café"),
        ("=?iso-8859-1?b?Y2Fm6Q==?=", "café"),
        ("=?latin1?Q?=C9t=E9?=", "Été"),
        ("=?windows-1252?Q?=80_5?=", "€ 5"),
        ("=?ISO-8859-1?Q?=93quoted=94?=", "\u{201C}quoted\u{201D}"),  // WHATWG: Latin-1 is read as 1252
        ("=?US-ASCII?Q?plain?=", "plain"),
        ("=?UTF-8*fr?Q?caf=C3=A9?=", "café"),  // RFC 2231 language tag
        ("=?ISO-8859-1?Q?caf=E9?= =?UTF-8?Q?_=E2=82=AC?=", "café €"),  // charsets mixed
    ])
    func decodedInsideStrings(encoded: String, decoded: String) {
        #expect(campaignID(encoded) == decoded)
    }

    @Test(arguments: [
        "=?KOI8-R?Q?abc?=",  // charset we do not decode
        "=?UTF-8?X?abc?=",  // unknown encoding
        "=?UTF-8?Q?caf=C?=",  // truncated hex
        "=?UTF-8?Q?caf=G1?=",  // not hex
        "=?UTF-8?B?Y2Fm*w6k=?=",  // not base64
        "=?UTF-8?B?Y?=",  // 6 dangling bits
        "=?UTF-8?Q?=FF?=",  // not UTF-8
        "=?US-ASCII?Q?=E9?=",  // not ASCII
        "=?UTF-8?Q?abc",  // unterminated
        "=?UTF-8?Q?abc?=x",  // text glued to the word
        "Hello =?UTF-8?Q?caf=C3=A9?=",  // not only encoded-words
        "=?UTF-8?Q?a?= b",
        " =?UTF-8?Q?a?=",  // whitespace is dropped only between words
        "=?UTF-8?Q?a?= ",
        "=??Q?abc?=",  // empty charset
    ])
    func undecodableTextIsKeptAsIs(encoded: String) {
        #expect(campaignID(encoded) == encoded)
    }

    @Test func keysNamesAndNestedStringsAreDecoded() {
        let header = accepted(
            #"""
            {"=?UTF-8?Q?campaign=5Fid?=":"x","cc":[{"email":"=?UTF-8?Q?ren=C3=A9=40example=2Ecom?=",
            "name":"=?UTF-8?Q?Ren=C3=A9?="}],"tags":["=?UTF-8?B?8J+YgA==?="],
            "metadata":{"=?UTF-8?Q?cl=C3=A9?=":["=?ISO-8859-1?Q?=E0?="]},"options":{"ip_pool":"=?UTF-8?Q?p=C3=B6ol?="}}
            """#)
        #expect(header?.campaignID == "x")
        #expect(header?.cc == [APIRecipient(email: "rené@example.com", name: "René")])
        #expect(header?.tags == ["😀"])
        #expect(header?.metadata == [JSONMember(key: "clé", value: .array([.string("à")]))])
        #expect(header?.options.ipPool == "pöol")
    }

    @Test func wholeValueQ() {
        let header = accepted("=?UTF-8?Q?{\"campaign=5Fid\":\"caf=C3=A9\",\"tags\":[\"a\"]}?=")
        #expect(header?.campaignID == "café")
        #expect(header?.tags == ["a"])
    }

    @Test func wholeValueBFoldedOverTwoWords() {
        // {"campaign_id":"café","options":{"open_tracking":true}} in two B words, CRLF-folded.
        let value =
            " =?UTF-8?B?eyJjYW1wYWlnbl9pZCI6ImNhZsOpIiwib3B0aW9ucyI6?=\r\n =?UTF-8?B?eyJvcGVuX3RyYWNraW5nIjp0cnVlfX0=?="
        let header = accepted(value)
        #expect(header?.campaignID == "café")
        #expect(header?.options.openTracking == true)
    }

    @Test func wholeValueLatin1() {
        // {"campaign_id":"Été"} in ISO-8859-1.
        #expect(accepted("=?ISO-8859-1?Q?=7B=22campaign=5Fid=22=3A=22=C9t=E9=22=7D?=")?.campaignID == "Été")
    }

    @Test func wholeValueDecodedJSONErrorsPointIntoTheDecodedText() {
        // {"a":1,} — offsets refer to the decoded value.
        #expect(
            refusal("=?UTF-8?B?eyJhIjoxLH0=?=")
                == "550 5.6.0 JSON parsing error in X-MSYS-API: trailing comma before '}' at byte 6 near ',}'")
    }

    @Test func undecodableWholeValueIsParsedRawAndRefused() {
        #expect(
            refusal("=?KOI8-R?Q?{}?=")
                == "550 5.6.0 JSON parsing error in X-MSYS-API: unexpected character '=', expected a JSON value at byte 0 near '=?KOI8-R?Q?{}?='"
        )
    }

    @Test func theValueLimitAlsoAppliesToTheDecodedValue() {
        // "gICA" is 3 bytes 0x80, three "€" of 3 UTF-8 bytes each: 39 bytes decode to 45.
        var limits = APILimits()
        limits.maxValueBytes = 40
        let euros = "=?windows-1252?B?" + String(repeating: "gICA", count: 5) + "?="
        #expect(euros.utf8.count == 39)
        #expect(
            refusal(euros, limits: limits) == "550 5.6.0 X-MSYS-API header value is larger than 40 bytes")
    }

    @Test func decodingHappensBeforeTheCampaignLimit() {
        // 30 × "é" written as Q is 180 bytes of encoded text but 60 bytes of UTF-8.
        let encoded = "=?UTF-8?Q?" + String(repeating: "=C3=A9", count: 30) + "?="
        #expect(campaignID(encoded) == String(repeating: "é", count: 30))
        let tooLong = "=?UTF-8?Q?" + String(repeating: "=C3=A9", count: 33) + "?="
        #expect(
            refusal("{\"campaign_id\":\"\(tooLong)\"}")
                == "550 5.6.0 smtpapi_campaign_id context is limited to 64 bytes")
    }
}
