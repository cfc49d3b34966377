import MailBytes

/// Quoted-printable decoding (RFC 2045 §6.7).
public enum QuotedPrintable {
    /// Lenient decoder (RFC 2045 §6.7 note): `=XX` (either case) becomes the byte; `=` followed by
    /// optional whitespace and a line break (CRLF or LF) or the end is a soft break and removed;
    /// any other `=` is kept literally; unencoded whitespace at the end of a line is removed
    /// (rule 3: transports may add it); hard line breaks are kept as they are (CRLF or LF).
    public static func decode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.withUnsafeBufferPointer { buf in
            // The output is never longer than the input.
            [UInt8](unsafeUninitializedCapacity: buf.count) { out, written in
                written = decode(buf, into: out)
            }
        }
    }

    /// Decodes `buf` into `out` (at least `buf.count` bytes); returns the number of bytes written.
    private static func decode(_ buf: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let n = buf.count
        var i = 0
        var w = 0
        // Where the current run of literal (unencoded) whitespace started in `out`; -1 if none.
        var literalWSStart = -1
        while i < n {
            let b = buf[i]
            switch b {
            case ASCII.equals:
                var j = i + 1
                while j < n && ASCII.isWSP(buf[j]) { j += 1 }
                if j == n {
                    i = n
                    continue
                }
                if buf[j] == ASCII.lf {
                    i = j + 1
                    continue
                }
                if buf[j] == ASCII.cr && j + 1 < n && buf[j + 1] == ASCII.lf {
                    i = j + 2
                    continue
                }
                literalWSStart = -1
                if i + 2 < n, let hi = ASCII.hexValue(buf[i + 1]), let lo = ASCII.hexValue(buf[i + 2]) {
                    out[w] = hi << 4 | lo
                    i += 3
                } else {
                    out[w] = b
                    i += 1
                }
                w += 1
            case ASCII.lf:
                if literalWSStart >= 0 { w = literalWSStart }
                literalWSStart = -1
                out[w] = b
                w += 1
                i += 1
            case ASCII.cr where i + 1 < n && buf[i + 1] == ASCII.lf:
                if literalWSStart >= 0 { w = literalWSStart }
                literalWSStart = -1
                out[w] = ASCII.cr
                out[w + 1] = ASCII.lf
                w += 2
                i += 2
            case ASCII.space, ASCII.tab:
                if literalWSStart < 0 { literalWSStart = w }
                out[w] = b
                w += 1
                i += 1
            default:
                literalWSStart = -1
                out[w] = b
                w += 1
                i += 1
                // The bytes that stand for themselves (most of a body) in a tight loop.
                while i < n {
                    let c = buf[i]
                    guard c > ASCII.space, c != ASCII.equals else { break }
                    out[w] = c
                    w += 1
                    i += 1
                }
            }
        }
        return w
    }
}

/// Incremental quoted-printable writer so that literal text and holes (ASCII tokens spliced
/// later) can be interleaved: the integrator writes literal segments, calls `softBreak()` before a
/// hole, records the output offset, then continues after the hole starting a new line.
///
/// Output rules: lines are at most `maxLineLength` bytes including the `=` of a soft break; an
/// `=XX` triplet is never split; `=`, bytes outside 33–126, and a space or tab that would end a
/// line are encoded; hard line breaks of the input (CRLF or LF) become `lineEnding`; a bare CR is
/// encoded `=0D`. The encoder never writes a line break of its own at the end.
public struct QuotedPrintableEncoder: Sendable {
    private var buffer: [UInt8] = []
    /// Bytes written on the current output line.
    public private(set) var column = 0
    private let eol: [UInt8]
    private let maxLineLength: Int
    private var pendingWhitespace: UInt8?
    private var pendingCR = false

    /// A writer producing `lineEnding` line breaks and lines of at most `maxLineLength` bytes
    /// (clamped to at least 4 so that a triplet and a soft break always fit).
    public init(lineEnding: LineEnding, maxLineLength: Int = 76) {
        self.eol = lineEnding.bytes
        self.maxLineLength = max(4, maxLineLength)
    }

    /// Everything written so far.
    public var output: [UInt8] { buffer }

    /// Moves the output out and clears it (the line state is kept).
    public mutating func takeOutput() -> [UInt8] {
        let result = buffer
        buffer = []
        return result
    }

    /// Encodes; hard line breaks in input (CRLF or LF) become lineEnding; trailing WSP before a
    /// break encoded.
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        buffer.reserveCapacity(buffer.count + bytes.count + bytes.count / 8)
        bytes.withUnsafeBufferPointer { src in
            var i = 0
            while i < src.count {
                if !pendingCR && pendingWhitespace == nil {
                    // Fast path: a run of bytes that stand for themselves, as much as fits the line.
                    let room = maxLineLength - 1 - column
                    var j = i
                    while j < src.count && j - i < room && Self.isLiteral(src[j]) { j += 1 }
                    if j > i {
                        buffer.append(contentsOf: UnsafeBufferPointer(rebasing: src[i..<j]))
                        column += j - i
                        i = j
                        continue
                    }
                }
                appendByte(src[i])
                i += 1
            }
        }
    }

    @inline(__always) private static func isLiteral(_ b: UInt8) -> Bool { b >= 33 && b <= 126 && b != ASCII.equals }

    /// `"="` + lineEnding unless at column 0 (pending whitespace and CR are written first).
    public mutating func softBreak() {
        flushPending()
        if column > 0 {
            buffer.append(ASCII.equals)
            buffer.append(contentsOf: eol)
            column = 0
        }
    }

    /// Reserves a hole for a token spliced in later and returns its offset in ``output``.
    ///
    /// Writes a soft break (unless at column 0), then `"="` + lineEnding: the token is inserted at
    /// the returned offset, so it sits alone on its own line, ended by a soft break, and literal
    /// text continues on a new line. The token must be printable ASCII without `=` and at most
    /// 996 bytes (RFC 5322's 998-octet line limit); it then decodes to itself. The offset is
    /// relative to the current ``output`` (``takeOutput()`` starts a new one).
    public mutating func reserveHole() -> Int {
        softBreak()
        let offset = buffer.count
        buffer.append(ASCII.equals)
        buffer.append(contentsOf: eol)
        column = 0
        return offset
    }

    /// Flushes pending state: a final space or tab is encoded (no trailing soft break needed).
    public mutating func finish() {
        if pendingCR {
            flushPending()
        } else if let ws = pendingWhitespace {
            pendingWhitespace = nil
            emitEncoded(ws)
        }
    }

    private mutating func flushPending() {
        if let ws = pendingWhitespace {
            pendingWhitespace = nil
            emitLiteral(ws)
        }
        if pendingCR {
            pendingCR = false
            emitEncoded(ASCII.cr)
        }
    }

    @inline(__always) private mutating func appendByte(_ b: UInt8) {
        if pendingCR {
            if b == ASCII.lf {
                pendingCR = false
                hardBreak()
                return
            }
            flushPending()
        }
        switch b {
        case ASCII.cr:
            pendingCR = true
        case ASCII.lf:
            hardBreak()
        case ASCII.space, ASCII.tab:
            if let ws = pendingWhitespace { emitLiteral(ws) }
            pendingWhitespace = b
        default:
            if let ws = pendingWhitespace {
                pendingWhitespace = nil
                emitLiteral(ws)
            }
            if Self.isLiteral(b) {
                emitLiteral(b)
            } else {
                emitEncoded(b)
            }
        }
    }

    /// A hard line break: whitespace right before it is encoded (RFC 2045 §6.7 rule 3).
    private mutating func hardBreak() {
        if let ws = pendingWhitespace {
            pendingWhitespace = nil
            emitEncoded(ws)
        }
        buffer.append(contentsOf: eol)
        column = 0
    }

    @inline(__always) private mutating func makeRoom(_ width: Int) {
        // Keep one column for the "=" of a soft break.
        if column + width > maxLineLength - 1 {
            buffer.append(ASCII.equals)
            buffer.append(contentsOf: eol)
            column = 0
        }
    }

    @inline(__always) private mutating func emitLiteral(_ b: UInt8) {
        makeRoom(1)
        buffer.append(b)
        column += 1
    }

    @inline(__always) private mutating func emitEncoded(_ b: UInt8) {
        makeRoom(3)
        buffer.append(ASCII.equals)
        buffer.append(ASCII.upperHexDigits[Int(b >> 4)])
        buffer.append(ASCII.upperHexDigits[Int(b & 0x0F)])
        column += 3
    }
}
