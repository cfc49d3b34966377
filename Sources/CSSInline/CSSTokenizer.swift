/// CSS Syntax Level 3 tokenization (§4) over bytes. Tokens are ranges into the source;
/// comments are skipped (their bytes stay inside the ranges of the constructs around them).

/// The kinds of token of CSS Syntax Level 3 §4 (comments are dropped).
enum CSSTokenKind: UInt8, Sendable {
    case ident, function, atKeyword, hash, string, badString, url, badURL, delim
    case number, percentage, dimension, whitespace, cdo, cdc
    case colon, semicolon, comma, openSquare, closeSquare, openParen, closeParen, openCurly, closeCurly
}

/// One token: its kind and where it lies in the source. `flag` is set for a hash token whose
/// value would start an identifier ("id" type).
struct CSSToken: Sendable, Hashable {
    var kind: CSSTokenKind
    /// Set for a hash token whose value would start an identifier.
    var flag: Bool
    // 32-bit offsets keep a token at 12 bytes: sheets are limited to far less than 2 GiB.
    private var start32: Int32
    private var end32: Int32

    var start: Int { Int(start32) }
    var end: Int { Int(end32) }

    init(kind: CSSTokenKind, start: Int, end: Int, flag: Bool = false) {
        self.kind = kind
        self.flag = flag
        self.start32 = Int32(truncatingIfNeeded: start)
        self.end32 = Int32(truncatingIfNeeded: end)
    }
}

/// Tokenizes `bytes[range]`. Never fails: bad input becomes bad-string, bad-url or delim tokens,
/// as a browser would recover.
struct CSSTokenizer {
    /// Valid only during ``tokenize(_:range:)``; every read is below `end`, itself within it.
    private let bytes: UnsafeBufferPointer<UInt8>
    fileprivate var position: Int
    fileprivate let end: Int

    private init(bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        self.bytes = bytes
        self.position = max(0, range.lowerBound)
        self.end = min(range.upperBound, bytes.count)
    }

    /// All tokens of the range.
    static func tokenize(_ bytes: [UInt8], range: Range<Int>) -> [CSSToken] {
        bytes.withUnsafeBufferPointer { buffer in
            var tokenizer = CSSTokenizer(bytes: buffer, range: range)
            var tokens: [CSSToken] = []
            tokens.reserveCapacity(range.count / 4)
            while let token = tokenizer.next() {
                tokens.append(token)
            }
            return tokens
        }
    }

    /// All tokens of the range, in `tokens` (emptied first, its storage reused).
    static func tokenize(_ bytes: [UInt8], range: Range<Int>, into tokens: inout [CSSToken]) {
        tokens.removeAll(keepingCapacity: true)
        bytes.withUnsafeBufferPointer { buffer in
            var tokenizer = CSSTokenizer(bytes: buffer, range: range)
            while let token = tokenizer.next() {
                tokens.append(token)
            }
        }
    }

    /// The tokens of the range, except that the content of each top-level `{}` block (one opened
    /// outside any bracket, as ``StylesheetParser/parse(selectors:ruleBudget:)`` sees them) is
    /// left out when ``BlockSkipper`` can find its closing `}`: its `{` and `}` tokens are kept
    /// (the `{` token's `flag` telling whether a `{` opens right inside it), and the content is
    /// tokenized later only for the rules that need their declarations. Most of a sheet's
    /// bytes are declarations of rules that match nothing.
    static func tokenizeSkippingBlocks(_ bytes: [UInt8], range: Range<Int>) -> [CSSToken] {
        bytes.withUnsafeBufferPointer { buffer in
            var tokenizer = CSSTokenizer(bytes: buffer, range: range)
            var tokens: [CSSToken] = []
            tokens.reserveCapacity(range.count / 16)
            var stack = BracketStack()
            while let token = tokenizer.next() {
                switch token.kind {
                case .openCurly:
                    if stack.isEmpty,
                        let (close, nested) = BlockSkipper.close(buffer, from: token.end, end: tokenizer.end)
                    {
                        tokens.append(CSSToken(kind: .openCurly, start: token.start, end: token.end, flag: nested))
                        tokens.append(CSSToken(kind: .closeCurly, start: close, end: close + 1))
                        tokenizer.position = close + 1
                        continue
                    }
                    stack.push(1)
                case .openSquare: stack.push(2)
                case .openParen, .function: stack.push(3)
                case .closeCurly: stack.close(1)
                case .closeSquare: stack.close(2)
                case .closeParen: stack.close(3)
                default: break
                }
                tokens.append(token)
            }
            return tokens
        }
    }

    private func peek(_ offset: Int = 0) -> UInt8? {
        let index = position + offset
        return index < end ? bytes[index] : nil
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
    }

    private static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || byte >= 0x80
    }

    /// Name code points below 0x80 as bit sets: `-`, digits (0x2D, 0x30...0x39) and letters, `_`.
    private static let nameBitsLow: UInt64 = 0x03FF_2000_0000_0000
    private static let nameBitsHigh: UInt64 = 0x07FF_FFFE_87FF_FFFE

    @inline(__always) private static func isName(_ byte: UInt8) -> Bool {
        if byte >= 0x80 { return true }
        if byte < 0x40 { return (nameBitsLow >> UInt64(byte)) & 1 != 0 }
        return (nameBitsHigh >> UInt64(byte - 0x40)) & 1 != 0
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isNewline(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D || byte == 0x0C }

    /// §4.3.8: a backslash not followed by a newline.
    private func isValidEscape(at offset: Int) -> Bool {
        guard peek(offset) == 0x5C else { return false }
        guard let next = peek(offset + 1) else { return true }  // `\` at EOF escapes U+FFFD
        return !Self.isNewline(next)
    }

    /// §4.3.9: would the next three code points start an ident sequence?
    private func startsIdent(at offset: Int) -> Bool {
        guard let first = peek(offset) else { return false }
        if first == 0x2D {
            guard let second = peek(offset + 1) else { return false }
            return Self.isNameStart(second) || second == 0x2D || isValidEscape(at: offset + 1)
        }
        if Self.isNameStart(first) { return true }
        return isValidEscape(at: offset)
    }

    /// §4.3.10: would the next three code points start a number?
    private func startsNumber(at offset: Int) -> Bool {
        guard let first = peek(offset) else { return false }
        if first == 0x2B || first == 0x2D {
            guard let second = peek(offset + 1) else { return false }
            if Self.isDigit(second) { return true }
            return second == 0x2E && peek(offset + 2).map(Self.isDigit) == true
        }
        if first == 0x2E { return peek(offset + 1).map(Self.isDigit) == true }
        return Self.isDigit(first)
    }

    /// Skips comments; returns false when the source is exhausted.
    private mutating func skipComments() {
        while position + 1 < end, bytes[position] == 0x2F, bytes[position + 1] == 0x2A {
            var index = position + 2
            while index + 1 < end, !(bytes[index] == 0x2A && bytes[index + 1] == 0x2F) {
                index += 1
            }
            position = index + 1 < end ? index + 2 : end
        }
    }

    /// §4.3.7: consumes an escape after the backslash was consumed.
    private mutating func consumeEscape() {
        guard let first = peek() else { return }
        if Hex.value(first) != nil {
            var count = 0
            while count < 6, let byte = peek(), Hex.value(byte) != nil {
                position += 1
                count += 1
            }
            if let byte = peek(), Self.isWhitespace(byte) {
                position += (byte == 0x0D && peek(1) == 0x0A) ? 2 : 1
            }
        } else {
            position += UTF8Length.of(first)
            position = min(position, end)
        }
    }

    /// §4.3.11: consumes an ident sequence.
    private mutating func consumeName() {
        // The position is kept in a local so the common loop stays in registers.
        var cursor = position
        while cursor < end {
            let byte = bytes[cursor]
            if Self.isName(byte) {
                cursor += 1
                continue
            }
            guard byte == 0x5C else { break }
            position = cursor
            guard isValidEscape(at: 0) else { break }
            position += 1
            consumeEscape()
            cursor = position
        }
        position = cursor
    }

    /// §4.3.12: consumes a number.
    private mutating func consumeNumber() {
        if let byte = peek(), byte == 0x2B || byte == 0x2D { position += 1 }
        while let byte = peek(), Self.isDigit(byte) { position += 1 }
        if peek() == 0x2E, let next = peek(1), Self.isDigit(next) {
            position += 2
            while let byte = peek(), Self.isDigit(byte) { position += 1 }
        }
        if let e = peek(), e == 0x45 || e == 0x65 {
            if let next = peek(1), Self.isDigit(next) {
                position += 2
            } else if let sign = peek(1), sign == 0x2B || sign == 0x2D, let digit = peek(2), Self.isDigit(digit) {
                position += 3
            } else {
                return
            }
            while let byte = peek(), Self.isDigit(byte) { position += 1 }
        }
    }

    /// §4.3.3: consumes a numeric token.
    private mutating func consumeNumeric(from start: Int) -> CSSToken {
        consumeNumber()
        if startsIdent(at: 0) {
            consumeName()
            return CSSToken(kind: .dimension, start: start, end: position)
        }
        if peek() == 0x25 {
            position += 1
            return CSSToken(kind: .percentage, start: start, end: position)
        }
        return CSSToken(kind: .number, start: start, end: position)
    }

    /// §4.3.5: consumes a string token after the opening quote.
    private mutating func consumeString(quote: UInt8, from start: Int) -> CSSToken {
        while let byte = peek() {
            if byte == quote {
                position += 1
                return CSSToken(kind: .string, start: start, end: position)
            }
            if Self.isNewline(byte) {
                return CSSToken(kind: .badString, start: start, end: position)
            }
            if byte == 0x5C {
                guard let next = peek(1) else {
                    position += 1
                    break
                }
                if Self.isNewline(next) {
                    position += (next == 0x0D && peek(2) == 0x0A) ? 3 : 2
                } else {
                    position += 1
                    consumeEscape()
                }
                continue
            }
            position += 1
        }
        return CSSToken(kind: .string, start: start, end: position)  // EOF: parse error, still a string
    }

    /// §4.3.6: consumes a url token after `url(` and its whitespace.
    private mutating func consumeURL(from start: Int) -> CSSToken {
        while let byte = peek() {
            if byte == 0x29 {
                position += 1
                return CSSToken(kind: .url, start: start, end: position)
            }
            if Self.isWhitespace(byte) {
                while let next = peek(), Self.isWhitespace(next) { position += 1 }
                if peek() == 0x29 || peek() == nil {
                    if peek() != nil { position += 1 }
                    return CSSToken(kind: .url, start: start, end: position)
                }
                return consumeBadURL(from: start)
            }
            if byte == 0x22 || byte == 0x27 || byte == 0x28 || byte < 0x09 || byte == 0x0B
                || (byte >= 0x0E && byte <= 0x1F) || byte == 0x7F
            {
                return consumeBadURL(from: start)
            }
            if byte == 0x5C {
                if isValidEscape(at: 0) {
                    position += 1
                    consumeEscape()
                    continue
                }
                return consumeBadURL(from: start)
            }
            position += 1
        }
        return CSSToken(kind: .url, start: start, end: position)
    }

    /// §4.3.14: consumes the remnants of a bad url.
    private mutating func consumeBadURL(from start: Int) -> CSSToken {
        while let byte = peek() {
            if byte == 0x29 {
                position += 1
                break
            }
            if isValidEscape(at: 0) {
                position += 1
                consumeEscape()
            } else {
                position += 1
            }
        }
        return CSSToken(kind: .badURL, start: start, end: position)
    }

    /// §4.3.4: consumes an ident-like token.
    private mutating func consumeIdentLike(from start: Int) -> CSSToken {
        consumeName()
        guard peek() == 0x28 else { return CSSToken(kind: .ident, start: start, end: position) }
        let isURL =
            position - start == 3 && (bytes[start] | 0x20) == 0x75 && (bytes[start + 1] | 0x20) == 0x72
            && (bytes[start + 2] | 0x20) == 0x6C
        position += 1
        guard isURL else { return CSSToken(kind: .function, start: start, end: position) }
        var look = position
        while look < end, Self.isWhitespace(bytes[look]) { look += 1 }
        if look < end, bytes[look] == 0x22 || bytes[look] == 0x27 {
            return CSSToken(kind: .function, start: start, end: position)
        }
        position = look
        return consumeURL(from: start)
    }

    /// §4.3.1: consumes the next token, or nil at the end of input.
    mutating func next() -> CSSToken? {
        skipComments()
        guard let byte = peek() else { return nil }
        let start = position
        if Self.isWhitespace(byte) {
            var cursor = position + 1
            while cursor < end && Self.isWhitespace(bytes[cursor]) { cursor += 1 }
            position = cursor
            return CSSToken(kind: .whitespace, start: start, end: position)
        }
        switch byte {
        case 0x22, 0x27:
            position += 1
            return consumeString(quote: byte, from: start)
        case 0x23:
            if let next = peek(1), Self.isName(next) || isValidEscape(at: 1) {
                position += 1
                let isID = startsIdent(at: 0)
                consumeName()
                return CSSToken(kind: .hash, start: start, end: position, flag: isID)
            }
        case 0x28: return single(.openParen, start)
        case 0x29: return single(.closeParen, start)
        case 0x2B, 0x2E:
            if startsNumber(at: 0) { return consumeNumeric(from: start) }
        case 0x2C: return single(.comma, start)
        case 0x2D:
            if startsNumber(at: 0) { return consumeNumeric(from: start) }
            if peek(1) == 0x2D && peek(2) == 0x3E {
                position += 3
                return CSSToken(kind: .cdc, start: start, end: position)
            }
            if startsIdent(at: 0) { return consumeIdentLike(from: start) }
        case 0x3A: return single(.colon, start)
        case 0x3B: return single(.semicolon, start)
        case 0x3C:
            if peek(1) == 0x21 && peek(2) == 0x2D && peek(3) == 0x2D {
                position += 4
                return CSSToken(kind: .cdo, start: start, end: position)
            }
        case 0x40:
            if startsIdent(at: 1) {
                position += 1
                consumeName()
                return CSSToken(kind: .atKeyword, start: start, end: position)
            }
        case 0x5B: return single(.openSquare, start)
        case 0x5C:
            if isValidEscape(at: 0) { return consumeIdentLike(from: start) }
        case 0x5D: return single(.closeSquare, start)
        case 0x7B: return single(.openCurly, start)
        case 0x7D: return single(.closeCurly, start)
        default:
            if Self.isDigit(byte) { return consumeNumeric(from: start) }
            if Self.isNameStart(byte) { return consumeIdentLike(from: start) }
        }
        position += UTF8Length.of(byte)
        position = min(position, end)
        return CSSToken(kind: .delim, start: start, end: position)
    }

    private mutating func single(_ kind: CSSTokenKind, _ start: Int) -> CSSToken {
        position += 1
        return CSSToken(kind: kind, start: start, end: position)
    }
}

/// Hex digit values.
enum Hex {
    static func value(_ byte: UInt8) -> UInt32? {
        switch byte {
        case 0x30...0x39: return UInt32(byte - 0x30)
        case 0x41...0x46: return UInt32(byte - 0x41 + 10)
        case 0x61...0x66: return UInt32(byte - 0x61 + 10)
        default: return nil
        }
    }
}

/// Length of a UTF-8 sequence from its lead byte (1 for stray continuation bytes).
enum UTF8Length {
    static func of(_ lead: UInt8) -> Int {
        if lead < 0xC0 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }
}

/// Decoding of CSS escapes in identifiers and strings.
enum CSSValue {
    /// The value of an ident-like run `bytes[range]` with escapes resolved (§4.3.7).
    static func unescape(_ bytes: [UInt8], _ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            let byte = bytes[index]
            guard byte == 0x5C, index + 1 < end else {
                out.append(byte)
                index += 1
                continue
            }
            index += 1
            let next = bytes[index]
            if next == 0x0A || next == 0x0C || next == 0x0D {
                index += 1  // escaped newline inside a string: line continuation
                continue
            }
            if Hex.value(next) != nil {
                var scalar: UInt32 = 0
                var count = 0
                while count < 6, index < end, let digit = Hex.value(bytes[index]) {
                    scalar = scalar << 4 | digit
                    index += 1
                    count += 1
                }
                if index < end, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A {
                    index += 1
                }
                let valid = scalar != 0 && scalar <= 0x10FFFF && !(0xD800...0xDFFF).contains(scalar)
                let unicode = Unicode.Scalar(valid ? scalar : 0xFFFD) ?? "\u{FFFD}"
                out.append(contentsOf: String(Character(unicode)).utf8)
            } else {
                out.append(next)
                index += 1
            }
        }
        return out
    }

    /// The value of a string token (quotes removed, escapes resolved).
    static func stringValue(_ bytes: [UInt8], _ token: CSSToken) -> [UInt8] {
        var lower = token.start + 1
        var upper = token.end
        if upper > lower, bytes[upper - 1] == bytes[token.start], upper - 1 >= lower {
            upper -= 1
        }
        lower = min(lower, upper)
        return unescape(bytes, lower..<upper)
    }
}

/// Open brackets as ``StylesheetParser/matchingClose(_:_:nestedBlock:)`` counts them (1 `{`,
/// 2 `[`, 3 `(` or a function): a closer that is not the innermost opener's is ignored.
struct BracketStack {
    private var packed: UInt64 = 0
    private(set) var depth = 0
    private var spill: [UInt8] = []

    var isEmpty: Bool { depth == 0 }

    mutating func push(_ code: UInt8) {
        if depth >= 32 {
            spill.append(code)
        } else {
            packed = packed << 2 | UInt64(code)
        }
        depth += 1
    }

    /// Pops when `code` is the innermost opener's.
    mutating func close(_ code: UInt8) {
        guard depth > 0 else { return }
        let top = depth > 32 ? spill[spill.count - 1] : UInt8(truncatingIfNeeded: packed & 3)
        guard top == code else { return }
        if depth > 32 {
            spill.removeLast()
        } else {
            packed >>= 2
        }
        depth -= 1
    }
}

/// Finds the end of a `{}` block by its bytes, reading comments, strings and escapes exactly as
/// ``CSSTokenizer`` does, so that its brackets are the tokenizer's.
enum BlockSkipper {
    @inline(__always) private static func isNewline(_ byte: UInt8) -> Bool {
        byte == 0x0A || byte == 0x0D || byte == 0x0C
    }

    @inline(__always) private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
    }

    /// After a valid escape's backslash at `index - 1`: where the escape ends (§4.3.7).
    private static func skipEscape(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int, _ end: Int) -> Int {
        guard index < end else { return index }
        guard Hex.value(bytes[index]) != nil else { return min(index + UTF8Length.of(bytes[index]), end) }
        var cursor = index
        var count = 0
        while count < 6, cursor < end, Hex.value(bytes[cursor]) != nil {
            cursor += 1
            count += 1
        }
        if cursor < end, isWhitespace(bytes[cursor]) {
            cursor += (bytes[cursor] == 0x0D && cursor + 1 < end && bytes[cursor + 1] == 0x0A) ? 2 : 1
        }
        return cursor
    }

    /// The offset of the `}` closing the block whose `{` ends at `start`, and whether a `{`
    /// opens right inside it; nil when the block runs to the end, or holds an unquoted `url(`
    /// whose text has a quote, bracket, backslash or `/*` (a url token reads those as text).
    static func close(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, end: Int) -> (Int, Bool)? {
        var stack = BracketStack()
        stack.push(1)
        var nested = false
        var index = start
        while index < end {
            let byte = bytes[index]
            switch byte {
            case 0x2F:
                guard index + 1 < end, bytes[index + 1] == 0x2A else { break }
                var cursor = index + 2
                while cursor + 1 < end && !(bytes[cursor] == 0x2A && bytes[cursor + 1] == 0x2F) { cursor += 1 }
                guard cursor + 1 < end else { return nil }
                index = cursor + 2
                continue
            case 0x22, 0x27:
                var cursor = index + 1
                while cursor < end {
                    let inner = bytes[cursor]
                    if inner == byte {
                        cursor += 1
                        break
                    }
                    if isNewline(inner) { break }
                    if inner == 0x5C {
                        guard cursor + 1 < end else { return nil }
                        let next = bytes[cursor + 1]
                        if isNewline(next) {
                            cursor += (next == 0x0D && cursor + 2 < end && bytes[cursor + 2] == 0x0A) ? 3 : 2
                        } else {
                            cursor = skipEscape(bytes, cursor + 1, end)
                        }
                        continue
                    }
                    cursor += 1
                }
                index = cursor
                continue
            case 0x5C:
                guard index + 1 < end else { return nil }
                index = isNewline(bytes[index + 1]) ? index + 1 : skipEscape(bytes, index + 1, end)
                continue
            case 0x28:
                if index >= 3 && (bytes[index - 3] | 0x20) == 0x75 && (bytes[index - 2] | 0x20) == 0x72
                    && (bytes[index - 1] | 0x20) == 0x6C && !plainURL(bytes, index + 1, end)
                {
                    return nil
                }
                stack.push(3)
            case 0x5B: stack.push(2)
            case 0x7B:
                if stack.depth == 1 { nested = true }
                stack.push(1)
            case 0x29: stack.close(3)
            case 0x5D: stack.close(2)
            case 0x7D:
                stack.close(1)
                if stack.isEmpty { return (index, nested) }
            default: break
            }
            index += 1
        }
        return nil
    }

    /// Whether what follows `url(` reads the same as a url token and as a function's arguments:
    /// a quoted argument, or text up to `)` without quote, bracket, backslash or `/*`.
    private static func plainURL(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var cursor = start
        while cursor < end && isWhitespace(bytes[cursor]) { cursor += 1 }
        if cursor < end && (bytes[cursor] == 0x22 || bytes[cursor] == 0x27) { return true }
        while cursor < end {
            switch bytes[cursor] {
            case 0x29: return true
            case 0x22, 0x27, 0x28, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D: return false
            case 0x2F where cursor + 1 < end && bytes[cursor + 1] == 0x2A: return false
            default: cursor += 1
            }
        }
        return false
    }
}
