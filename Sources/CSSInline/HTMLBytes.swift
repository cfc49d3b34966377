import MailBytes

/// Byte-level HTML helpers: finding `<style>` elements before libxml2 runs, and reading start
/// tags in the original bytes the way libxml2's `htmlParseStartTag` does, so that what libxml2
/// reports and what we patch refer to the same bytes.

/// A start tag as it lies in the document.
struct StartTag: Sendable, Hashable {
    /// Offset of `<`.
    var start: Int
    /// Offset of the closing `>` (or of `/` in `/>`), where libxml2 stops.
    var end: Int
    /// Where a new attribute goes: just after the name or the last attribute.
    var insertionPoint: Int
    /// The first `style` attribute: the whole value including quotes, and the quote (0 when the
    /// value is unquoted, or when there is no `=value` at all and `value` is empty at its end).
    var styleValue: Range<Int>?
    var styleQuote: UInt8 = 0
}

enum HTMLBytes {
    @inline(__always) static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    @inline(__always) static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A
    }

    /// htmlParseHTMLName: `[A-Za-z_:.][A-Za-z0-9:_.-]*`; returns the end, or nil.
    static func nameEnd(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int? {
        guard index < bytes.count else { return nil }
        let first = bytes[index]
        guard isLetter(first) || first == 0x5F || first == 0x3A || first == 0x2E else { return nil }
        var cursor = index + 1
        while cursor < bytes.count {
            let byte = bytes[cursor]
            guard
                isLetter(byte) || (byte >= 0x30 && byte <= 0x39) || byte == 0x3A || byte == 0x2D || byte == 0x5F
                    || byte == 0x2E
            else { break }
            cursor += 1
        }
        return cursor
    }

    /// Reads the start tag whose `<` is at `start`, mirroring libxml2 2.9's `htmlParseStartTag`.
    static func readStartTag(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> StartTag? {
        readStartTag(bytes, at: start) { _, _, _, _ in }
    }

    /// As ``readStartTag(_:at:)``, calling `attribute` with where the blanks before each
    /// attribute start (its name's start when there are none), its name, its value (quotes
    /// included; empty at the name's end when there is no `=value`) and its quote (0 when
    /// unquoted), in order, as they are read (also for a tag that turns out unterminated).
    @inline(__always)
    static func readStartTag(
        _ bytes: UnsafeBufferPointer<UInt8>, at start: Int,
        attribute: (_ gap: Int, _ name: Range<Int>, _ value: Range<Int>, _ quote: UInt8) -> Void
    ) -> StartTag? {
        guard start < bytes.count, bytes[start] == 0x3C, let tagNameEnd = nameEnd(bytes, start + 1) else {
            return nil
        }
        var tag = StartTag(start: start, end: tagNameEnd, insertionPoint: tagNameEnd)
        var cursor = tagNameEnd
        let count = bytes.count
        while true {
            let gap = cursor
            while cursor < count, isBlank(bytes[cursor]) { cursor += 1 }
            guard cursor < count else { return nil }
            let byte = bytes[cursor]
            if byte == 0x3E || (byte == 0x2F && cursor + 1 < count && bytes[cursor + 1] == 0x3E) {
                tag.end = cursor
                return tag
            }
            guard let attributeEnd = nameEnd(bytes, cursor) else {
                while cursor < count {
                    let bogus = bytes[cursor]
                    if isBlank(bogus) || bogus == 0x3E
                        || (bogus == 0x2F && cursor + 1 < count && bytes[cursor + 1] == 0x3E)
                    {
                        break
                    }
                    cursor += 1
                }
                continue
            }
            let attributeStart = cursor
            cursor = attributeEnd
            var probe = cursor
            while probe < count, isBlank(bytes[probe]) { probe += 1 }
            var value: Range<Int> = cursor..<cursor
            var quote: UInt8 = 0
            var hasValue = false
            if probe < count, bytes[probe] == 0x3D {
                hasValue = true
                probe += 1
                while probe < count, isBlank(bytes[probe]) { probe += 1 }
                let valueStart = probe
                if probe < count, bytes[probe] == 0x22 || bytes[probe] == 0x27 {
                    quote = bytes[probe]
                    guard let close = bytes.firstOffset(of: quote, from: probe + 1) else { return nil }
                    probe = close + 1
                } else {
                    while probe < count, !isBlank(bytes[probe]), bytes[probe] != 0x3E { probe += 1 }
                }
                value = valueStart..<probe
                cursor = probe
            }
            tag.insertionPoint = cursor
            attribute(gap, attributeStart..<attributeEnd, value, quote)
            if tag.styleValue == nil, attributeEnd - attributeStart == 5,
                isStyleName(bytes, attributeStart)
            {
                tag.styleValue = hasValue ? value : cursor..<cursor
                tag.styleQuote = quote
            }
        }
    }

    private static func isStyleName(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Bool {
        (bytes[index] | 0x20) == 0x73 && (bytes[index + 1] | 0x20) == 0x74 && (bytes[index + 2] | 0x20) == 0x79
            && (bytes[index + 3] | 0x20) == 0x6C && (bytes[index + 4] | 0x20) == 0x65
    }

    /// The start tag libxml2 reported ending at `end`: tries the `<` positions before it, nearest
    /// first, and accepts the one that reads up to exactly `end`.
    static func locateStartTag(_ bytes: UnsafeBufferPointer<UInt8>, endingAt end: Int, notBefore floor: Int)
        -> StartTag?
    {
        guard end >= 0, end < bytes.count, bytes[end] == 0x3E || bytes[end] == 0x2F else { return nil }
        var candidate = end - 1
        var attempts = 0
        while candidate >= floor, attempts < 64 {
            if bytes[candidate] == 0x3C {
                attempts += 1
                if let tag = readStartTag(bytes, at: candidate), tag.end == end { return tag }
            }
            candidate -= 1
        }
        return nil
    }

    /// Case-insensitive search for `<` + `lowerName` (followed by a blank, `>` or `/`) from `index`.
    static func findTag(_ bytes: UnsafeBufferPointer<UInt8>, _ lowerName: StaticString, from index: Int, closing: Bool)
        -> Int?
    {
        lowerName.withUTF8Buffer { name -> Int? in
            let prefix = closing ? 2 : 1
            var cursor = index
            let count = bytes.count
            while cursor + prefix + name.count < count {
                guard let next = bytes.firstOffset(of: 0x3C, from: cursor) else { return nil }
                cursor = next
                guard cursor + prefix + name.count < count else { return nil }
                if !closing, cursor + 3 < count, bytes[cursor + 1] == 0x21, bytes[cursor + 2] == 0x2D,
                    bytes[cursor + 3] == 0x2D
                {
                    cursor = skipComment(bytes, cursor)
                    continue
                }
                if closing && bytes[cursor + 1] != 0x2F {
                    cursor += 1
                    continue
                }
                var matched = true
                var offset = 0
                while offset < name.count {
                    if (bytes[cursor + prefix + offset] | 0x20) != name[offset] {
                        matched = false
                        break
                    }
                    offset += 1
                }
                if matched {
                    let after = bytes[cursor + prefix + name.count]
                    if isBlank(after) || after == 0x3E || after == 0x2F || after == 0x0C { return cursor }
                }
                cursor += 1
            }
            return nil
        }
    }

    /// Offset just past the comment starting at `start` (`<!--`), or the end of the input.
    static func skipComment(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        var cursor = start + 4
        while cursor + 2 < bytes.count {
            if bytes[cursor] == 0x2D && bytes[cursor + 1] == 0x2D && bytes[cursor + 2] == 0x3E { return cursor + 3 }
            cursor += 1
        }
        return bytes.count
    }
}

/// A `<style>` element found by scanning bytes.
struct StyleElementBytes: Sendable, Hashable {
    var tag: StartTag
    /// The CSS text between the start and end tags.
    var content: Range<Int>
    /// The whole element, end tag included.
    var element: Range<Int>
}

enum ByteScan {
    /// Whether `<style` appears anywhere (case-insensitively): the cheap test for "nothing to do".
    static func containsStyleTag(_ html: [UInt8]) -> Bool {
        html.withUnsafeBufferPointer { bytes in
            var cursor = 0
            let count = bytes.count
            while cursor + 6 < count {
                guard let next = bytes.firstOffset(of: 0x3C, from: cursor) else { return false }
                cursor = next
                guard cursor + 6 < count else { return false }
                if (bytes[cursor + 1] | 0x20) == 0x73, (bytes[cursor + 2] | 0x20) == 0x74,
                    (bytes[cursor + 3] | 0x20) == 0x79, (bytes[cursor + 4] | 0x20) == 0x6C,
                    (bytes[cursor + 5] | 0x20) == 0x65
                {
                    return true
                }
                cursor += 1
            }
            return false
        }
    }

    /// Every `<style>` element outside comments, as libxml2 would delimit its raw text.
    static func styleElements(_ bytes: UnsafeBufferPointer<UInt8>) -> [StyleElementBytes] {
        var result: [StyleElementBytes] = []
        var cursor = 0
        while let start = HTMLBytes.findTag(bytes, "style", from: cursor, closing: false) {
            guard let tag = HTMLBytes.readStartTag(bytes, at: start) else {
                cursor = start + 1
                continue
            }
            let contentStart = bytes[tag.end] == 0x3E ? tag.end + 1 : tag.end + 2
            let close = HTMLBytes.findTag(bytes, "style", from: contentStart, closing: true) ?? bytes.count
            var elementEnd = close
            while elementEnd < bytes.count, bytes[elementEnd] != 0x3E { elementEnd += 1 }
            elementEnd = min(elementEnd + 1, bytes.count)
            result.append(StyleElementBytes(tag: tag, content: contentStart..<close, element: start..<elementEnd))
            cursor = elementEnd
        }
        return result
    }
}
