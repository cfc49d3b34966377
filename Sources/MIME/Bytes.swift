import MailBytes

/// ASCII case-insensitive comparison of `buf[range]` with already lower-cased ASCII bytes.
@inline(__always)
func asciiEqualsLowercased(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lowercased: [UInt8]) -> Bool {
    guard range.count == lowercased.count else { return false }
    var k = 0
    for i in range {
        if ASCII.lower(buf[i]) != lowercased[k] { return false }
        k += 1
    }
    return true
}

/// ASCII case-insensitive comparison of `buf[range]` with an already lower-cased ASCII string.
@inline(__always)
func asciiEqualsLowercased(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lowercased: String) -> Bool {
    guard range.count == lowercased.utf8.count else { return false }
    var utf8 = lowercased.utf8.makeIterator()
    var i = range.lowerBound
    while i < range.upperBound {
        guard let c = utf8.next(), ASCII.lower(buf[i]) == c else { return false }
        i += 1
    }
    return utf8.next() == nil
}

/// A line: `contentEnd` excludes its line break, `end` is the first byte of the next line.
struct LineBounds {
    var contentEnd: Int
    var end: Int
    /// Whether the line break is CRLF (false for LF or for a last line without line break).
    var isCRLF: Bool
    var hasBreak: Bool
}

@inline(__always)
func lineBounds(_ buf: UnsafeBufferPointer<UInt8>, from pos: Int, to end: Int) -> LineBounds {
    guard let nl = buf.firstOffset(of: ASCII.lf, from: pos, to: end) else {
        return LineBounds(contentEnd: end, end: end, isCRLF: false, hasBreak: false)
    }
    if nl > pos && buf[nl - 1] == ASCII.cr {
        return LineBounds(contentEnd: nl - 1, end: nl + 1, isCRLF: true, hasBreak: true)
    }
    return LineBounds(contentEnd: nl, end: nl + 1, isCRLF: false, hasBreak: true)
}

/// A boundary delimiter line found at a line start.
struct DelimiterMatch {
    /// Index into the list of boundaries that matched.
    var boundaryIndex: Int
    /// `--boundary--` rather than `--boundary`.
    var isClose: Bool
    /// First byte after the delimiter line and its line break.
    var lineEnd: Int
}

/// RFC 2046 §5.1.1: `dash-boundary := "--" boundary`, then `"--"` for the close delimiter, then
/// transport padding (`*LWSP-char`) and the line break. Boundaries are matched exactly
/// (case-sensitive). The first boundary in `boundaries` order that matches wins, so callers pass
/// the innermost boundary first.
@inline(__always)
func matchDelimiter(
    _ buf: UnsafeBufferPointer<UInt8>, at pos: Int, end: Int, boundaries: [[UInt8]]
) -> DelimiterMatch? {
    guard pos + 2 <= end, buf[pos] == ASCII.hyphen, buf[pos + 1] == ASCII.hyphen else { return nil }
    let start = pos + 2
    for (index, boundary) in boundaries.enumerated() {
        let n = boundary.count
        guard n > 0, start + n <= end else { continue }
        var equal = true
        boundary.withUnsafeBufferPointer { b in
            for k in 0..<n where buf[start + k] != b[k] {
                equal = false
                break
            }
        }
        guard equal else { continue }
        var i = start + n
        var isClose = false
        if i + 2 <= end && buf[i] == ASCII.hyphen && buf[i + 1] == ASCII.hyphen {
            isClose = true
            i += 2
        }
        while i < end && ASCII.isWSP(buf[i]) {
            i += 1
        }
        if i == end {
            return DelimiterMatch(boundaryIndex: index, isClose: isClose, lineEnd: end)
        }
        if buf[i] == ASCII.lf {
            return DelimiterMatch(boundaryIndex: index, isClose: isClose, lineEnd: i + 1)
        }
        if buf[i] == ASCII.cr && (i + 1 == end || buf[i + 1] == ASCII.lf) {
            return DelimiterMatch(boundaryIndex: index, isClose: isClose, lineEnd: min(i + 2, end))
        }
        // Text after the boundary: not this boundary (it may be a longer one sharing a prefix).
    }
    return nil
}

/// The start of the first line after line start `from` that begins with `"--"`.
///
/// Searches for `-` rather than for line breaks: base64 bodies contain none, so a whole
/// attachment is skipped by one memchr; a `-` that does not start a line skips to the next line.
@inline(__always)
func findLineStartingWithDashes(_ buf: UnsafeBufferPointer<UInt8>, from: Int, to end: Int) -> Int? {
    var i = from + 1
    while i < end {
        guard let p = buf.firstOffset(of: ASCII.hyphen, from: i, to: end) else { return nil }
        // p >= 1 because i >= 1.
        if buf[p - 1] == ASCII.lf && p + 1 < end && buf[p + 1] == ASCII.hyphen { return p }
        guard let nl = buf.firstOffset(of: ASCII.lf, from: p, to: end) else { return nil }
        i = nl + 1
    }
    return nil
}

/// `Result<Value, MIMEError>` without `Result`'s requirement `Failure: Error`: the generic
/// `Result` costs a filter process a conformance lookup (`MIMEError: Error`) at run time when its
/// metadata is first made; this enum has no requirement to check.
enum MIMEOutcome<Value> {
    case success(Value)
    case failure(MIMEError)

    func get() throws(MIMEError) -> Value {
        switch self {
        case .success(let value): return value
        case .failure(let error): throw error
        }
    }
}
