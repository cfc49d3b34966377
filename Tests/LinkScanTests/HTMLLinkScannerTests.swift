import Testing

@testable import LinkScan

/// Golden-style checks of `HTMLLinkScanner.scan` on small inputs. Each expectation is the input
/// with tracked values shown as `«n»`, pixels as `⟦I⟧`/`⟦O⟧`, then one line per link (see
/// `Support.render(html:)`); compared byte for byte.
@Suite struct HTMLLinkScannerTests {
    func check(
        _ html: String, _ expected: String, limits: ScanLimits = ScanLimits(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        Support.expectBytes(Support.render(html: html, limits: limits), expected, sourceLocation: sourceLocation)
    }

    /// No link tracked, open pixel at the end, no initial pixel.
    func checkUntracked(_ html: String, sourceLocation: SourceLocation = #_sourceLocation) {
        check(html, html + "⟦O⟧", sourceLocation: sourceLocation)
    }

    // MARK: Quoting and attribute syntax

    @Test func doubleSingleAndUnquotedValues() {
        check(
            #"<a href="https://example.com/a">A</a>"#,
            "<a href=\"«1»\">A</a>⟦O⟧\n1 anchor \" name=Raw URL https://example.com/a")
        check(
            "<a href='http://example.com/'>B</a>",
            "<a href='«1»'>B</a>⟦O⟧\n1 anchor ' name=Raw URL http://example.com/")
        check(
            "<a href=https://example.com/x?y=1>C</a>",
            "<a href=«1»>C</a>⟦O⟧\n1 anchor - name=Raw URL https://example.com/x?y=1")
        check(
            "<a href=https://example.com/ class=btn>D</a>",
            "<a href=«1» class=btn>D</a>⟦O⟧\n1 anchor - name=Raw URL https://example.com/")
    }

    @Test func upperCaseSpacesAroundEqualsAndAttributesOverLines() {
        check(
            "<A\n  class=\"c\"\n  HREF = \"HTTPS://Example.com/Path\"\n>x</A>",
            "<A\n  class=\"c\"\n  HREF = \"«1»\"\n>x</A>⟦O⟧\n1 anchor \" name=Raw URL HTTPS://Example.com/Path")
        check(
            "<a href =\n'https://e.com/'>x</a>",
            "<a href =\n'«1»'>x</a>⟦O⟧\n1 anchor ' name=Raw URL https://e.com/")
        check(
            "<a href\t=\thttps://e.com/>x</a>",
            "<a href\t=\t«1»>x</a>⟦O⟧\n1 anchor - name=Raw URL https://e.com/")
    }

    @Test func firstDuplicateAttributeWins() {
        check(
            #"<a href="https://first.example/" href="https://second.example/">x</a>"#,
            "<a href=\"«1»\" href=\"https://second.example/\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://first.example/"
        )
        checkUntracked(#"<a href="mailto:x@y.example" href="https://second.example/">x</a>"#)
        checkUntracked(#"<a href href="https://second.example/">x</a>"#)
    }

    @Test func html5AttributeEdgeCases() {
        // Missing space after a quoted value, `/` between attributes: still attributes.
        check(
            #"<a class="x"href="https://e.com/1">x</a><a/href="https://e.com/2">y</a>"#,
            "<a class=\"x\"href=\"«1»\">x</a><a/href=\"«2»\">y</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/1"
                + "\n2 anchor \" name=Raw URL https://e.com/2")
        // `>` inside a quoted value of an earlier attribute does not end the tag.
        check(
            #"<a title="a > b" href="https://e.com/">x</a>"#,
            "<a title=\"a > b\" href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        // A `'` inside a double-quoted value and vice versa.
        check(
            #"<a title="it's" href='https://e.com/"q"'>x</a>"#,
            "<a title=\"it's\" href='«1»'>x</a>⟦O⟧\n1 anchor ' name=Raw URL https://e.com/\"q\"")
        // Not a href: data-href, xlink:href, hreflang, an attribute named `=href`.
        checkUntracked(#"<a data-href="https://e.com/">x</a>"#)
        checkUntracked(#"<a xlink:href="https://e.com/" hreflang="https://e.com/">x</a>"#)
        checkUntracked(#"<a =href="https://e.com/">x</a>"#)
        checkUntracked("<a href>x</a>")
        checkUntracked("<a href=>x</a>")
    }

    // MARK: Targets

    @Test func characterReferencesInTargets() {
        check(
            #"<a href="https://e.com/?a=1&amp;b=2&#38;c=3&#x26;d=4&AMP;e&#X26;f">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/?a=1&b=2&c=3&d=4&e&f")
        // Legacy names without `;` before `=` or an alphanumeric stay literal (HTML5 attribute rule).
        check(
            #"<a href="https://e.com/?a=1&copy=2&amp=3&lt5&ampx&not">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/?a=1&copy=2&amp=3&lt5&ampx¬")
        check(
            #"<a href="https://e.com/a&amp/b&sol;c&quest;d&equals;e&#z">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/a&/b/c?d=e&#z")
        check(
            #"<a href="&#104;ttps://e.com/&#x1F600;&#233">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/😀é")
        check(
            #"<a href="https&colon;//e.com/">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        // Unknown named reference, or numeric ones HTML5 would replace: never guess.
        checkUntracked(#"<a href="https://e.com/?x&hellip;">x</a>"#)
        checkUntracked(#"<a href="https://e.com/&#150;">x</a>"#)
        checkUntracked(#"<a href="https://e.com/&#0;">x</a>"#)
        checkUntracked(#"<a href="https://e.com/&#xD800;">x</a>"#)
        checkUntracked(#"<a href="https://e.com/&#x110000;">x</a>"#)
    }

    @Test func trimmingAndWhitespaceInsideTargets() {
        check(
            "<a href=\"  \n https://e.com/ \t\">x</a>",
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        check(
            "<a href=\"https://e.com/very\n\tlong\r\npath\">x</a>",
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/verylongpath")
        check(
            #"<a href="&#32;https://e.com/&#10;">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        checkUntracked("<a href=\"https://e.com/\u{1}x\">x</a>")
    }

    @Test func onlyAbsoluteHTTPWithHostIsTracked() {
        for value in [
            "mailto:someone@example.com", "tel:+15551234", "#top", "/relative/path", "page.html",
            "javascript:alert(1)", "data:text/html,hi", "//e.com/protocol-relative", "ftp://e.com/",
            "http:/e.com/", "https:e.com", "https://", "http://:80/", "http://user@/", "http:///x",
            "https://?q", "http://[]/", "{{unsubscribe_url}}", "", " ", "httpx://e.com/", "https//e.com",
        ] {
            checkUntracked("<a href=\"\(value)\">x</a>")
        }
        check(
            #"<a href="http://user:pw@h:8080/p">x</a><a href="https://[::1]/">y</a><a href="https://h#f">z</a>"#,
            "<a href=\"«1»\">x</a><a href=\"«2»\">y</a><a href=\"«3»\">z</a>⟦O⟧"
                + "\n1 anchor \" name=Raw URL http://user:pw@h:8080/p\n2 anchor \" name=Raw URL https://[::1]/"
                + "\n3 anchor \" name=Raw URL https://h#f")
    }

    @Test func templateSyntaxStillTracked() {
        check(
            #"<a href="https://x.com/{{id}}?u={{ user.email }}&amp;c=%%c%%">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://x.com/{{id}}?u={{ user.email }}&c=%%c%%")
    }

    @Test func targetMustBeValidUTF8() {
        let latin1: [UInt8] = Array(#"<a href="https://e.com/caf"#.utf8) + [0xE9] + Array(#"">x</a>"#.utf8)
        #expect(HTMLLinkScanner.scan(latin1).links.isEmpty)
        check(
            #"<a href="https://e.com/café">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/café")
        // A host cut by an invalid byte is not tracked, quoted or not (the HTML scanner reads the
        // whole attribute value, so there is no cut to make: the value is not UTF-8).
        for quote in ["\"", "'", ""] {
            let cut: [UInt8] = Array("<a href=\(quote)http://ex".utf8) + [0xFF] + Array("ample.com/\(quote)>x</a>".utf8)
            #expect(HTMLLinkScanner.scan(cut).links.isEmpty)
        }
        // Opaque high bytes elsewhere do not matter.
        let other: [UInt8] =
            Array(#"<p title=""#.utf8) + [0xFF, 0xFE] + Array(#""><a href="https://e.com/">x</a>"#.utf8)
        #expect(HTMLLinkScanner.scan(other).links.map(\.target) == ["https://e.com/"])
    }

    @Test func urlLengthLimit() {
        var limits = ScanLimits()
        limits.maxURLBytes = 20
        check(
            #"<a href="https://e.com/123456">x</a><a href="https://e.com/1234567">y</a>"#,
            "<a href=\"«1»\">x</a><a href=\"https://e.com/1234567\">y</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/123456",
            limits: limits)
        // The limit applies to the decoded target.
        check(
            #"<a href="https://e.com/12&amp;45">x</a>"#,
            "<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/12&45", limits: limits)
        let long = "https://e.com/" + String(repeating: "a", count: 4096 - 14)
        #expect(HTMLLinkScanner.scan(Array("<a href=\"\(long)\">".utf8)).links.count == 1)
        #expect(HTMLLinkScanner.scan(Array("<a href=\"\(long)b\">".utf8)).links.isEmpty)
    }

    @Test func linkCountLimitKeepsScanningForPixels() {
        var limits = ScanLimits()
        limits.maxLinks = 2
        check(
            #"<html><body><a href="https://e.com/1"><a href="https://e.com/2"><a href="https://e.com/3"></body>"#,
            "<html><body>⟦I⟧<a href=\"«1»\"><a href=\"«2»\"><a href=\"https://e.com/3\">⟦O⟧</body>"
                + "\n1 anchor \" name=Raw URL https://e.com/1\n2 anchor \" name=Raw URL https://e.com/2", limits: limits
        )
    }

    @Test func extremeLimitsDoNotTrap() {
        var limits = ScanLimits()
        limits.maxURLBytes = .max
        limits.maxLinks = .max
        limits.maxLinkNameBytes = .max
        check(
            #"<a href="https://e.com/" data-msys-linkname="n">x</a>"#,
            "<a href=\"«1»\" data-msys-linkname=\"n\">x</a>⟦O⟧\n1 anchor \" name=n https://e.com/", limits: limits)
        limits.maxURLBytes = .min
        limits.maxLinks = .min
        limits.maxLinkNameBytes = .min
        check(#"<a href="https://e.com/">x</a>"#, #"<a href="https://e.com/">x</a>⟦O⟧"#, limits: limits)
    }

    // MARK: Elements

    @Test func areaAndOtherElements() {
        check(
            #"<map name="m"><AREA shape="rect" coords="0,0,1,1" HREF="https://e.com/area"></map>"#,
            "<map name=\"m\"><AREA shape=\"rect\" coords=\"0,0,1,1\" HREF=\"«1»\"></map>⟦O⟧\n1 area \" name=Raw URL https://e.com/area"
        )
        checkUntracked(#"<link rel="stylesheet" href="https://e.com/s.css">"#)
        checkUntracked(#"<base href="https://e.com/">"#)
        checkUntracked(#"<img src="https://e.com/i.png" href="https://e.com/">"#)
        checkUntracked(#"<abbr href="https://e.com/">x</abbr><areas href="https://e.com/"><div href="https://e.com/">"#)
        checkUntracked(#"<v:oval href="https://e.com/"></v:oval><v:rectangle href="https://e.com/">"#)
    }

    @Test func rawTextElementsAreSkipped() {
        checkUntracked(#"<script>var s = '<a href="https://e.com/">';</script>"#)
        checkUntracked(#"<style>a { background: url(https://e.com/) } /* <a href="https://e.com/"> */</style>"#)
        checkUntracked(#"<textarea><a href="https://e.com/"></textarea><title><a href="https://e.com/"></title>"#)
        // End tags matched case-insensitively, with whitespace or `/` after the name; lookalikes do not end.
        check(
            #"<SCRIPT type="x">a</scriptx><a href="https://in.example/"></Script ><a href="https://out.example/">"#,
            "<SCRIPT type=\"x\">a</scriptx><a href=\"https://in.example/\"></Script ><a href=\"«1»\">⟦O⟧"
                + "\n1 anchor \" name=Raw URL https://out.example/")
        check(
            #"<style media="x">p{}</STYLE/><a href="https://after.example/">"#,
            "<style media=\"x\">p{}</STYLE/><a href=\"«1»\">⟦O⟧\n1 anchor \" name=Raw URL https://after.example/")
        // Unterminated raw text runs to the end of input.
        check(
            #"<a href="https://before.example/"><script>x <a href="https://e.com/">"#,
            "<a href=\"«1»\"><script>x <a href=\"https://e.com/\">⟦O⟧\n1 anchor \" name=Raw URL https://before.example/"
        )
        checkUntracked(#"<plaintext><a href="https://e.com/">"#)
    }

    @Test func commentsAndDeclarationsAreSkipped() {
        checkUntracked(#"<!-- <a href="https://e.com/"> -->"#)
        checkUntracked(#"<!-- a -- <a href="https://e.com/"> - -> --!> <!-- x --->"#)
        checkUntracked(#"<![CDATA[ <a href="https://e.com/"> ]]>"#)
        checkUntracked(
            #"<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">"#
        )
        checkUntracked(#"<?xml version="1.0" encoding="utf-8"?><!-- <v:roundrect href="https://e.com/"> -->"#)
        // Abrupt comments end at once; `--!>` ends a comment; what follows is markup.
        check(
            #"<!--><a href="https://e.com/1"><!---><a href="https://e.com/2"><!-- x --!><a href="https://e.com/3">"#,
            "<!--><a href=\"«1»\"><!---><a href=\"«2»\"><!-- x --!><a href=\"«3»\">⟦O⟧"
                + "\n1 anchor \" name=Raw URL https://e.com/1\n2 anchor \" name=Raw URL https://e.com/2"
                + "\n3 anchor \" name=Raw URL https://e.com/3")
        check(
            #"<!DOCTYPE html><!-- c --><a href="https://e.com/">x</a>"#,
            "<!DOCTYPE html><!-- c --><a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
    }

    // MARK: Outlook conditional comments

    @Test func vmlAndLinksInsideConditionalComments() {
        let html = """
            <!--[if mso]>
            <v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://e.com/button" style="height:40px"><w:anchorlock/><center>Go</center></v:roundrect>
            <![endif]-->
            <!--[if !mso]><!-- --><a href="https://e.com/button" data-msys-linkname="cta">Go</a><!--<![endif]-->
            <!--[if (gte mso 9)|(IE)]><V:RECT HREF='https://e.com/rect'></V:RECT><a href="https://e.com/in-mso">x</a><![endif]-->
            """
        let expected = """
            <!--[if mso]>
            <v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="«1»" style="height:40px"><w:anchorlock/><center>Go</center></v:roundrect>
            <![endif]-->
            <!--[if !mso]><!-- --><a href="«2»" data-msys-linkname="cta">Go</a><!--<![endif]-->
            <!--[if (gte mso 9)|(IE)]><V:RECT HREF='«3»'></V:RECT><a href="«4»">x</a><![endif]-->⟦O⟧
            1 vml " name=Raw URL https://e.com/button
            2 anchor " name=cta https://e.com/button
            3 vml ' name=Raw URL https://e.com/rect
            4 anchor " name=Raw URL https://e.com/in-mso
            """
        check(html, expected)
    }

    @Test func bareDownlevelRevealedConditionals() {
        check(
            #"<![if !mso]><a href="https://e.com/">x</a><![endif]>"#,
            "<![if !mso]><a href=\"«1»\">x</a><![endif]>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
    }

    @Test func lookalikeConditionalsAreOrdinaryComments() {
        checkUntracked(#"<!-- [if mso]> <a href="https://e.com/"> <![endif]-->"#)
        checkUntracked(#"<!--[iframe]> <a href="https://e.com/"> -->"#)
        // Not an opener (the first `>` is the comment's end): an ordinary comment, after which the
        // link is visible markup, as in a browser.
        check(
            #"<!--[if mso --> <a href="https://e.com/"> -->"#,
            "<!--[if mso --> <a href=\"«1»\"> -->⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        checkUntracked(#"<!--[if mso"#)
    }

    // MARK: data-msys-* attributes

    @Test func msysAttributes() {
        checkUntracked(#"<a href="https://e.com/" data-msys-clicktrack="0">x</a>"#)
        checkUntracked(#"<a DATA-MSYS-CLICKTRACK=' 0 ' href="https://e.com/">x</a>"#)
        checkUntracked(#"<v:roundrect data-msys-clicktrack=0 href="https://e.com/">"#)
        check(
            #"<a data-msys-clicktrack="1" href="https://e.com/">x</a>"#,
            "<a data-msys-clicktrack=\"1\" href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        check(
            #"<a href="https://e.com/u" data-msys-linkname="Footer unsubscribe" data-msys-unsubscribe="1" data-msys-sublink="p">x</a>"#,
            "<a href=\"«1»\" data-msys-linkname=\"Footer unsubscribe\" data-msys-unsubscribe=\"1\" data-msys-sublink=\"p\">x</a>⟦O⟧"
                + "\n1 anchor \" name=Footer unsubscribe unsub sublink=p https://e.com/u")
        check(
            #"<a href="https://e.com/" data-msys-linkname="Tom &amp; Jerry" data-msys-unsubscribe="true" data-msys-sublink="">x</a>"#,
            "<a href=\"«1»\" data-msys-linkname=\"Tom &amp; Jerry\" data-msys-unsubscribe=\"true\" data-msys-sublink=\"\">x</a>⟦O⟧"
                + "\n1 anchor \" name=Tom & Jerry https://e.com/")
        check(
            #"<a href="https://e.com/" data-msys-linkname="  ">x</a>"#,
            "<a href=\"«1»\" data-msys-linkname=\"  \">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
        // First occurrence wins for data-msys-* too.
        check(
            #"<a href="https://e.com/" data-msys-linkname="one" data-msys-linkname="two">x</a>"#,
            "<a href=\"«1»\" data-msys-linkname=\"one\" data-msys-linkname=\"two\">x</a>⟦O⟧"
                + "\n1 anchor \" name=one https://e.com/")
    }

    @Test func linkNameIsCutAt63BytesOnAScalarBoundary() {
        let name = String(repeating: "é", count: 32)  // 64 bytes
        let result = HTMLLinkScanner.scan(Array("<a href=\"https://e.com/\" data-msys-linkname=\"\(name)\">".utf8))
        #expect(result.links.map(\.name) == [String(repeating: "é", count: 31)])
        let ascii = String(repeating: "n", count: 70)
        let asciiResult = HTMLLinkScanner.scan(
            Array("<a href=\"https://e.com/\" data-msys-linkname=\"\(ascii)\">".utf8))
        #expect(asciiResult.links.map(\.name) == [String(repeating: "n", count: 63)])
    }

    // MARK: Pixels

    @Test func pixelsInAnOrdinaryDocument() {
        check(
            "<html><head></head><body><p>x</p></body></html>",
            "<html><head></head><body>⟦I⟧<p>x</p>⟦O⟧</body></html>")
    }

    @Test func pixelsWithUpperCaseAttributesAndSpaces() {
        check(
            ##"<HTML><BODY BGCOLOR="#fff" onload="a>b"><P>x</BODY ></HTML>"##,
            ##"<HTML><BODY BGCOLOR="#fff" onload="a>b">⟦I⟧<P>x⟦O⟧</BODY ></HTML>"##)
        check(
            "<html>\n<body\n  class='c'\n>\nx\n</body\n>\n</html>",
            "<html>\n<body\n  class='c'\n>⟦I⟧\nx\n⟦O⟧</body\n>\n</html>")
    }

    @Test func lastClosingBodyAndMissingOnes() {
        check("<html><body>a</body>b</body></html>", "<html><body>⟦I⟧a</body>b⟦O⟧</body></html>")
        check("<html><body>x", "<html><body>⟦I⟧x⟦O⟧")
        check("<body>x</body>", "<body>x⟦O⟧</body>")
        check("<html><p>x</p></html>", "<html><p>x</p></html>⟦O⟧")
        check("<html><body>x</body", "<html><body>⟦I⟧x</body⟦O⟧")
        check("<html><bodyx>x</bodyx>", "<html><bodyx>x</bodyx>⟦O⟧")
        check("", "⟦O⟧")
    }

    @Test func bodyInCommentsScriptsAndConditionalsDoesNotCount() {
        check(
            #"<!-- <html><body> --><html><body class="real">x<!-- </body> --></html>"#,
            #"<!-- <html><body> --><html><body class="real">⟦I⟧x<!-- </body> --></html>⟦O⟧"#)
        check(
            #"<html><script>document.write("<body>")</script><body>x<script>"</body>"</script>"#,
            #"<html><script>document.write("<body>")</script><body>⟦I⟧x<script>"</body>"</script>⟦O⟧"#)
        check(
            "<html><!--[if mso]><body class=\"mso\"><![endif]--><!--[if !mso]><!--><body><!--<![endif]-->x</body></html>",
            "<html><!--[if mso]><body class=\"mso\"><![endif]--><!--[if !mso]><!--><body>⟦I⟧<!--<![endif]-->x⟦O⟧</body></html>"
        )
        check("<!--[if mso]><html><![endif]--><body>x</body>", "<!--[if mso]><html><![endif]--><body>x⟦O⟧</body>")
        check(
            "<html><body>x</body><!--[if mso]></body><![endif]-->",
            "<html><body>⟦I⟧x⟦O⟧</body><!--[if mso]></body><![endif]-->")
        // Seen in real templates: a plain `[if mso]` block closed by `<!--<![endif]-->`.
        check(
            "<html><body>x<!--[if mso]>\n</td></tr></table>\n<!--<![endif]--></table>\n</body>\n</html>",
            "<html><body>⟦I⟧x<!--[if mso]>\n</td></tr></table>\n<!--<![endif]--></table>\n⟦O⟧</body>\n</html>")
        check(
            "<html><!--[if !mso]> <!--><body><!--<![endif]-->x</body>",
            "<html><!--[if !mso]> <!--><body>⟦I⟧<!--<![endif]-->x⟦O⟧</body>")
    }

    // MARK: Malformed input

    @Test func unterminatedConstructsStopTheScan() {
        checkUntracked(#"<a href="https://e.com/"#)
        checkUntracked(#"<a href='https://e.com/>x</a>"#)
        checkUntracked("<a href=https://e.com/")
        checkUntracked("<a href=\"https://e.com/\"")
        checkUntracked("<a href =")
        checkUntracked(#"<!-- <a href="https://e.com/">"#)
        checkUntracked(#"<![CDATA[ <a href="https://e.com/">"#)
        checkUntracked(#"<!DOCTYPE <a href="https://e.com/""#)
        check(
            #"<a href="https://ok.example/"><a href="https://e.com/"#,
            "<a href=\"«1»\"><a href=\"https://e.com/⟦O⟧\n1 anchor \" name=Raw URL https://ok.example/")
    }

    @Test func strayBytesAreText() {
        for html in [
            "<", "<<<<", "</", "<!", "<?", "</ >", "< a href=\"https://e.com/\">", "<1a href=\"https://e.com/\">",
            "<-->", "a < b > c", "<\0>", "</>",
        ] {
            checkUntracked(html)
        }
        check(
            #"<<a href="https://e.com/">x</a>"#,
            "<<a href=\"«1»\">x</a>⟦O⟧\n1 anchor \" name=Raw URL https://e.com/")
    }

    @Test func pathologicalInputsStayLinear() {
        // Each would be quadratic with a naive rescan; a megabyte must finish quickly even in debug.
        let size = 1 << 20
        let inputs: [[UInt8]] = [
            Array(String(repeating: "<a href=\"", count: size / 9).utf8),
            Array(String(repeating: "<!--", count: size / 4).utf8),
            Array(("<script>" + String(repeating: "</scrip", count: size / 7)).utf8),
            Array(String(repeating: "<a ", count: size / 3).utf8),
            Array(("<!--[if mso]>" + String(repeating: "<!--[if", count: size / 7)).utf8),
            Array(String(repeating: "<a href=https://e.com/ ", count: size / 24).utf8),
            Array(("<a " + String(repeating: "x=' ", count: size / 4)).utf8),
        ]
        let clock = ContinuousClock()
        for input in inputs {
            let elapsed = clock.measure { _ = HTMLLinkScanner.scan(input) }
            #expect(elapsed < .seconds(10), "\(input.prefix(12))… took \(elapsed)")
        }
    }
}
