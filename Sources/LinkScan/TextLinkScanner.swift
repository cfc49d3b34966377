import MailBytes

/// Finds trackable URLs and `[[data-msys-…]]` annotations in a plain-text body.
///
/// A URL starts at `http://` or `https://` (any case) at the start of the text or after a byte
/// that is not an ASCII letter or digit, and runs over printable ASCII except space, `<`, `>`,
/// `"` and the start of a `[[` annotation. Then, unless it is enclosed as `<url>`, trailing
/// `.,;:!?'"` are dropped, and a trailing `)` or `]` is dropped while it has no matching opener
/// inside the URL. Surrounding punctuation is never part of the replaced range. A run cut inside
/// its host by an 8-bit byte or a control (`http://ex\xFFample.com/`, a UTF-8 IDN) is not
/// tracked: the host before the cut is not the one written.
///
/// Annotations: one or more `[[data-msys-clicktrack="0"]]`, `[[data-msys-unsubscribe="1"]]`,
/// `[[data-msys-sublink="x"]]` (several attributes may share one pair of brackets; values
/// double-, single- or un-quoted) right after the URL's run, optionally after spaces or tabs on
/// the same line, apply to that URL and are reported for removal (brackets and content only).
/// A bracket naming anything else (including `data-msys-linkname`) is not an annotation and
/// stays in the text.
public enum TextLinkScanner {
    /// Scans `text` (already transfer-decoded, any ASCII-compatible charset). Never fails.
    public static func scan(_ text: [UInt8], limits: ScanLimits = ScanLimits()) -> TextScanResult {
        text.withUnsafeBufferPointer { buffer in
            var scanner = TextScanner(bytes: buffer, limits: limits)
            scanner.run()
            return TextScanResult(links: scanner.links, removals: scanner.removals)
        }
    }
}

/// What the annotations after one URL say.
private struct TextAnnotations {
    var clicktrack: [UInt8]?
    var unsubscribe: [UInt8]?
    var sublink: [UInt8]?
}

/// The scanning loop. Lives only for the duration of one `scan` call.
private struct TextScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let limits: ScanLimits
    var links: [FoundLink] = []
    var removals: [Range<Int>] = []

    init(bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Printable ASCII except space, `<`, `>`, `"`.
    @inline(__always)
    static func isURLByte(_ b: UInt8) -> Bool {
        b > 0x20 && b < 0x7F && b != ASCII.less && b != ASCII.greater && b != ASCII.quote
    }

    mutating func run() {
        let n = bytes.count
        var i = 0
        while i < n {
            guard let (start, authority) = nextURLStart(from: i) else { return }
            var runEnd = authority
            while runEnd < n, Self.isURLByte(bytes[runEnd]) {
                if bytes[runEnd] == ASCII.leftBracket, runEnd + 1 < n, bytes[runEnd + 1] == ASCII.leftBracket { break }
                runEnd += 1
            }
            let angled = start > 0 && bytes[start - 1] == ASCII.less && runEnd < n && bytes[runEnd] == ASCII.greater
            let urlEnd = angled ? runEnd : trimmedEnd(start: start, authority: authority, runEnd: runEnd)
            var annotations = TextAnnotations()
            let next = readAnnotations(from: angled ? runEnd + 1 : runEnd, into: &annotations)
            i = max(runEnd, next)

            guard urlEnd - start <= limits.maxURLBytes,
                !hostIsCut(authority: authority, runEnd: runEnd),
                LinkTarget.hasHost(bytes, authorityFrom: authority, end: urlEnd),
                annotations.clicktrack != [0x30],  // "0"
                links.count < limits.maxLinks
            else { continue }
            let sublink = annotations.sublink.flatMap { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) }
            links.append(
                FoundLink(
                    replaceRange: start..<urlEnd, quote: nil,
                    target: String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<urlEnd]), as: UTF8.self),
                    isUnsubscribe: annotations.unsubscribe == [0x31],  // "1"
                    sublink: sublink, source: .text))
        }
    }

    /// The first URL start at or after `from`: an `http://` or `https://` (any case) not preceded
    /// by an ASCII letter or digit, and the offset after its `://`. Found from the colons (one
    /// `memchr` each; text has few) rather than from every `h`: each `://` has at most one
    /// candidate start (4 bytes before it for `http`, 5 for `https`), and candidates come in the
    /// order of their colons, so the first match is the first start a byte-by-byte walk finds.
    func nextURLStart(from: Int) -> (start: Int, authority: Int)? {
        let n = bytes.count
        var c = from + 4
        while c < n, let colon = bytes.firstOffset(of: ASCII.colon, from: c, to: n) {
            c = colon + 1
            // Most colons (times, `Subject:`, `mailto:`) are not followed by `//`.
            guard colon + 2 < n, bytes[colon + 1] == ASCII.slash, bytes[colon + 2] == ASCII.slash else { continue }
            if colon - 4 >= from, let authority = authorityStart(at: colon - 4, colon: colon) {
                return (colon - 4, authority)
            }
            if colon - 5 >= from, let authority = authorityStart(at: colon - 5, colon: colon) {
                return (colon - 5, authority)
            }
        }
        return nil
    }

    /// The authority after a URL start at `start` whose `://` is at `colon`, or nil.
    @inline(__always)
    func authorityStart(at start: Int, colon: Int) -> Int? {
        guard start == 0 || !ASCII.isAlphanumeric(bytes[start - 1]),
            let authority = LinkTarget.authorityStart(bytes, start..<bytes.count), authority == colon + 3
        else { return nil }
        return authority
    }

    /// Whether the run stopped inside the authority (before any `/`, `?`, `#` or `\`) at a byte
    /// that cannot follow a host: an 8-bit byte (`http://ex\xFFample.com/`, an IDN written in
    /// UTF-8) or a control other than whitespace. What precedes it is not the host the sender
    /// wrote, so the URL is left as it is rather than tracked to a host cut short.
    func hostIsCut(authority: Int, runEnd: Int) -> Bool {
        guard runEnd < bytes.count else { return false }
        let stop = bytes[runEnd]
        guard stop >= 0x80 || stop == 0x7F || (stop < 0x20 && !ASCII.isWhitespace(stop)) else { return false }
        var k = authority
        while k < runEnd {
            let b = bytes[k]
            if b == ASCII.slash || b == ASCII.question || b == ASCII.hash || b == ASCII.backslash { return false }
            k += 1
        }
        return true
    }

    /// The end of the URL once trailing sentence punctuation and unmatched closers are dropped.
    func trimmedEnd(start: Int, authority: Int, runEnd: Int) -> Int {
        var openParens = 0
        var closeParens = 0
        var openBrackets = 0
        var closeBrackets = 0
        var k = start
        while k < runEnd {
            switch bytes[k] {
            case ASCII.leftParen: openParens += 1
            case ASCII.rightParen: closeParens += 1
            case ASCII.leftBracket: openBrackets += 1
            case ASCII.rightBracket: closeBrackets += 1
            default: break
            }
            k += 1
        }
        var end = runEnd
        while end > authority {
            switch bytes[end - 1] {
            case 0x2E, 0x2C, 0x3B, 0x3A, 0x21, 0x3F, ASCII.apostrophe, ASCII.quote:  // . , ; : ! ? ' "
                end -= 1
            case ASCII.rightParen where closeParens > openParens:
                closeParens -= 1
                end -= 1
            case ASCII.rightBracket where closeBrackets > openBrackets:
                closeBrackets -= 1
                end -= 1
            default:
                return end
            }
        }
        return end
    }

    /// Reads consecutive annotations starting at `start` (spaces and tabs allowed before each),
    /// records their removal ranges and values. Returns the offset after the last one, or
    /// `start` when there is none.
    mutating func readAnnotations(from start: Int, into annotations: inout TextAnnotations) -> Int {
        var after = start
        while true {
            var p = after
            while p < bytes.count, bytes[p] == ASCII.space || bytes[p] == ASCII.tab { p += 1 }
            guard let end = annotation(at: p, into: &annotations) else { return after }
            removals.append(p..<end)
            after = end
        }
    }

    /// One `[[name=value …]]` at `start`; nil when there is none (then `annotations` is untouched).
    func annotation(at start: Int, into annotations: inout TextAnnotations) -> Int? {
        // Written so that a huge configured limit cannot overflow.
        let limit =
            limits.maxAnnotationBytes >= bytes.count - start ? bytes.count : start + max(0, limits.maxAnnotationBytes)
        guard start + 1 < limit, bytes[start] == ASCII.leftBracket, bytes[start + 1] == ASCII.leftBracket else {
            return nil
        }
        var found = TextAnnotations()
        var sawAttribute = false
        var p = start + 2
        while true {
            while p < limit, bytes[p] == ASCII.space || bytes[p] == ASCII.tab { p += 1 }
            guard p < limit else { return nil }
            if bytes[p] == ASCII.rightBracket {
                guard sawAttribute, p + 1 < limit, bytes[p + 1] == ASCII.rightBracket else { return nil }
                if annotations.clicktrack == nil { annotations.clicktrack = found.clicktrack }
                if annotations.unsubscribe == nil { annotations.unsubscribe = found.unsubscribe }
                if annotations.sublink == nil { annotations.sublink = found.sublink }
                return p + 2
            }
            let nameStart = p
            while p < limit, ASCII.isAlphanumeric(bytes[p]) || bytes[p] == ASCII.hyphen { p += 1 }
            let name = nameStart..<p
            while p < limit, bytes[p] == ASCII.space || bytes[p] == ASCII.tab { p += 1 }
            guard p < limit, bytes[p] == ASCII.equals else { return nil }
            p += 1
            while p < limit, bytes[p] == ASCII.space || bytes[p] == ASCII.tab { p += 1 }
            guard p < limit else { return nil }
            let value: Range<Int>
            let q = bytes[p]
            if q == ASCII.quote || q == ASCII.apostrophe {
                var close = p + 1
                while close < limit, bytes[close] != q, bytes[close] != ASCII.lf, bytes[close] != ASCII.cr {
                    close += 1
                }
                guard close < limit, bytes[close] == q else { return nil }
                value = (p + 1)..<close
                p = close + 1
            } else {
                let valueStart = p
                while p < limit {
                    let b = bytes[p]
                    if b <= ASCII.space || b == ASCII.rightBracket || b == ASCII.quote || b == ASCII.apostrophe {
                        break
                    }
                    p += 1
                }
                value = valueStart..<p
            }
            let valueBytes = Array(bytes[value])
            if bytes.equalsLowercased(name, Literal.clicktrack) {
                if found.clicktrack == nil { found.clicktrack = valueBytes }
            } else if bytes.equalsLowercased(name, Literal.unsubscribe) {
                if found.unsubscribe == nil { found.unsubscribe = valueBytes }
            } else if bytes.equalsLowercased(name, Literal.sublink) {
                if found.sublink == nil { found.sublink = valueBytes }
            } else {
                return nil
            }
            sawAttribute = true
        }
    }
}
