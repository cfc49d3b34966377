import Testing

@testable import MIME

@Suite struct ContentTypeTests {
    private func ct(_ s: String) -> ContentType? { ContentType.parse(bytes(s)[...]) }

    @Test func basicAndCase() throws {
        let t = try #require(ct(" Text/HTML; Charset=\"UTF-8\"; format=flowed"))
        #expect(t.type == "text" && t.subtype == "html")
        #expect(t.charset == "utf-8")
        #expect(t.parameter("format") == "flowed")
        #expect(t.parameters == [.init(name: "charset", value: "UTF-8"), .init(name: "format", value: "flowed")])
    }

    @Test func foldsCommentsAndQuoting() throws {
        let t = try #require(ct("multipart/mixed (a comment (nested));\r\n\tboundary=\"a \\\"b\\\" ;c\" (x)"))
        #expect(t.mimeType == "multipart/mixed")
        #expect(t.boundary == "a \"b\" ;c")
        let u = try #require(ct("text/plain; charset=us-ascii (Plain text)"))
        #expect(u.charset == "us-ascii")
    }

    @Test func boundaryCaseKeptAndUnquotedSpecials() throws {
        let t = try #require(ct("multipart/alternative; boundary=----=_Part_0_AbC.123"))
        #expect(t.boundary == "----=_Part_0_AbC.123")
        let n = try #require(ct("application/octet-stream; name=file(1).txt"))
        #expect(n.parameter("name") == "file(1).txt")
    }

    @Test func rfc2231() throws {
        let t = try #require(
            ct(
                "application/pdf; name*0*=UTF-8''r%C3%A9; name*1=\"sum\"; name*2*=%C3%A9.pdf; title*=iso-8859-1'fr'caf%E9"
            ))
        #expect(t.parameter("name") == "résumé.pdf")
        #expect(t.parameter("title") == "café")
        // Sections out of order and an extended value winning over a plain one.
        let u = try #require(ct("x/y; a*1=\"B\"; a*0=\"A\"; n=\"plain\"; n*=utf-8''ext"))
        #expect(u.parameter("a") == "AB")
        #expect(u.parameter("n") == "ext")
    }

    @Test func duplicatesFirstWinsAndGarbage() throws {
        let t = try #require(ct("text/plain; charset=utf-8; charset=latin1; ;; junk; =x; q=\"unterminated"))
        #expect(t.charset == "utf-8")
        #expect(t.parameter("q") == "unterminated")
    }

    @Test func missingSemicolon() throws {
        let t = try #require(ct("multipart/mixed\r\n\tboundary=\"boundary\""))
        #expect(t.boundary == "boundary")
        let u = try #require(ct("text/html charset=utf-8 ; name = x y; =z; w"))
        #expect(u.parameters == [.init(name: "charset", value: "utf-8"), .init(name: "name", value: "x")])
    }

    /// Thousands of distinct parameters (hostile) stay linear and keep first-wins semantics.
    @Test(.timeLimit(.minutes(1))) func manyParameters() throws {
        var value = "text/plain"
        for k in 0..<100_000 { value += "; p\(k)=\(k)" }
        value += "; p7=dup; charset=utf-8"
        let t = try #require(ct(value))
        #expect(t.parameters.count == 100_001)
        #expect(t.parameter("p7") == "7")
        #expect(t.parameter("p99999") == "99999")
        #expect(t.charset == "utf-8")
    }

    @Test func invalid() {
        #expect(ct("") == nil)
        #expect(ct("text") == nil)
        #expect(ct("text/") == nil)
        #expect(ct("/html") == nil)
    }

    @Test func disposition() throws {
        let d = try #require(ContentDisposition.parse(bytes("ATTACHMENT;\n filename=\"a b.txt\"")[...]))
        #expect(d.type == "attachment")
        #expect(d.parameter("filename") == "a b.txt")
        #expect(ContentDisposition.parse(bytes(" ; x=1")[...]) == nil)
    }

    @Test func transferEncoding() {
        func te(_ s: String) -> TransferEncoding { TransferEncoding.parse(bytes(s)[...]) }
        #expect(te(" Quoted-Printable ") == .quotedPrintable)
        #expect(te("BASE64") == .base64)
        #expect(te("7bit") == .sevenBit)
        #expect(te("8BIT") == .eightBit)
        #expect(te("binary") == .binary)
        #expect(te("") == .sevenBit)
        #expect(te("x-uuencode") == .other("x-uuencode"))
        #expect(te("base64 (comment)") == .base64)
    }
}
