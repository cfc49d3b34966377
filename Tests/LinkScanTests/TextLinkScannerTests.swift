import Testing

@testable import LinkScan

/// Golden-style checks of `TextLinkScanner.scan`. Each expectation is the input with links shown
/// as `«n»` and removed annotations as `⌫`, then one line per link; compared byte for byte.
@Suite struct TextLinkScannerTests {
    func check(
        _ text: String, _ expected: String, limits: ScanLimits = ScanLimits(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        Support.expectBytes(Support.render(text: text, limits: limits), expected, sourceLocation: sourceLocation)
    }

    func checkUnchanged(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        check(text, text, sourceLocation: sourceLocation)
    }

    @Test func plainURL() {
        check(
            "See https://example.com/path?q=1&r=a,b@c for more.",
            "See «1» for more.\n1 text - name=Raw URL https://example.com/path?q=1&r=a,b@c")
        check("https://e.com/start x", "«1» x\n1 text - name=Raw URL https://e.com/start")
        check(
            "HTTPS://E.COM/ Http://e.com/",
            "«1» «2»\n1 text - name=Raw URL HTTPS://E.COM/\n2 text - name=Raw URL Http://e.com/")
    }

    @Test func parenthesesAndBrackets() {
        check(
            "(https://e.com/a) and (https://en.wikipedia.org/wiki/Foo_(bar)) and https://e.com/b).",
            "(«1») and («2») and «3»).\n1 text - name=Raw URL https://e.com/a"
                + "\n2 text - name=Raw URL https://en.wikipedia.org/wiki/Foo_(bar)\n3 text - name=Raw URL https://e.com/b"
        )
        check(
            "[https://e.com/s] http://[::1]:8080/t; [link](https://e.com/md)",
            "[«1»] «2»; [link](«3»)\n1 text - name=Raw URL https://e.com/s\n2 text - name=Raw URL http://[::1]:8080/t"
                + "\n3 text - name=Raw URL https://e.com/md")
    }

    @Test func angleBracketsKeepEverythingInside() {
        check(
            "<https://e.com/a.> <http://e.com/b>, <https://e.com/c",
            "<«1»> <«2»>, <«3»\n1 text - name=Raw URL https://e.com/a.\n2 text - name=Raw URL http://e.com/b"
                + "\n3 text - name=Raw URL https://e.com/c")
    }

    @Test func trailingPunctuationIsExcluded() {
        check(
            "Go to https://e.com/x., now! 'https://e.com/q' \"https://e.com/r?a=1\"",
            "Go to «1»., now! '«2»' \"«3»\"\n1 text - name=Raw URL https://e.com/x\n2 text - name=Raw URL https://e.com/q"
                + "\n3 text - name=Raw URL https://e.com/r?a=1")
        check(
            "https://e.com/a; https://e.com/b: https://e.com/c! https://e.com/d? https://e.com/e...",
            "«1»; «2»: «3»! «4»? «5»...\n1 text - name=Raw URL https://e.com/a\n2 text - name=Raw URL https://e.com/b"
                + "\n3 text - name=Raw URL https://e.com/c\n4 text - name=Raw URL https://e.com/d"
                + "\n5 text - name=Raw URL https://e.com/e")
    }

    @Test func boundaries() {
        check(
            "xhttps://e.com/ 1http://e.com/ foo:https://e.com/a\thttps://e.com/b",
            "xhttps://e.com/ 1http://e.com/ foo:«1»\t«2»\n1 text - name=Raw URL https://e.com/a"
                + "\n2 text - name=Raw URL https://e.com/b")
        check(
            "a https://e.com/x\r\nhttps://e.com/y\r\n",
            "a «1»\r\n«2»\r\n\n1 text - name=Raw URL https://e.com/x\n2 text - name=Raw URL https://e.com/y")
        check(
            "https://e.com/caf\u{E9} https://e.com/a<b>",
            "«1»\u{E9} «2»<b>\n1 text - name=Raw URL https://e.com/caf\n2 text - name=Raw URL https://e.com/a")
    }

    /// URLs are found from their `://`: colons that start none, and URLs holding colons.
    @Test func colonsThatStartNoURL() {
        check(
            "at 10:30: http:/x.example http:x https:// e http://e.com/a:b//c :// hhttp://e.com/ https://e.com/",
            "at 10:30: http:/x.example http:x https:// e «1» :// hhttp://e.com/ «2»"
                + "\n1 text - name=Raw URL http://e.com/a:b//c\n2 text - name=Raw URL https://e.com/")
        check("http://", "http://")
        check("https://e.com", "«1»\n1 text - name=Raw URL https://e.com")
    }

    @Test func aHostCutByAnEightBitOrControlByteIsNotTracked() {
        func links(_ bytes: [UInt8]) -> [String] { TextLinkScanner.scan(bytes).links.map(\.target) }
        // The issue's case: tracking it as `http://ex` would send the click elsewhere.
        #expect(links(Array("x http://ex".utf8) + [0xFF] + Array("ample.com/ y".utf8)).isEmpty)
        // A UTF-8 IDN, a Latin-1 host, a NUL and DEL in the host, a cut right after the scheme
        // or in the port: all left alone.
        #expect(links(Array("http://b\u{FC}cher.example/".utf8)).isEmpty)
        #expect(links(Array("http://caf".utf8) + [0xE9] + Array(".example/".utf8)).isEmpty)
        #expect(links(Array("http://ex".utf8) + [0x00] + Array("ample.com/".utf8)).isEmpty)
        #expect(links(Array("http://ex".utf8) + [0x7F] + Array("ample.com/".utf8)).isEmpty)
        #expect(links(Array("http://example.com:80".utf8) + [0xFF]).isEmpty)
        // The scan goes on after it.
        #expect(
            links(Array("http://ex".utf8) + [0xFF] + Array("ample.com/ https://e.com/b".utf8)) == ["https://e.com/b"])
        // Whitespace ends a host as before; a cut after the host (in the path) keeps the link.
        #expect(
            links(Array("http://e.com\thttp://f.com\rhttp://g.com\u{0C}http://h.com\n".utf8))
                == ["http://e.com", "http://f.com", "http://g.com", "http://h.com"])
        #expect(links(Array("https://e.com/caf".utf8) + [0xE9]) == ["https://e.com/caf"])
        #expect(links(Array("https://e.com?q".utf8) + [0xFF]) == ["https://e.com?q"])
    }

    @Test func notURLs() {
        checkUnchanged("http:// https:// x http:/e.com https://:80 ftp://e.com/ https://@/ mailto:a@b.c httpx://e.com/")
        checkUnchanged("")
        checkUnchanged("h")
        checkUnchanged("http")
        checkUnchanged("https:")
    }

    @Test func annotationsApplyAndAreRemoved() {
        check(#"https://e.com/a [[data-msys-clicktrack="0"]] end"#, "https://e.com/a ⌫ end")
        check(#"https://e.com/a[[data-msys-clicktrack="0"]]"#, "https://e.com/a⌫")
        check(
            "https://e.com/u [[data-msys-unsubscribe=\"1\"]]\t[[data-msys-sublink=\"p\"]] x",
            "«1» ⌫\t⌫ x\n1 text - name=Raw URL unsub sublink=p https://e.com/u")
        check(
            #"https://e.com/u [[data-msys-unsubscribe="1" data-msys-sublink='p']]"#,
            "«1» ⌫\n1 text - name=Raw URL unsub sublink=p https://e.com/u")
        check(#"https://e.com/a [[data-msys-clicktrack="1"]]"#, "«1» ⌫\n1 text - name=Raw URL https://e.com/a")
        check(#"https://e.com/a [[ data-msys-clicktrack = 0 ]]"#, "https://e.com/a ⌫")
        check(#"https://e.com/a [[DATA-MSYS-CLICKTRACK="0"]][[data-msys-sublink="x"]]"#, "https://e.com/a ⌫⌫")
        // After trimmed punctuation or a closing `>` the annotation still belongs to the URL.
        check(#"https://e.com/a. [[data-msys-clicktrack="0"]]"#, "https://e.com/a. ⌫")
        check(#"<https://e.com/a> [[data-msys-clicktrack="0"]]"#, "<https://e.com/a> ⌫")
        // The first value wins when an attribute repeats.
        check(
            #"https://e.com/a [[data-msys-clicktrack="1"]] [[data-msys-clicktrack="0"]]"#,
            "«1» ⌫ ⌫\n1 text - name=Raw URL https://e.com/a")
    }

    @Test func thingsThatAreNotAnnotations() {
        check(
            #"https://e.com/a [[data-msys-linkname="x"]]"#,
            "«1» [[data-msys-linkname=\"x\"]]\n1 text - name=Raw URL https://e.com/a")
        check(
            #"https://e.com/a [[data-msys-clicktrack="0" data-msys-linkname="x"]]"#,
            "«1» [[data-msys-clicktrack=\"0\" data-msys-linkname=\"x\"]]\n1 text - name=Raw URL https://e.com/a")
        check(
            "https://e.com/a\n[[data-msys-clicktrack=\"0\"]]",
            "«1»\n[[data-msys-clicktrack=\"0\"]]\n1 text - name=Raw URL https://e.com/a")
        check(
            #"https://e.com/a [[data-msys-clicktrack="0""#,
            "«1» [[data-msys-clicktrack=\"0\"\n1 text - name=Raw URL https://e.com/a")
        check(
            #"https://e.com/a [[]] [[data-msys-clicktrack]]"#,
            "«1» [[]] [[data-msys-clicktrack]]\n1 text - name=Raw URL https://e.com/a")
        check(
            "https://e.com/a [[data-msys-clicktrack=\"0\n\"]]",
            "«1» [[data-msys-clicktrack=\"0\n\"]]\n1 text - name=Raw URL https://e.com/a")
        checkUnchanged(#"x [[data-msys-clicktrack="0"]]"#)
    }

    @Test func annotationLengthLimit() {
        var limits = ScanLimits()
        limits.maxAnnotationBytes = 30
        // 31 bytes: too long; 30 bytes: recognized.
        check(
            #"https://e.com/a [[data-msys-sublink="abcdefg"]]"#,
            "«1» [[data-msys-sublink=\"abcdefg\"]]\n1 text - name=Raw URL https://e.com/a", limits: limits)
        check(
            #"https://e.com/a [[data-msys-sublink="abcdef"]]"#,
            "«1» ⌫\n1 text - name=Raw URL sublink=abcdef https://e.com/a", limits: limits)
    }

    @Test func extremeLimitsDoNotTrap() {
        var limits = ScanLimits()
        limits.maxAnnotationBytes = .max
        limits.maxURLBytes = .max
        limits.maxLinks = .max
        check(
            #"https://e.com/a [[data-msys-clicktrack="0"]] https://e.com/b"#,
            "https://e.com/a ⌫ «1»\n1 text - name=Raw URL https://e.com/b", limits: limits)
        limits = ScanLimits()
        limits.maxAnnotationBytes = .min
        limits.maxURLBytes = .min
        limits.maxLinks = .min
        check(
            #"https://e.com/a [[data-msys-clicktrack="0"]]"#, #"https://e.com/a [[data-msys-clicktrack="0"]]"#,
            limits: limits)
    }

    @Test func limits() {
        var limits = ScanLimits()
        limits.maxLinks = 1
        check(
            #"https://e.com/1 https://e.com/2 [[data-msys-clicktrack="1"]]"#,
            "«1» https://e.com/2 ⌫\n1 text - name=Raw URL https://e.com/1", limits: limits)
        limits = ScanLimits()
        limits.maxURLBytes = 20
        check(
            "https://e.com/123456 https://e.com/1234567",
            "«1» https://e.com/1234567\n1 text - name=Raw URL https://e.com/123456", limits: limits)
    }

    @Test func pathologicalInputsStayLinear() {
        let size = 1 << 20
        let inputs: [[UInt8]] = [
            Array(String(repeating: "http://a [[data-msys-sublink=\"", count: size / 30).utf8),
            Array(("https://e.com/" + String(repeating: ")", count: size)).utf8),
            Array(String(repeating: "https://", count: size / 8).utf8),
            Array(String(repeating: "http://a.b [[data-msys-clicktrack=\"1\"]] ", count: size / 40).utf8),
            Array(String(repeating: "h", count: size).utf8),
        ]
        let clock = ContinuousClock()
        for input in inputs {
            var result = TextScanResult(links: [], removals: [])
            let elapsed = clock.measure { result = TextLinkScanner.scan(input) }
            #expect(elapsed < .seconds(10), "\(input.prefix(12))… took \(elapsed)")
            Invariants.check(input, result, file: "pathological")
        }
    }
}
