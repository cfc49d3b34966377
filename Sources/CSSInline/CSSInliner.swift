/// CSSInline owns `options.inline_css`: it applies the rules of a document's `<head>` style
/// sheets (plus optional extra CSS) to the `style` attributes of the elements they match, and
/// removes the rules it fully inlined from those sheets.
///
/// It parses HTML only through libxml2 (behind `CLibXML2`, which nothing else imports) to learn
/// the element tree, and answers with byte patches against the caller's bytes. It must never
/// re-serialize a document, never touch bytes outside the start tags it styles and the style
/// sheets it shrinks, never fetch anything (no `<link>`, no `@import`), and never crash on input.
///
/// Depends on `MailBytes` (ASCII, the `memchr` search) and on `CLibXML2`, the latter through
/// one `internal import` in `DocumentTree.swift`: no other
/// file calls libxml2, and libxml2 types never appear in the public API. Its own README
/// (`Sources/CSSInline/README.md`) describes the files, the worst case and conformance.

/// Every limit the inliner enforces. Exceeding one throws ``CSSInlineError``.
public struct CSSLimits: Sendable, Hashable {
    /// Largest HTML document accepted, in bytes. Default 64 MiB (libxml2 takes an `Int32` size).
    public var maxDocumentBytes: Int = 64 << 20
    /// Largest total CSS (all `<style>` elements plus the extra CSS), in bytes. Default 4 MiB.
    public var maxStylesheetBytes: Int = 4 << 20
    /// Most qualified rules across all sheets. Default 50 000.
    public var maxRules: Int = 50_000
    /// Most compound selectors in one complex selector (`a > b c` has 3). Default 32.
    public var maxSelectorCompounds: Int = 32
    /// Deepest nesting of `:not()` inside selectors. Default 8.
    public var maxSelectorNesting: Int = 8
    /// Most elements in a document. Default 1 000 000.
    public var maxElements: Int = 1_000_000
    /// Most selector matching work for one document, in steps: one step per rule offered to an
    /// element, per compound selector tested against an element, and per element walked while
    /// looking for an ancestor or earlier sibling. Matching is memoised per (element, compound),
    /// so work is at most linear in elements × compounds; past this limit the document is not
    /// inlined (``CSSInlineResult/skipped`` is ``CSSInlineSkipReason/workLimit``). Default
    /// 5 000 000 (about a quarter of a second in a release build on a loaded 2-core host); the
    /// HTML corpus needs at most 200 008 (the 1.9 MB css-inline benchmark page).
    public var maxMatchWork: Int = 5_000_000

    /// The defaults written on each property.
    public init() {}
}

/// Why inlining a document failed. Carries the byte offset in the document it refers to.
public struct CSSInlineError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case documentTooLarge
        case stylesheetTooLarge
        case tooManyRules
        case tooManyElements
        case parserUnavailable
        case workLimit
        case inconsistentMarkup
    }

    private let code: Code
    /// Byte offset in the HTML document the error refers to (0 when it concerns the whole input).
    public let offset: Int

    private init(_ code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// The document is larger than ``CSSLimits/maxDocumentBytes``.
    public static func documentTooLarge(size: Int) -> CSSInlineError { .init(.documentTooLarge, offset: size) }
    /// The style sheets are larger than ``CSSLimits/maxStylesheetBytes``; `offset` is where the
    /// limit was crossed.
    public static func stylesheetTooLarge(at offset: Int) -> CSSInlineError {
        .init(.stylesheetTooLarge, offset: offset)
    }
    /// More rules than ``CSSLimits/maxRules``.
    public static func tooManyRules(at offset: Int) -> CSSInlineError { .init(.tooManyRules, offset: offset) }
    /// More elements than ``CSSLimits/maxElements``.
    public static func tooManyElements(at offset: Int) -> CSSInlineError { .init(.tooManyElements, offset: offset) }
    /// libxml2 could not create a parser context (out of memory).
    public static var parserUnavailable: CSSInlineError { .init(.parserUnavailable, offset: 0) }
    /// Selector matching needed more than ``CSSLimits/maxMatchWork`` steps.
    public static var workLimit: CSSInlineError { .init(.workLimit, offset: 0) }
    /// The HTML parser and the style-element scanner disagree on where a sheet ends (a `<style>`
    /// never closed, closed by a misspelt tag, or mixed with comments and titles), so a style
    /// attribute would have to be patched inside a sheet's bytes: nothing is inlined.
    public static func inconsistentMarkup(at offset: Int) -> CSSInlineError {
        .init(.inconsistentMarkup, offset: offset)
    }

    /// Why the document was left as it came, as a value an event can carry.
    public var reason: CSSInlineSkipReason {
        switch code {
        case .documentTooLarge: return .documentTooLarge
        case .stylesheetTooLarge: return .stylesheetTooLarge
        case .tooManyRules: return .tooManyRules
        case .tooManyElements: return .tooManyElements
        case .parserUnavailable: return .parserUnavailable
        case .workLimit: return .workLimit
        case .inconsistentMarkup: return .inconsistentMarkup
        }
    }

    /// A one-line English description.
    public var description: String {
        switch code {
        case .documentTooLarge: return "CSS inlining: document of \(offset) bytes is too large"
        case .stylesheetTooLarge: return "CSS inlining: style sheets too large at byte \(offset)"
        case .tooManyRules: return "CSS inlining: too many CSS rules at byte \(offset)"
        case .tooManyElements: return "CSS inlining: too many elements at byte \(offset)"
        case .parserUnavailable: return "CSS inlining: libxml2 parser could not be created"
        case .workLimit: return "CSS inlining: selector matching work limit reached"
        case .inconsistentMarkup:
            return "CSS inlining: a style element's end is ambiguous at byte \(offset) (unclosed or misspelt)"
        }
    }
}

/// Why a document went out without inlining (one per limit of ``CSSLimits``).
public enum CSSInlineSkipReason: String, Sendable, Hashable, CaseIterable {
    case documentTooLarge = "document_too_large"
    case stylesheetTooLarge = "stylesheet_too_large"
    case tooManyRules = "too_many_rules"
    case tooManyElements = "too_many_elements"
    case parserUnavailable = "parser_unavailable"
    /// Selector matching needed more than ``CSSLimits/maxMatchWork`` steps.
    case workLimit = "work_limit"
    /// Markup libxml2 reads otherwise than the HTML tokenizer does: a style element whose end the
    /// parser and the sheet scanner see differently, or (checked by the pipeline) a document whose
    /// links would not be the same after inlining.
    case inconsistentMarkup = "inconsistent_markup"
}

/// What ``CSSInliner/inlineResult(_:charset:)`` gives: the document to send, and whether and
/// why inlining was skipped. It never fails: past any limit the bytes are the input unchanged.
public struct CSSInlineResult: Sendable, Hashable {
    /// The inlined document, or the input unchanged when ``skipped`` is set.
    public var bytes: [UInt8]
    /// Why inlining was not done (`nil` when it was, even if nothing needed changing).
    public var skipped: CSSInlineSkipReason?
    /// Selector matching steps used (see ``CSSLimits/maxMatchWork``).
    public var matchWork: Int

    /// Whether the inliner ran to completion.
    public var inlined: Bool { skipped == nil }

    public init(bytes: [UInt8], skipped: CSSInlineSkipReason?, matchWork: Int) {
        self.bytes = bytes
        self.skipped = skipped
        self.matchWork = matchWork
    }
}

/// One edit of the input: replace `range` of the original bytes with `replacement`.
public struct CSSPatch: Sendable, Hashable {
    /// Range in the original document.
    public var range: Range<Int>
    /// Bytes that take its place.
    public var replacement: [UInt8]

    /// A patch replacing `range` with `replacement`.
    public init(range: Range<Int>, replacement: [UInt8]) {
        self.range = range
        self.replacement = replacement
    }
}

/// Inlines CSS into HTML documents. A value: build once, use from any thread.
public struct CSSInliner: Sendable {
    /// Extra CSS applied after the document's own sheets (as bytes).
    public let extraCSS: [UInt8]?
    /// The limits in force.
    public let limits: CSSLimits

    /// An inliner that also applies `extraCSS` (after the document's sheets, so it wins ties).
    public init(extraCSS: String? = nil, limits: CSSLimits = CSSLimits()) {
        if let extraCSS, !extraCSS.isEmpty {
            self.extraCSS = Array(extraCSS.utf8)
        } else {
            self.extraCSS = nil
        }
        self.limits = limits
    }

    /// Byte patches (sorted, non-overlapping) that inline the document's `head > style` rules
    /// (plus extraCSS) into style attributes and remove fully inlined rules from the style
    /// elements. Empty when there is nothing to do (and then cheap: no libxml2 parse when the
    /// document has no <style> and no extraCSS).
    public func patches(for html: [UInt8]) throws(CSSInlineError) -> [CSSPatch] {
        try patches(for: html, charset: nil)
    }

    /// As ``patches(for:)``, for a document in `charset` (an ASCII-compatible IANA label; `nil`
    /// or any UTF-8 label means UTF-8). Offsets always refer to `html` as given.
    public func patches(for html: [UInt8], charset: String?) throws(CSSInlineError) -> [CSSPatch] {
        guard html.count <= limits.maxDocumentBytes, html.count < Int(Int32.max) else {
            throw .documentTooLarge(size: html.count)
        }
        if extraCSS == nil && !ByteScan.containsStyleTag(html) {
            return []
        }
        var engine = InlineEngine(html: html, extraCSS: extraCSS, limits: limits, charset: charset)
        return try engine.run()
    }

    /// As ``inline(_:charset:)``, but never throws: when a limit is reached the input comes
    /// back unchanged and the result says why (for the caller's event).
    public func inlineResult(_ html: [UInt8], charset: String? = nil) -> CSSInlineResult {
        guard html.count <= limits.maxDocumentBytes, html.count < Int(Int32.max) else {
            return CSSInlineResult(bytes: html, skipped: .documentTooLarge, matchWork: 0)
        }
        if extraCSS == nil && !ByteScan.containsStyleTag(html) {
            return CSSInlineResult(bytes: html, skipped: nil, matchWork: 0)
        }
        var engine = InlineEngine(html: html, extraCSS: extraCSS, limits: limits, charset: charset)
        do {
            let patches = try engine.run()
            return CSSInlineResult(bytes: CSSPatch.apply(patches, to: html), skipped: nil, matchWork: engine.matchWork)
        } catch {
            return CSSInlineResult(bytes: html, skipped: error.reason, matchWork: engine.matchWork)
        }
    }

    /// The input with the patches applied.
    public func inline(_ html: [UInt8]) throws(CSSInlineError) -> [UInt8] {
        try inline(html, charset: nil)
    }

    /// As ``inline(_:)`` for a document in `charset` (see ``patches(for:charset:)``).
    public func inline(_ html: [UInt8], charset: String?) throws(CSSInlineError) -> [UInt8] {
        let patches = try patches(for: html, charset: charset)
        return CSSPatch.apply(patches, to: html)
    }
}

extension CSSPatch {
    /// `bytes` with `patches` (sorted, non-overlapping) applied.
    public static func apply(_ patches: [CSSPatch], to bytes: [UInt8]) -> [UInt8] {
        if patches.isEmpty { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + patches.reduce(0) { $0 + $1.replacement.count })
        var position = 0
        for patch in patches {
            let lower = min(max(patch.range.lowerBound, position), bytes.count)
            out.append(contentsOf: bytes[position..<lower])
            out.append(contentsOf: patch.replacement)
            position = min(max(patch.range.upperBound, lower), bytes.count)
        }
        out.append(contentsOf: bytes[position...])
        return out
    }
}
