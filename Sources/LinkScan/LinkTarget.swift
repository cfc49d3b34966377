import MailBytes

/// Deciding whether some bytes are a trackable target: an absolute `http://` or `https://` URL
/// (scheme case-insensitive) with a non-empty host, within the size limit, valid UTF-8.
enum LinkTarget {
    /// Offset just after `http://` or `https://` at the start of `range`, or nil.
    static func authorityStart(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        let start = range.lowerBound
        guard bytes.matchesLowercased(Literal.http, at: start) else { return nil }
        var i = start + Literal.http.utf8CodeUnitCount
        if i < range.upperBound, ASCII.lower(bytes[i]) == 0x73 { i += 1 }  // "s"
        guard i + Literal.schemeSeparator.utf8CodeUnitCount <= range.upperBound,
            bytes.matchesLowercased(Literal.schemeSeparator, at: i)
        else { return nil }
        return i + Literal.schemeSeparator.utf8CodeUnitCount
    }

    /// True when the authority starting at `start` (ending at `/`, `?`, `#`, `\` or the end of
    /// `range`) has a non-empty host once userinfo and port are removed.
    static func hasHost(_ bytes: UnsafeBufferPointer<UInt8>, authorityFrom start: Int, end: Int) -> Bool {
        var authorityEnd = start
        while authorityEnd < end {
            let b = bytes[authorityEnd]
            if b == ASCII.slash || b == ASCII.question || b == ASCII.hash || b == ASCII.backslash { break }
            authorityEnd += 1
        }
        var hostStart = start
        var i = start
        while i < authorityEnd {
            if bytes[i] == ASCII.at { hostStart = i + 1 }
            i += 1
        }
        guard hostStart < authorityEnd else { return false }
        if bytes[hostStart] == ASCII.leftBracket {
            // IPv6 literal: something between the brackets.
            guard let close = bytes.firstOffset(of: ASCII.rightBracket, from: hostStart), close < authorityEnd else {
                return false
            }
            return close > hostStart + 1
        }
        var hostEnd = authorityEnd
        i = hostStart
        while i < authorityEnd {
            if bytes[i] == ASCII.colon {
                hostEnd = i
                break
            }
            i += 1
        }
        return hostEnd > hostStart
    }

    /// The target for decoded attribute bytes: trimmed of ASCII whitespace, ASCII tab/LF/CR
    /// removed (as the WHATWG URL parser does), then checked. Nil when not trackable, including
    /// when control bytes remain or the bytes are not valid UTF-8.
    static func target(fromDecoded decoded: inout [UInt8], maxBytes: Int) -> String? {
        var lower = 0
        var upper = decoded.count
        while lower < upper, ASCII.isWhitespace(decoded[lower]) { lower += 1 }
        while upper > lower, ASCII.isWhitespace(decoded[upper - 1]) { upper -= 1 }
        var write = 0
        var read = lower
        while read < upper {
            let b = decoded[read]
            read += 1
            if b == ASCII.tab || b == ASCII.lf || b == ASCII.cr { continue }
            if b < 0x20 || b == 0x7F { return nil }
            decoded[write] = b
            write += 1
        }
        guard write <= maxBytes else { return nil }
        decoded.removeSubrange(write...)
        let ok = decoded.withUnsafeBufferPointer { buffer -> Bool in
            guard let authority = authorityStart(buffer, 0..<buffer.count) else { return false }
            return hasHost(buffer, authorityFrom: authority, end: buffer.count)
        }
        guard ok else { return nil }
        return String(validating: decoded, as: UTF8.self)
    }
}
