import Testing

@testable import SMTPAPI

@Suite struct SMTPReplyTests {
    @Test func permanentAndTemporaryFactories() {
        let permanent = SMTPReply.permanent("X-MSYS-API 'metadata' must be of type 'json object'")
        #expect(permanent.code == 550)
        #expect(permanent.enhancedStatus == "5.6.0")
        #expect(permanent.isPermanent)
        #expect(permanent.description == "550 5.6.0 X-MSYS-API 'metadata' must be of type 'json object'")
        let temporary = SMTPReply.temporary("try later")
        #expect(temporary == SMTPReply(code: 421, enhancedStatus: "4.3.3", text: "try later"))
        #expect(!temporary.isPermanent)
    }

    @Test func fixedReplies() {
        #expect(
            SMTPReply.uniqueIDFailure.description
                == "421 4.3.3 [internal] smtpapi unable to generate unique transmission id")
        #expect(!SMTPReply.uniqueIDFailure.isPermanent)
        #expect(SMTPReply.duplicateHeader.description == "550 5.6.0 X-MSYS-API header must appear at most once")
    }

    @Test func senderTextInRepliesIsOneASCIILine() {
        // An address with CR LF (via JSON escapes) and non-ASCII must not break the reply line.
        #expect(
            refusal(#"{"cc":["a\r\nRCPT TO:<x>@é"]}"#)
                == "550 5.6.0 X-MSYS-API 'cc' contains an invalid address 'a??RCPT TO:<x>@?'")
        #expect(
            refusal(#"{"k\r\n":1,"k\r\n":2}"#)
                == #"550 5.6.0 JSON parsing error in X-MSYS-API: duplicate key 'k??' at byte 11 near '"k\r\n":2}'"#)
        let long = String(repeating: "x", count: 300)
        #expect(
            refusal("{\"bcc\":[\"\(long)\"]}")
                == "550 5.6.0 X-MSYS-API 'bcc' contains an invalid address '\(String(repeating: "x", count: 100))...'")
    }
}
