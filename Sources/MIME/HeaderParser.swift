import MailBytes

/// One header field as ranges into the message.
public struct HeaderField: Sendable, Hashable {
    /// The whole field including continuation lines and its final line break.
    public var range: Range<Int>
    /// The field name as written, without the colon. Empty for a line kept verbatim that has no
    /// name (an mbox `From ` line, or a continuation line before any field).
    public var nameRange: Range<Int>
    /// After the colon up to (excluding) the final line break; folds included.
    public var valueRange: Range<Int>

    /// Creates a field from its ranges.
    public init(range: Range<Int>, nameRange: Range<Int>, valueRange: Range<Int>) {
        self.range = range
        self.nameRange = nameRange
        self.valueRange = valueRange
    }

    /// The field name as written (invalid UTF-8 repaired).
    public func name(in bytes: [UInt8]) -> String {
        guard nameRange.upperBound <= bytes.count else { return "" }
        return String(decoding: bytes[nameRange], as: UTF8.self)
    }

    /// Whether the field name equals `lowercasedName`, ASCII case-insensitively.
    public func hasName(_ lowercasedName: String, in bytes: [UInt8]) -> Bool {
        guard nameRange.upperBound <= bytes.count else { return false }
        return bytes.withUnsafeBufferPointer { asciiEqualsLowercased($0, nameRange, lowercasedName) }
    }

    /// The raw value bytes (folds included).
    public func value(in bytes: [UInt8]) -> ArraySlice<UInt8> {
        guard valueRange.upperBound <= bytes.count else { return [] }
        return bytes[valueRange]
    }

    /// The value unfolded (RFC 5322 §2.2.3: CRLF or LF before WSP removed) and trimmed of
    /// leading and trailing whitespace, as a String (invalid UTF-8 repaired).
    public func unfoldedValue(in bytes: [UInt8]) -> String {
        String(decoding: HeaderUnfolding.unfold(value(in: bytes), .removeLineBreaks), as: UTF8.self)
    }
}

/// A header block (top-level message or MIME part) as ranges into the message.
public struct HeaderBlock: Sendable, Hashable {
    /// The fields in order of appearance.
    public var fields: [HeaderField]
    /// From block start to the end of the last field (separator line excluded). Fields added to
    /// the block belong at `range.upperBound`: without a separator, `bodyStart` can be that
    /// same offset, and added fields must come before the body there.
    public var range: Range<Int>
    /// The empty line (`"\r\n"` or `"\n"`); nil when the block has no body separator.
    public var separatorRange: Range<Int>?
    /// First body byte (end of the input when there is no separator and no body).
    public var bodyStart: Int
    /// The line break of the first line break seen (`.crlf` when there is none).
    public var lineEnding: LineEnding

    /// Creates a header block from its parts.
    public init(
        fields: [HeaderField], range: Range<Int>, separatorRange: Range<Int>?, bodyStart: Int,
        lineEnding: LineEnding
    ) {
        self.fields = fields
        self.range = range
        self.separatorRange = separatorRange
        self.bodyStart = bodyStart
        self.lineEnding = lineEnding
    }

    /// The first field named `lowercasedName` (ASCII case-insensitive).
    public func first(_ lowercasedName: String, in bytes: [UInt8]) -> HeaderField? {
        bytes.withUnsafeBufferPointer { buf in
            fields.first {
                $0.nameRange.upperBound <= buf.count && asciiEqualsLowercased(buf, $0.nameRange, lowercasedName)
            }
        }
    }

    /// Every field named `lowercasedName` (ASCII case-insensitive), in order.
    public func all(_ lowercasedName: String, in bytes: [UInt8]) -> [HeaderField] {
        bytes.withUnsafeBufferPointer { buf in
            fields.filter {
                $0.nameRange.upperBound <= buf.count && asciiEqualsLowercased(buf, $0.nameRange, lowercasedName)
            }
        }
    }
}

/// Parses header blocks into ranges.
public enum HeaderParser {
    /// Parse the header block starting at `start`.
    ///
    /// Decisions (lenient, RFC 5322 §3.6 + obs syntax):
    /// - A field is `name ":" value` where the name is any run of bytes other than controls, space
    ///   and colon (8-bit allowed); whitespace between name and colon (obs-optional) is accepted
    ///   and left out of `nameRange`.
    /// - Lines starting with space or tab continue the previous field. A continuation line before
    ///   any field, and a first line starting with `From ` (mbox separator), are kept as fields
    ///   with an empty `nameRange` so that no byte is lost.
    /// - Any other line without a valid field name ends the header: the body starts at that line
    ///   and `separatorRange` is nil (Python's `email` and mail-parser do the same).
    /// - Bare CR, 8-bit bytes and NUL are ordinary field bytes.
    /// - A message without the empty line has `bodyStart == bytes.count`.
    ///
    /// Throws only past ``MIMELimits/maxHeaderBytes`` or ``MIMELimits/maxFieldsPerHeader``.
    public static func parse(
        _ bytes: [UInt8], from start: Int, limits: MIMELimits = MIMELimits()
    ) throws(MIMEError) -> HeaderBlock {
        let result: MIMEOutcome<HeaderBlock> = bytes.withUnsafeBufferPointer { buf in
            parse(buf, from: start, limits: limits, delimiters: [])
        }
        return try result.get()
    }

    /// The scanner proper. `delimiters` are the boundaries of the enclosing multiparts: a
    /// delimiter line ends the header (a part without header/body separator).
    static func parse(
        _ buf: UnsafeBufferPointer<UInt8>, from rawStart: Int, limits: MIMELimits, delimiters: [[UInt8]]
    ) -> MIMEOutcome<HeaderBlock> {
        let end = buf.count
        let start = min(max(rawStart, 0), end)
        var fields: [HeaderField] = []
        fields.reserveCapacity(8)
        var lineEnding: LineEnding?
        var separator: Range<Int>?
        var bodyStart = end
        var pos = start

        // The open field: (field start, name range, value start, value end, field end).
        var open: (start: Int, name: Range<Int>, valueStart: Int, valueEnd: Int, end: Int)?

        func close() -> MIMEError? {
            guard let field = open else { return nil }
            open = nil
            if fields.count >= limits.maxFieldsPerHeader {
                return .tooManyHeaderFields(limit: limits.maxFieldsPerHeader, offset: field.start)
            }
            fields.append(
                HeaderField(
                    range: field.start..<field.end, nameRange: field.name,
                    valueRange: field.valueStart..<max(field.valueStart, field.valueEnd)))
            return nil
        }

        while pos < end {
            let line = lineBounds(buf, from: pos, to: end)
            if lineEnding == nil && line.hasBreak {
                lineEnding = line.isCRLF ? .crlf : .lf
            }
            if line.contentEnd == pos {
                separator = pos..<line.end
                bodyStart = line.end
                break
            }
            if line.contentEnd - start > limits.maxHeaderBytes {
                return .failure(.headerTooLarge(limit: limits.maxHeaderBytes, offset: start))
            }
            let first = buf[pos]
            if ASCII.isWSP(first) {
                if open != nil {
                    open?.valueEnd = line.contentEnd
                    open?.end = line.end
                } else {
                    open = (pos, pos..<pos, pos, line.contentEnd, line.end)
                }
                pos = line.end
                continue
            }
            if !delimiters.isEmpty,
                matchDelimiter(buf, at: pos, end: end, boundaries: delimiters) != nil
            {
                bodyStart = pos
                break
            }
            if let nameEnd = fieldNameEnd(buf, from: pos, to: line.contentEnd) {
                if let error = close() { return .failure(error) }
                open = (pos, pos..<nameEnd.name, nameEnd.colon + 1, line.contentEnd, line.end)
                pos = line.end
                continue
            }
            if pos == start && isMboxFromLine(buf, at: pos, to: line.contentEnd) {
                open = (pos, pos..<pos, pos, line.contentEnd, line.end)
                pos = line.end
                continue
            }
            bodyStart = pos
            break
        }
        if let error = close() { return .failure(error) }
        let blockEnd = fields.last?.range.upperBound ?? start
        return .success(
            HeaderBlock(
                fields: fields, range: start..<blockEnd, separatorRange: separator, bodyStart: bodyStart,
                lineEnding: lineEnding ?? .crlf))
    }

    /// `field-name = 1*ftext` then `*WSP ":"` (obs). Returns the end of the name and the colon.
    @inline(__always)
    static func fieldNameEnd(
        _ buf: UnsafeBufferPointer<UInt8>, from pos: Int, to contentEnd: Int
    ) -> (name: Int, colon: Int)? {
        var i = pos
        while i < contentEnd {
            let b = buf[i]
            if b == ASCII.colon { break }
            if b <= ASCII.space || b == 0x7F { break }
            i += 1
        }
        let nameEnd = i
        guard nameEnd > pos else { return nil }
        while i < contentEnd && ASCII.isWSP(buf[i]) { i += 1 }
        guard i < contentEnd, buf[i] == ASCII.colon else { return nil }
        return (nameEnd, i)
    }

    private static func isMboxFromLine(_ buf: UnsafeBufferPointer<UInt8>, at pos: Int, to contentEnd: Int) -> Bool {
        let from: [UInt8] = [0x46, 0x72, 0x6F, 0x6D, 0x20]  // "From "
        guard contentEnd - pos >= from.count else { return false }
        for k in 0..<from.count where buf[pos + k] != from[k] { return false }
        return true
    }
}
