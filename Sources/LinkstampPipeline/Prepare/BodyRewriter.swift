import CSSInline
import LinkScan
import MIME
import MailBytes
import SMTPAPI
import Tracking

/// Rewrites the tracked body parts of one message, once: decodes the part, inlines CSS, finds
/// links and pixel points, computes the per-message link tokens, and re-encodes the result as
/// pieces with holes for the recipient token.
struct BodyRewriter {
    struct Result {
        var edits: [Edit] = []
        /// Fields to add to the top-level header when the rewritten part is the message itself.
        var topHeaderAddition: [UInt8] = []
        /// Why the part was left as it came although tracking or inlining was asked for; nil
        /// when it was rewritten (or had nothing to rewrite).
        var untrackedReason: String?
        /// Why `inline_css` was asked for but not done (a CSSInline limit or ambiguous markup).
        var cssInlineSkipped: CSSInlineSkipReason?
    }

    /// A replacement inside a part's decoded content. A struct rather than a tuple: an array of
    /// `(Range<Int>, [Piece])` makes its metadata at run time, and with it a conformance lookup
    /// (`Int: Comparable`) that a filter process pays at start-up.
    struct PendingEdit {
        var range: Range<Int>
        var pieces: [Piece]

        init(_ range: Range<Int>, _ pieces: [Piece]) {
            self.range = range
            self.pieces = pieces
        }
    }

    let input: [UInt8]
    let options: EffectiveOptions
    let scanLimits: ScanLimits
    let cssLimits: CSSLimits
    let mint: TokenMint
    /// Add the invisible scanner-trap link to HTML parts (`scanner_trap_link`).
    let scannerTrapLink: Bool
    let transmissionID: UInt64
    let lineEnding: [UInt8]
    /// Length of the longest recipient token any copy of this message can carry.
    let maxTokenLength: Int
    /// Link indexes are unique across the message's parts.
    var nextLinkIndex = 0

    /// The message token and its `/`, written after every URL's route (empty with placeholder tokens).
    let messageSegment: String

    init(
        input: [UInt8], options: EffectiveOptions, scanLimits: ScanLimits, cssLimits: CSSLimits, mint: TokenMint,
        scannerTrapLink: Bool, transmissionID: UInt64, lineEnding: [UInt8], maxTokenLength: Int,
        messageToken: String = ""
    ) {
        self.messageSegment = messageToken.isEmpty ? "" : messageToken + "/"
        self.maxTokenLength = maxTokenLength
        self.input = input
        self.options = options
        self.scanLimits = scanLimits
        self.cssLimits = cssLimits
        self.mint = mint
        self.scannerTrapLink = scannerTrapLink
        self.transmissionID = transmissionID
        self.lineEnding = lineEnding
    }

    /// The opening of SparkPost's `initial_open` block, up to the pixel URL.
    static let initialPixelHead = Array(
        ("<div style=\"color:transparent;visibility:hidden;opacity:0;font-size:0px;border:0;max-height:1px;"
            + "width:1px;margin:0px;padding:0px;border-width:0px!important;display:none!important;"
            + "line-height:0px!important;\"><img border=\"0\" width=\"1\" height=\"1\" src=\"").utf8)
    static let initialPixelTail = Array("\" alt=\"\"/></div>".utf8)
    static let openPixelHead = Array("<img border=\"0\" width=\"1\" height=\"1\" alt=\"\" src=\"".utf8)
    static let openPixelTail = Array("\">".utf8)

    /// The same links, in order: targets, names, unsubscribe marks and sublinks.
    static func sameLinks(_ a: [FoundLink], _ b: [FoundLink]) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy {
                $0.target == $1.target && $0.name == $1.name && $0.isUnsubscribe == $1.isUnsubscribe
                    && $0.sublink == $1.sublink
            }
    }

    /// A sender-supplied token quoted in a reason: no control characters, at most 64 characters.
    static func quoted(_ token: String) -> String {
        let safe = Transmission.headerSafe(token)
        return safe.count <= 64 ? safe : String(safe.prefix(64)) + "..."
    }

    /// Charsets whose bytes are not ASCII-compatible: links cannot be found at byte level, so
    /// such parts are left alone.
    static func isASCIICompatible(_ charset: String?) -> Bool {
        guard let charset = charset?.lowercased() else { return true }
        return
            !(charset.hasPrefix("utf-16") || charset.hasPrefix("utf-32") || charset.hasPrefix("ucs-2")
            || charset.hasPrefix("ucs-4") || charset == "utf16" || charset == "utf32")
    }

    mutating func rewrite(_ part: MIMEPart, isHTML: Bool) throws(SMTPReply) -> Result {
        let click = isHTML ? options.clickTracking : options.textClickTracking
        let open = options.openTracking && isHTML
        let inline = options.inlineCSS && isHTML
        guard click || open || inline else { return Result() }
        // RFC 2045 §6.4: a body in an unknown transfer encoding is opaque; it goes out as it came.
        guard Transmission.isRewritable(part.transferEncoding) else {
            return Result(untrackedReason: "unknown transfer encoding \(Self.quoted(part.transferEncoding.token))")
        }
        guard BodyRewriter.isASCIICompatible(part.contentType.charset) else {
            return Result(
                untrackedReason: "charset \(Self.quoted(part.contentType.charset ?? "")) is not ASCII-compatible")
        }
        let decoded: [UInt8]
        if part.transferEncoding == .base64 {
            // A body that is not really base64 cannot be decoded faithfully: leave it as it came.
            guard let strict = Base64.decodeIfValid(input[part.bodyRange]) else {
                return Result(untrackedReason: "body is not valid base64")
            }
            decoded = strict
        } else {
            decoded = TransferCoding.decode(input[part.bodyRange], part.transferEncoding)
        }
        var content = decoded
        var cssInlineSkipped: CSSInlineSkipReason?
        if inline {
            // A stylesheet the inliner cannot handle must not bounce the mail: it goes out as written.
            let inlined = CSSInliner(limits: cssLimits).inlineResult(decoded, charset: part.contentType.charset)
            content = inlined.bytes
            cssInlineSkipped = inlined.skipped
        }

        var edits: [PendingEdit] = []
        if isHTML {
            var scan = HTMLLinkScanner.scan(content, limits: scanLimits)
            if inline, content != decoded {
                // Inlining writes style attributes where libxml2 saw start tags. Where it reads
                // broken markup otherwise than the HTML tokenizer does (a quote left open in an
                // attribute, a fuzzer's find), an attribute could land inside what the link
                // scanner reads as a link's target: a copy would then carry a target that is not
                // in the message. The links must be the same with and without inlining, or the
                // part goes out as written (`inline_css_skipped`).
                let original = HTMLLinkScanner.scan(decoded, limits: scanLimits)
                if !Self.sameLinks(original.links, scan.links) {
                    content = decoded
                    scan = original
                    cssInlineSkipped = .inconsistentMarkup
                }
            }
            if open, options.initialPixel, let offset = scan.initialPixelOffset {
                edits.append(
                    PendingEdit(
                        offset..<offset,
                        [
                            .bytes(Self.initialPixelHead + (mint.urls.initialOpenURLPrefix + messageSegment).utf8),
                            .bodyToken(softBreak: nil, kind: .initialOpen), .bytes(Self.initialPixelTail),
                        ]
                    ))
            }
            if click {
                for link in scan.links { edits.append(PendingEdit(link.replaceRange, try clickPieces(for: link))) }
            }
            // The scanner trap (issue 11) goes where the open pixel goes, in the same edit.
            let trap = click && scannerTrapLink ? try trapLinkPieces() : []
            if open {
                let offset = scan.openPixelOffset
                edits.append(
                    PendingEdit(
                        offset..<offset,
                        trap + [
                            .bytes(Self.openPixelHead + (mint.urls.openURLPrefix + messageSegment).utf8),
                            .bodyToken(softBreak: nil, kind: .open), .bytes(Self.openPixelTail),
                        ]
                    ))
            } else if !trap.isEmpty {
                edits.append(PendingEdit(scan.openPixelOffset..<scan.openPixelOffset, trap))
            }
        } else if click {
            let scan = TextLinkScanner.scan(content, limits: scanLimits)
            for link in scan.links { edits.append(PendingEdit(link.replaceRange, try clickPieces(for: link))) }
            // An annotation goes with the blanks between it and its URL, so no trailing blank is left.
            for removal in scan.removals {
                var lower = removal.lowerBound
                while lower > 0, content[lower - 1] == 0x20 || content[lower - 1] == 0x09 { lower -= 1 }
                edits.append(PendingEdit(lower..<removal.upperBound, []))
            }
        }
        if edits.isEmpty && content == decoded { return Result(cssInlineSkipped: cssInlineSkipped) }

        // The part's new decoded content, as literal bytes and token holes.
        edits.sort { $0.range.lowerBound < $1.range.lowerBound }
        // Without inlining, a 7bit, 8bit or binary body's content is the input's body bytes:
        // literal stretches then refer to the input instead of being copied.
        let contentIsInput = !inline && Transmission.isIdentity(part.transferEncoding)
        let base = part.bodyRange.lowerBound
        func literal(_ range: Range<Int>) -> Piece {
            contentIsInput ? .input(base + range.lowerBound..<base + range.upperBound) : .bytes(Array(content[range]))
        }
        var pieces: [Piece] = []
        pieces.reserveCapacity(2 * edits.count + 1)
        var cursor = 0
        for edit in edits where edit.range.lowerBound >= cursor {
            if edit.range.lowerBound > cursor { pieces.append(literal(cursor..<edit.range.lowerBound)) }
            pieces += edit.pieces
            cursor = edit.range.upperBound
        }
        if cursor < content.count { pieces.append(literal(cursor..<content.count)) }

        var result = Result(cssInlineSkipped: cssInlineSkipped)
        let keepsEncoding = keepsIdentityEncoding(part.transferEncoding, pieces: pieces, original: decoded)
        var body: [Piece] = keepsEncoding ? pieces : quotedPrintable(pieces, lineEnding: part.header.lineEnding)
        // A header block that ended without its empty line (at a line that is not a field, or
        // at the end of the input) gets one when its body is re-encoded, or when an empty body
        // gains content: quoted-printable could turn the line that ended the header into a field
        // (`Date\0: …` becomes the valid `Date=00: …`) and move the header's end. A body that
        // keeps its encoding keeps its first line's bytes before any link, so it stays as it came.
        if part.header.separatorRange == nil && (!keepsEncoding || part.bodyRange.isEmpty) {
            body.insert(.bytes(lineEnding), at: 0)
        }
        if part.bodyRange.isEmpty {
            // A body that was empty gains content (a pixel): inside a multipart it needs a line
            // break of its own before the next delimiter (the one before it was the header's).
            if part.parent != nil { body.append(.bytes(lineEnding)) }
        }
        result.edits.append(Edit(range: part.bodyRange, pieces: body, layer: .body))
        if !keepsEncoding {
            let field = Array("Content-Transfer-Encoding: quoted-printable".utf8) + lineEnding
            if let existing = part.header.first("content-transfer-encoding", in: input) {
                result.edits.append(Edit(range: existing.range, pieces: [.bytes(field)]))
            } else if part.index == 0 {
                result.topHeaderAddition = field
            } else {
                let end = part.header.range.upperBound
                let lacksBreak = end > 0 && input[end - 1] != 0x0A
                result.edits.append(Edit(range: end..<end, pieces: [.bytes((lacksBreak ? lineEnding : []) + field)]))
            }
        }
        return result
    }

    /// `https://<domain>/f/a/<link token>/` followed by the recipient's token.
    mutating func clickPieces(for link: FoundLink) throws(SMTPReply) -> [Piece] {
        let info = LinkInfo(
            transmissionID: transmissionID, index: nextLinkIndex, target: link.target, name: link.name,
            isUnsubscribe: link.isUnsubscribe, sublink: link.sublink)
        nextLinkIndex += 1
        let token = try mint.linkToken(info, placeholder: "L")
        let prefix = mint.urls.clickURLPrefix(linkToken: token, sublink: link.sublink) + messageSegment
        return [.bytes(Array(prefix.utf8)), .bodyToken(softBreak: nil, kind: .click)]
    }

    /// 7bit, 8bit and binary parts keep their encoding while every line, with the longest
    /// possible token in each hole, stays within 998 octets (RFC 5322 §2.1.1) and a 7bit part
    /// gains no 8-bit byte. Otherwise (and always for quoted-printable and base64 parts) the part
    /// is written quoted-printable.
    func keepsIdentityEncoding(_ encoding: TransferEncoding, pieces: [Piece], original: [UInt8]) -> Bool {
        switch encoding {
        case .sevenBit, .eightBit, .binary: break
        default: return false
        }
        let tokenLength = maxTokenLength
        let checksEightBit = encoding == .sevenBit
        var lineLength = 0
        var hasEightBit = false
        for piece in pieces {
            switch piece {
            case .bytes(let bytes):
                let fits = bytes.withUnsafeBufferPointer { buffer in
                    LineMeasure.fits(buffer, lineLength: &lineLength, limit: 998)
                }
                if !fits { return false }
                if checksEightBit && !hasEightBit {
                    hasEightBit = bytes.withUnsafeBufferPointer { LineMeasure.hasEightBitByte($0) }
                }
            case .input(let range):
                let fits = input.withUnsafeBufferPointer { whole in
                    LineMeasure.fits(UnsafeBufferPointer(rebasing: whole[range]), lineLength: &lineLength, limit: 998)
                }
                if !fits { return false }
                if checksEightBit && !hasEightBit {
                    hasEightBit = input.withUnsafeBufferPointer {
                        LineMeasure.hasEightBitByte(UnsafeBufferPointer(rebasing: $0[range]))
                    }
                }
            case .bodyToken:
                lineLength += tokenLength
                if lineLength > 998 { return false }
            case .copyHeaders: break
            }
        }
        if checksEightBit, hasEightBit, !original.withUnsafeBufferPointer({ LineMeasure.hasEightBitByte($0) }) {
            return false
        }
        return true
    }

    /// Encodes literal pieces quoted-printable; each hole starts on a fresh line and the token is
    /// cut into soft-broken lines when rendered, so no token can break the 76-octet limit.
    func quotedPrintable(_ pieces: [Piece], lineEnding: LineEnding) -> [Piece] {
        var encoder = QuotedPrintableEncoder(lineEnding: lineEnding)
        var out: [Piece] = []
        let softBreak: [UInt8] = [UInt8(ascii: "=")] + lineEnding.bytes
        for piece in pieces {
            switch piece {
            case .bytes(let bytes): encoder.append(bytes[...])
            case .input(let range): encoder.append(input[range])
            case .bodyToken(_, let kind):
                encoder.softBreak()
                out.append(.bytes(encoder.takeOutput()))
                out.append(.bodyToken(softBreak: softBreak, kind: kind))
            case .copyHeaders: break
            }
        }
        encoder.finish()
        out.append(.bytes(encoder.takeOutput()))
        return out
    }
}

/// Line lengths and 8-bit bytes of prepared bytes, measured with `memchr` and word-at-a-time
/// loads rather than byte by byte (every rewritten part's bytes pass through here once).
enum LineMeasure {
    /// Adds the bytes of `buffer` to the line being measured: `lineLength` counts the bytes of
    /// the current line other than CR (the part of a line before `buffer` comes in, the part of
    /// the last line of `buffer` goes out) and restarts after every LF. False as soon as a line
    /// is longer than `limit`.
    static func fits(_ buffer: UnsafeBufferPointer<UInt8>, lineLength: inout Int, limit: Int) -> Bool {
        let n = buffer.count
        var start = 0
        while true {
            let lineFeed = buffer.firstOffset(of: ASCII.lf, from: start, to: n)
            let end = lineFeed ?? n
            // A line that ends here and fits with its CRs counted fits without: count them only
            // when it would not, or when the line goes on into the next bytes.
            if lineFeed == nil || lineLength + (end - start) > limit {
                lineLength += end - start - crCount(buffer, start..<end)
                if lineLength > limit { return false }
            }
            guard let lineFeed else { return true }
            lineLength = 0
            start = lineFeed + 1
        }
    }

    /// The CR bytes in `buffer[range]` (usually one, at the end of the line).
    @inline(__always)
    static func crCount(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        var count = 0
        var from = range.lowerBound
        while let cr = buffer.firstOffset(of: ASCII.cr, from: from, to: range.upperBound) {
            count += 1
            from = cr + 1
        }
        return count
    }

    /// Whether any byte is 0x80 or above, eight bytes at a time.
    static func hasEightBitByte(_ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = buffer.baseAddress else { return false }
        let raw = UnsafeRawPointer(base)
        let n = buffer.count
        var i = 0
        var any: UInt64 = 0
        while i + 32 <= n {
            any |=
                raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                | raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                | raw.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
                | raw.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
            if any & 0x8080_8080_8080_8080 != 0 { return true }
            i += 32
        }
        while i + 8 <= n {
            any |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        if any & 0x8080_8080_8080_8080 != 0 { return true }
        while i < n {
            if base[i] >= 0x80 { return true }
            i += 1
        }
        return false
    }
}
