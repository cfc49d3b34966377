import Testing

@testable import SMTPAPI

@Suite struct APIHeaderTests {
    // MARK: - Types

    @Test(arguments: [
        (#"{"campaign_id":1}"#, "X-MSYS-API 'campaign_id' must be of type 'string'"),
        (#"{"campaign_id":null}"#, "X-MSYS-API 'campaign_id' must be of type 'string'"),
        (#"{"campaign_id":["x"]}"#, "X-MSYS-API 'campaign_id' must be of type 'string'"),
        (#"{"metadata":[]}"#, "X-MSYS-API 'metadata' must be of type 'json object'"),
        (#"{"metadata":"{}"}"#, "X-MSYS-API 'metadata' must be of type 'json object'"),
        (#"{"metadata":null}"#, "X-MSYS-API 'metadata' must be of type 'json object'"),
        (#"{"tags":"cat"}"#, "X-MSYS-API 'tags' must be of type 'json array'"),
        (#"{"tags":{}}"#, "X-MSYS-API 'tags' must be of type 'json array'"),
        (#"{"tags":["cat",1]}"#, "X-MSYS-API 'tags' items must be of type 'string'"),
        (#"{"tags":[null]}"#, "X-MSYS-API 'tags' items must be of type 'string'"),
        (#"{"cc":"a@b.example"}"#, "X-MSYS-API 'cc' must be of type 'json array'"),
        (#"{"bcc":{"email":"a@b.example"}}"#, "X-MSYS-API 'bcc' must be of type 'json array'"),
        (#"{"archive":null}"#, "X-MSYS-API 'archive' must be of type 'json array'"),
        (#"{"cc":[1]}"#, "X-MSYS-API 'cc' items must be of type 'string' or 'json object'"),
        (#"{"bcc":[["a@b.example"]]}"#, "X-MSYS-API 'bcc' items must be of type 'string' or 'json object'"),
        (#"{"archive":[null]}"#, "X-MSYS-API 'archive' items must be of type 'string' or 'json object'"),
        (#"{"cc":[{"name":"CC 1"}]}"#, "X-MSYS-API 'cc' item is missing 'email'"),
        (#"{"bcc":[{}]}"#, "X-MSYS-API 'bcc' item is missing 'email'"),
        (#"{"archive":[{"Email":"a@b.example"}]}"#, "X-MSYS-API 'archive' item is missing 'email'"),
        (#"{"cc":[{"email":1}]}"#, "X-MSYS-API 'cc.email' must be of type 'string'"),
        (#"{"cc":[{"email":"a@b.example","name":null}]}"#, "X-MSYS-API 'cc.name' must be of type 'string'"),
        (#"{"options":[]}"#, "X-MSYS-API 'options' must be of type 'json object'"),
        (#"{"options":null}"#, "X-MSYS-API 'options' must be of type 'json object'"),
        (#"{"options":{"open_tracking":"false"}}"#, "X-MSYS-API 'options.open_tracking' must be of type 'boolean'"),
        (#"{"options":{"click_tracking":0}}"#, "X-MSYS-API 'options.click_tracking' must be of type 'boolean'"),
        (#"{"options":{"transactional":null}}"#, "X-MSYS-API 'options.transactional' must be of type 'boolean'"),
        (#"{"options":{"sandbox":"true"}}"#, "X-MSYS-API 'options.sandbox' must be of type 'boolean'"),
        (#"{"options":{"skip_suppression":1}}"#, "X-MSYS-API 'options.skip_suppression' must be of type 'boolean'"),
        (#"{"options":{"inline_css":[]}}"#, "X-MSYS-API 'options.inline_css' must be of type 'boolean'"),
        (#"{"options":{"ip_pool":true}}"#, "X-MSYS-API 'options.ip_pool' must be of type 'string'"),
    ])
    func typeRules(input: String, text: String) {
        #expect(refusal(input) == "550 5.6.0 " + text)
    }

    @Test func firstProblemInDocumentOrderIsReported() {
        #expect(
            refusal(#"{"options":{"sandbox":1},"metadata":2}"#)
                == "550 5.6.0 X-MSYS-API 'options.sandbox' must be of type 'boolean'")
        #expect(
            refusal(#"{"metadata":2,"options":{"sandbox":1}}"#)
                == "550 5.6.0 X-MSYS-API 'metadata' must be of type 'json object'")
    }

    // MARK: - Values

    @Test func allFieldsAreRead() {
        let header = accepted(
            #"""
            {"campaign_id":"spring","metadata":{"b":[1,{"c":null}],"a":"x"},"tags":["t1","t2"],
            "cc":["cc@example.com",{"email":"cc2@example.com","name":"Two","other":1}],
            "bcc":[{"email":"bcc@example.com"}],"archive":["arch@example.com"],
            "options":{"open_tracking":true,"click_tracking":false,"transactional":true,"sandbox":false,
            "skip_suppression":true,"inline_css":true,"ip_pool":"pool-1","future_option":{"x":1}},
            "substitution_data":{"name":"ignored","deep":[[[]]]},"unknown":[1,2,3]}
            """#)
        var expected = APIHeader()
        expected.campaignID = "spring"
        expected.metadata = [
            JSONMember(key: "b", value: .array([.number("1"), .object([JSONMember(key: "c", value: .null)])])),
            JSONMember(key: "a", value: .string("x")),
        ]
        expected.tags = ["t1", "t2"]
        expected.cc = [APIRecipient(email: "cc@example.com"), APIRecipient(email: "cc2@example.com", name: "Two")]
        expected.bcc = [APIRecipient(email: "bcc@example.com")]
        expected.archive = [APIRecipient(email: "arch@example.com")]
        expected.options.openTracking = true
        expected.options.clickTracking = false
        expected.options.transactional = true
        expected.options.sandbox = false
        expected.options.skipSuppression = true
        expected.options.inlineCSS = true
        expected.options.ipPool = "pool-1"
        #expect(header == expected)
    }

    @Test func emptyObjectMeansDefaults() {
        #expect(accepted("{}") == APIHeader())
        #expect(accepted(" { } ") == APIHeader())
        #expect(accepted(#"{"options":{}}"#) == APIHeader())
    }

    @Test func substitutionDataAndUnknownFieldsAreIgnoredButMustBeValidJSON() {
        #expect(accepted(#"{"substitution_data":null,"Campaign_ID":7,"x":[{}]}"#) == APIHeader())
        #expect(
            refusal(#"{"substitution_data":{"a":1,}}"#)
                == "550 5.6.0 JSON parsing error in X-MSYS-API: trailing comma before '}' at byte 27 near ',}}'")
    }

    @Test func campaignIDLimitIsInUTF8BytesAfterDecoding() {
        let tooLong = "550 5.6.0 smtpapi_campaign_id context is limited to 64 bytes"
        #expect(accepted("{\"campaign_id\":\"\(String(repeating: "a", count: 64))\"}")?.campaignID?.count == 64)
        #expect(refusal("{\"campaign_id\":\"\(String(repeating: "a", count: 65))\"}") == tooLong)
        #expect(accepted("{\"campaign_id\":\"\(String(repeating: "é", count: 32))\"}") != nil)
        #expect(refusal("{\"campaign_id\":\"\(String(repeating: "é", count: 32))a\"}") == tooLong)
        // \u escapes count as the UTF-8 they stand for: 22 × 3 bytes = 66.
        #expect(refusal("{\"campaign_id\":\"\(String(repeating: "\\u20ac", count: 22))\"}") == tooLong)
        // The encoded-word is 100 bytes long but decodes to 64.
        let word = "=?UTF-8?B?" + "YWFh" * 21 + "YQ==" + "?="
        #expect(accepted("{\"campaign_id\":\"\(word)\"}")?.campaignID == String(repeating: "a", count: 64))
        var limits = APILimits()
        limits.maxCampaignIDBytes = 3
        #expect(
            refusal(#"{"campaign_id":"abcd"}"#, limits: limits)
                == "550 5.6.0 smtpapi_campaign_id context is limited to 3 bytes")
    }

    @Test func extraTagsAreIgnored() {
        let tags = (1...12).map { "\"t\($0)\"" }.joined(separator: ",")
        #expect(accepted("{\"tags\":[\(tags)]}")?.tags == (1...10).map { "t\($0)" })
        #expect(accepted(#"{"tags":[]}"#)?.tags == [])
        // Items past the tenth must still be strings.
        let badTail = (1...11).map { "\"t\($0)\"" }.joined(separator: ",") + ",11"
        #expect(refusal("{\"tags\":[\(badTail)]}") == "550 5.6.0 X-MSYS-API 'tags' items must be of type 'string'")
    }

    @Test func recipientsAreTrimmedAndChecked() {
        let header = accepted(
            #"{"cc":["  a@example.com\t",{"email":" b@example.com ","name":"  Bee  "},{"email":"c@example.com","name":"   "}]}"#
        )
        #expect(
            header?.cc == [
                APIRecipient(email: "a@example.com"), APIRecipient(email: "b@example.com", name: "Bee"),
                APIRecipient(email: "c@example.com", name: nil),
            ])
        #expect(
            refusal(#"{"cc":["not-an-address"]}"#)
                == "550 5.6.0 X-MSYS-API 'cc' contains an invalid address 'not-an-address'")
        #expect(refusal(#"{"bcc":[{"email":"  "}]}"#) == "550 5.6.0 X-MSYS-API 'bcc' contains an invalid address ''")
        #expect(refusal(#"{"archive":[""]}"#) == "550 5.6.0 X-MSYS-API 'archive' contains an invalid address ''")
        #expect(
            refusal(#"{"cc":["Name <a@example.com>"]}"#)
                == "550 5.6.0 X-MSYS-API 'cc' contains an invalid address 'Name <a@example.com>'")
    }

    @Test func namesAndIPPoolMustNotCarryControlCharacters() {
        #expect(
            refusal(#"{"bcc":[{"email":"a@example.com","name":"Eve\r\nBcc: x@evil.example"}]}"#)
                == "550 5.6.0 X-MSYS-API 'bcc' contains an invalid name 'Eve??Bcc: x@evil.example'")
        #expect(
            refusal(#"{"cc":[{"email":"a@example.com","name":"a\tb"}]}"#)
                == "550 5.6.0 X-MSYS-API 'cc' contains an invalid name 'a?b'")
        #expect(
            refusal(#"{"options":{"ip_pool":"pool\n"}}"#)
                == "550 5.6.0 X-MSYS-API 'options.ip_pool' must not contain control characters")
        #expect(
            refusal(#"{"options":{"ip_pool":"p\u0085"}}"#)
                == "550 5.6.0 X-MSYS-API 'options.ip_pool' must not contain control characters")
        // Surrounding whitespace (CR/LF included) is trimmed first, and is fine.
        #expect(accepted(#"{"cc":[{"email":"a@example.com","name":"\r\n Ann \t"}]}"#)?.cc.first?.name == "Ann")
    }

    @Test func atMost1000RecipientsAcrossTheLists() {
        func list(_ count: Int, _ prefix: String) -> String {
            (0..<count).map { "\"\(prefix)\($0)@example.com\"" }.joined(separator: ",")
        }
        let thousand = "{\"cc\":[\(list(400, "c"))],\"bcc\":[\(list(300, "b"))],\"archive\":[\(list(300, "a"))]}"
        let header = accepted(thousand)
        #expect(header?.cc.count == 400)
        #expect(header?.bcc.count == 300)
        #expect(header?.archive.count == 300)
        let oneMore = "{\"cc\":[\(list(400, "c"))],\"bcc\":[\(list(301, "b"))],\"archive\":[\(list(300, "a"))]}"
        #expect(refusal(oneMore) == "550 5.6.0 X-MSYS-API cc, bcc and archive may list at most 1000 recipients")
        #expect(
            refusal("{\"cc\":[\(list(1001, "c"))]}")
                == "550 5.6.0 X-MSYS-API cc, bcc and archive may list at most 1000 recipients")
    }

    // MARK: - Folding

    @Test func foldsAreUnfolded() {
        // CRLF folds, bare LF folds, tab folds; each becomes one space (JSON whitespace here).
        #expect(
            accepted("{\"options\":\r\n {\"open_tracking\":\n\tfalse},\r\n\t\"tags\":[\"a\",\r\n  \"b\"]}")?.tags == [
                "a", "b",
            ])
        // A fold inside a string leaves one space in the string (docs/SPEC.md §2.2, the reference's
        // `my_awes ome_campaign`): the sender's problem.
        #expect(
            accepted("{\"options\" : {\"open_tracking\" : false }, \"campaign_id\" : \"my_awes\r\n   ome_campaign\" }")?
                .campaignID == "my_awes ome_campaign")
        #expect(accepted("{\"campaign_id\":\"my_awes\n ome_campaign\"}")?.campaignID == "my_awes ome_campaign")
        // The fold's tab becomes that space too; a tab before the line break stays, and is a
        // control character in a string.
        #expect(accepted("{\"campaign_id\":\"ab\r\n\t \tcd\"}")?.campaignID == "ab cd")
        #expect(
            refusal("{\"campaign_id\":\"ab\t\r\n cd\"}")
                == "550 5.6.0 JSON parsing error in X-MSYS-API: unescaped control character U+0009 in string at byte 18 near '? cd\"}'"
        )
        // Offsets count in the unfolded value, from its first non-blank byte.
        #expect(
            refusal(" \r\n {\"a\":\r\n 1,}")
                == "550 5.6.0 JSON parsing error in X-MSYS-API: trailing comma before '}' at byte 7 near ',}'")
    }

    @Test func aFoldedSixtyThreeByteCampaignIDFitsTheLimit() {
        // 63 bytes once the fold is one space; keeping the fold's three blanks made it 65 and
        // over the 64-byte limit.
        let half = String(repeating: "a", count: 31)
        let id = accepted("{\"campaign_id\":\"\(half)\r\n   \(half)\"}")?.campaignID
        #expect(id == half + " " + half)
        #expect(id?.utf8.count == 63)
        // Two folds in a row are two spaces.
        #expect(accepted("{\"campaign_id\":\"a\r\n \r\n\tb\"}")?.campaignID == "a  b")
    }

    @Test func aValueSliceIsReadInPlace() {
        let message = Array("X-MSYS-API: {\"campaign_id\":\"c\"}\r\nSubject: x\r\n".utf8)
        let start = 11
        let end = message.firstIndex(of: UInt8(ascii: "\r")) ?? message.count
        var header: APIHeader?
        do throws(SMTPReply) {
            header = try APIHeader.parse(message[start..<end])
        } catch {
            Issue.record("refused: \(error)")
        }
        #expect(header?.campaignID == "c")
    }

    // MARK: - Size

    @Test func oneMebibyteValue() {
        let limit = 1 << 20
        func value(totalBytes: Int) -> String {
            let frame = #"{"metadata":{"blob":""}}"#
            return #"{"metadata":{"blob":""# + String(repeating: "x", count: totalBytes - frame.utf8.count) + #""}}"#
        }
        let exact = value(totalBytes: limit)
        #expect(exact.utf8.count == limit)
        #expect(accepted(exact)?.metadata?.first?.key == "blob")
        #expect(
            refusal(value(totalBytes: limit + 1)) == "550 5.6.0 X-MSYS-API header value is larger than 1048576 bytes")
        // The limit applies after unfolding and trimming.
        #expect(accepted("  " + exact + " \r\n ") != nil)
        // A big value with many members and recipients parses quickly enough to stay in a test.
        let members = (0..<20_000).map { "\"k\($0)\":[\($0),true,null,\"v\"]" }.joined(separator: ",")
        #expect(accepted("{\"metadata\":{\(members)}}")?.metadata?.count == 20_000)
    }

    // MARK: - Tracking events

    @Test func metadataForTrackingEvents() {
        #expect(APIHeader().metadataForTrackingEvents() == nil)
        let small = accepted(#"{"metadata" : { "b" : 1, "a" : [ true , "é\n" ] }}"#)
        #expect(small?.metadataForTrackingEvents() == #"{"b":1,"a":[true,"é\n"]}"#)
        func header(serializedBytes: Int) -> APIHeader? {
            let frame = #"{"k":""}"#.utf8.count
            return accepted("{\"metadata\":{\"k\":\"\(String(repeating: "y", count: serializedBytes - frame))\"}}")
        }
        #expect(header(serializedBytes: 1000)?.metadataForTrackingEvents()?.utf8.count == 1000)
        #expect(header(serializedBytes: 1001).map { $0.metadataForTrackingEvents() == nil } == true)
        var limits = APILimits()
        limits.maxMetadataBytesInTrackingEvents = 1001
        #expect(header(serializedBytes: 1001)?.metadataForTrackingEvents(limits: limits)?.utf8.count == 1001)
    }
}

private func * (text: String, count: Int) -> String { String(repeating: text, count: count) }
