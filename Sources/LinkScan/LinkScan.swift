/// LinkScan finds things in already-decoded body bytes (HTML and plain text): which byte
/// ranges are trackable links and what their targets are, where the two open-tracking pixels go,
/// and which `[[data-msys-…]]` text annotations must be removed.
///
/// It owns: a byte-level, HTML5-shaped tokenizer of tags and attributes (comments, Outlook
/// conditional comments, raw-text elements, character references in attribute values) and a
/// plain-text URL finder. It reports ranges into the caller's bytes.
///
/// It must never: produce output bytes (the caller splices), re-serialize or normalize markup,
/// use libxml2, give bytes at or above 0x80 any markup meaning (the charset is only assumed
/// ASCII-compatible), crash, loop or go quadratic on malformed input, or report a target it is
/// not sure of (when in doubt a link is left untracked, which is always safe). It never
/// decodes transfer encodings or charsets (callers hand it decoded bytes) and never does I/O.
///
/// Depends on `MailBytes` only (ASCII, the `memchr` search): no Foundation and no other module
/// of the project.
///
/// Decisions behind docs/SPEC.md §4.4–§4.7 (SparkPost's reference is silent on them):
/// - Targets keep their spelling (scheme and host case included); only character references are
///   decoded, ASCII whitespace trimmed and inner TAB/LF/CR removed (as the WHATWG URL parser
///   does). A target still holding other control bytes, an unknown `&name;`, a numeric reference
///   HTML5 would replace (NUL, surrogate, C1, > U+10FFFF) or invalid UTF-8 is not tracked.
/// - "Non-empty host": what remains of the authority after userinfo and port; `[]` is empty.
/// - VML buttons are tracked wherever they appear (Outlook renders them; outside a conditional
///   comment no other client shows them).
/// - `<html>`, `<body>` and `</body>` inside a non-downlevel-revealed `<!--[if …]>` block do not
///   count for the pixels: every client but Outlook sees a comment there. `<!--<![endif]-->`
///   also closes such a block (real templates do this).
/// - Raw text also covers `xmp`, `iframe`, `noembed`, `noframes`; `<plaintext>` ends the scan.
/// - `data-msys-clicktrack` / `-unsubscribe` values are compared after decoding and trimming;
///   an empty `data-msys-linkname` or `data-msys-sublink` counts as absent.
/// - Text: a URL may start after any byte that is not an ASCII letter or digit; `]` is trimmed
///   like `)` (only when unmatched, so `http://[::1]/` survives); annotations are searched after
///   the URL's raw run (so after trimmed punctuation, or after the `>` of `<url>`), several may
///   follow one URL, several attributes may share brackets, the first value of an attribute wins,
///   a bracket naming anything else (including `data-msys-linkname`) is not an annotation.

/// Where a tracked link was found.
public enum LinkSource: Sendable, Hashable {
    /// `href` of an `<a>` element.
    case anchor
    /// `href` of an `<area>` element.
    case area
    /// `href` of a VML button (`<v:roundrect>`, `<v:rect>`), typically inside `<!--[if mso]>`.
    case vml
    /// A URL in a plain-text part.
    case text
}

/// One link to track: the bytes to replace and what the link points to.
public struct FoundLink: Sendable, Hashable {
    /// Bytes to replace with the tracked URL: the attribute value WITHOUT its quotes (for an
    /// unquoted value, the value itself); for text, the URL itself.
    public var replaceRange: Range<Int>
    /// The value's quote byte (34 `"` or 39 `'`); nil for an unquoted value and for text.
    public var quote: UInt8?
    /// The absolute http/https target: trimmed, character references decoded (`&amp;`, `&#38;`,
    /// `&#x26;`, named basics), ASCII tab/LF/CR removed as browsers do. Always valid UTF-8.
    public var target: String
    /// `data-msys-linkname` (at most 63 UTF-8 bytes, cut at a scalar boundary), default `Raw URL`.
    public var name: String
    /// True when the element carries `data-msys-unsubscribe="1"`.
    public var isUnsubscribe: Bool
    /// The `data-msys-sublink` value, nil when absent or empty.
    public var sublink: String?
    /// Which construct the link came from.
    public var source: LinkSource

    /// Creates a found link (mostly for tests and callers that build links themselves).
    public init(
        replaceRange: Range<Int>, quote: UInt8?, target: String, name: String = FoundLink.defaultName,
        isUnsubscribe: Bool = false, sublink: String? = nil, source: LinkSource
    ) {
        self.replaceRange = replaceRange
        self.quote = quote
        self.target = target
        self.name = name
        self.isUnsubscribe = isUnsubscribe
        self.sublink = sublink
        self.source = source
    }

    /// The link name used when no `data-msys-linkname` is given (SparkPost's `Raw URL`).
    public static let defaultName = "Raw URL"
}

/// What `HTMLLinkScanner.scan` found in one HTML body.
public struct HTMLScanResult: Sendable, Hashable {
    /// Only the links to track, in document order (ranges sorted and disjoint).
    public var links: [FoundLink]
    /// Right after the first `<body …>` start tag's `>`; nil unless the document has both an
    /// `<html>` and a `<body>` start tag (outside comments, raw text and conditional comments).
    public var initialPixelOffset: Int?
    /// The `<` of the LAST `</body>` end tag; the end of the input when there is none.
    public var openPixelOffset: Int

    /// Creates a result.
    public init(links: [FoundLink], initialPixelOffset: Int?, openPixelOffset: Int) {
        self.links = links
        self.initialPixelOffset = initialPixelOffset
        self.openPixelOffset = openPixelOffset
    }
}

/// What `TextLinkScanner.scan` found in one plain-text body.
public struct TextScanResult: Sendable, Hashable {
    /// Links to track (source `.text`), in order.
    public var links: [FoundLink]
    /// `[[data-msys-…]]` annotations to delete (sorted, disjoint from each other and from link ranges).
    public var removals: [Range<Int>]

    /// Creates a result.
    public init(links: [FoundLink], removals: [Range<Int>]) {
        self.links = links
        self.removals = removals
    }
}

/// Every limit of the scanners, in one place.
public struct ScanLimits: Sendable, Hashable {
    /// Longest target (decoded bytes) that is tracked; longer links are left untouched. Default 4096.
    public var maxURLBytes = 4096
    /// Most links reported per body; later links are left untouched (pixels and annotation
    /// removals are still found). Default 10 000.
    public var maxLinks = 10_000
    /// Longest `data-msys-linkname` kept, in UTF-8 bytes (cut at a scalar boundary). Default 63.
    public var maxLinkNameBytes = 63
    /// Longest `[[…]]` text annotation recognized, brackets included; longer ones stay in the
    /// text. Bounds the look-ahead after each text URL so scanning stays linear. Default 512.
    public var maxAnnotationBytes = 512

    /// The defaults documented on each property.
    public init() {}
}
