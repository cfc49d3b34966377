import MailBytes

/// Character references in attribute values, decoded the way the HTML5 tokenizer does in the
/// "attribute value" state, restricted to the references this module knows for sure.
///
/// Known: every numeric reference; every named reference that HTML5 decodes even without a
/// trailing `;` (the 96 Latin-1 names plus `amp`, `lt`, `gt`, `quot` and their legacy capitals);
/// and, with `;`, the ASCII punctuation names a URL may spell (`&sol;`, `&quest;`, `&equals;`…).
/// An unknown `&name;` could be any of HTML5's 2 000+ names, so decoding reports failure rather
/// than a possibly wrong result; callers then leave the link untracked.
enum CharacterReferences {
    /// Latin-1 entity names, U+00A0 through U+00FF in code point order. HTML5 decodes all of them
    /// in attribute values without a `;` unless followed by `=` or an alphanumeric.
    static let latin1Names: [String] = [
        "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect",
        "uml", "copy", "ordf", "laquo", "not", "shy", "reg", "macr",
        "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot",
        "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
        "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil",
        "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml",
        "ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times",
        "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig",
        "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
        "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml",
        "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide",
        "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
    ]

    /// The other names decoded with or without `;` (the HTML5 "legacy" names).
    static let legacyASCII: [(name: String, scalar: UInt32)] = [
        ("amp", 0x26), ("AMP", 0x26), ("lt", 0x3C), ("LT", 0x3C), ("gt", 0x3E), ("GT", 0x3E),
        ("quot", 0x22), ("QUOT", 0x22), ("COPY", 0xA9), ("REG", 0xAE),
    ]

    /// Names decoded only when followed by `;` (ASCII punctuation a URL may spell).
    static let semicolonOnly: [(name: String, scalar: UInt32)] = [
        ("apos", 0x27), ("sol", 0x2F), ("bsol", 0x5C), ("colon", 0x3A), ("period", 0x2E),
        ("quest", 0x3F), ("equals", 0x3D), ("num", 0x23), ("percnt", 0x25), ("plus", 0x2B),
        ("commat", 0x40), ("lpar", 0x28), ("rpar", 0x29), ("excl", 0x21), ("dollar", 0x24),
        ("lowbar", 0x5F), ("comma", 0x2C), ("semi", 0x3B), ("ast", 0x2A), ("midast", 0x2A),
        ("lsqb", 0x5B), ("rsqb", 0x5D), ("lbrack", 0x5B), ("rbrack", 0x5D), ("lcub", 0x7B),
        ("rcub", 0x7D), ("lbrace", 0x7B), ("rbrace", 0x7D), ("verbar", 0x7C), ("vert", 0x7C),
        ("grave", 0x60), ("Hat", 0x5E), ("Tab", 0x09), ("NewLine", 0x0A),
    ]

    // The names are looked up by a linear search, not in dictionaries: references in links are
    // rare, and building a `[[UInt8]: UInt32]` costs every filter process a table build and a
    // runtime conformance scan (issue 13) before its first link with an `&`.

    /// Whether `candidate` spells `name` (length and first byte first: most names differ there).
    @inline(__always)
    static func spells(_ candidate: String, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        let utf8 = candidate.utf8
        return utf8.count == name.count && utf8.first == name.first && utf8.elementsEqual(name)
    }

    /// The scalar of a legacy name (decoded with or without `;`), else nil.
    /// `amp`, `lt`, `gt` and `quot` (by far the most frequent) are tried first; no name is in both tables.
    static func legacyScalar(_ name: UnsafeBufferPointer<UInt8>) -> UInt32? {
        for entry in legacyASCII where spells(entry.name, name) { return entry.scalar }
        for (index, candidate) in latin1Names.enumerated() where spells(candidate, name) {
            return 0xA0 + UInt32(index)
        }
        return nil
    }

    /// The scalar of a name decoded only with `;`, else nil.
    static func semicolonOnlyScalar(_ name: UnsafeBufferPointer<UInt8>) -> UInt32? {
        for entry in semicolonOnly where spells(entry.name, name) { return entry.scalar }
        return nil
    }

    /// Appends the bytes of `range` to `out` with character references decoded (scalars as
    /// UTF-8). Returns false when a reference cannot be decoded with certainty (unknown
    /// `&name;`, or a numeric reference HTML5 would replace: NUL, surrogates, above U+10FFFF,
    /// or the C1 range that maps through windows-1252); `out` is then incomplete.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [UInt8]) -> Bool {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let b = bytes[i]
            guard b == ASCII.amp else {
                out.append(b)
                i += 1
                continue
            }
            // `&` not followed by `#` or an alphanumeric is literal.
            let next = i + 1
            guard next < end else {
                out.append(b)
                i += 1
                continue
            }
            if bytes[next] == ASCII.hash {
                switch decodeNumeric(bytes, from: next + 1, end: end, into: &out) {
                case .notReference:
                    out.append(b)  // `&#` without digits stays as it is
                    i += 1
                case .rejected:
                    return false
                case .decoded(let after):
                    i = after
                }
                continue
            }
            var nameEnd = next
            while nameEnd < end, ASCII.isAlphanumeric(bytes[nameEnd]) { nameEnd += 1 }
            if nameEnd == next {
                out.append(b)
                i += 1
                continue
            }
            let name = UnsafeBufferPointer(rebasing: bytes[next..<nameEnd])
            if nameEnd < end, bytes[nameEnd] == ASCII.semicolon {
                guard let scalar = legacyScalar(name) ?? semicolonOnlyScalar(name) else { return false }
                appendUTF8(scalar, to: &out)
                i = nameEnd + 1
                continue
            }
            // No `;`: only a legacy name spanning the whole alphanumeric run can match, and in an
            // attribute value it is left alone when followed by `=` (HTML5 "historical reasons").
            if let scalar = legacyScalar(name), !(nameEnd < end && bytes[nameEnd] == ASCII.equals) {
                appendUTF8(scalar, to: &out)
                i = nameEnd
                continue
            }
            // A shorter legacy prefix is followed by an alphanumeric: literal too.
            out.append(b)
            i += 1
        }
        return true
    }

    /// Outcome of reading a numeric reference.
    private enum Numeric {
        /// `&#` not followed by digits: literal text.
        case notReference
        /// A value HTML5 would replace with something else (U+FFFD or a windows-1252 mapping).
        case rejected
        /// Decoded; reading continues at the offset after the digits and optional `;`.
        case decoded(after: Int)
    }

    /// Decodes the digits of a numeric reference starting at `start` (just after `&#`).
    private static func decodeNumeric(
        _ bytes: UnsafeBufferPointer<UInt8>, from start: Int, end: Int, into out: inout [UInt8]
    ) -> Numeric {
        var i = start
        var hex = false
        if i < end, ASCII.lower(bytes[i]) == ASCII.lowerX {
            hex = true
            i += 1
        }
        let digitsStart = i
        var value: UInt32 = 0
        while i < end {
            let d = bytes[i]
            let digit: UInt32
            if ASCII.isDigit(d) {
                digit = UInt32(d - 0x30)
            } else if hex, ASCII.isHexDigit(d) {
                digit = UInt32((d | 0x20) - 0x61 + 10)
            } else {
                break
            }
            // Saturate: anything above U+10FFFF is rejected below anyway.
            if value <= 0x10FFFF { value = value * (hex ? 16 : 10) + digit }
            i += 1
        }
        if i == digitsStart { return .notReference }
        if i < end, bytes[i] == ASCII.semicolon { i += 1 }
        if value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)
            || (value >= 0x80 && value <= 0x9F)
        {
            return .rejected
        }
        appendUTF8(value, to: &out)
        return .decoded(after: i)
    }

    /// Appends a Unicode scalar value (already checked to be valid) as UTF-8.
    static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (scalar >> 12)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            out.append(UInt8(0xF0 | ((scalar >> 18) & 0x07)))
            out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}
