import MIME
import MailBytes

/// Strict RFC 8259 JSON parser over bytes that are already known to be valid UTF-8.
///
/// Iterative (an explicit stack of open containers), so input nesting never touches the call
/// stack; nesting beyond `maxDepth` is refused. Object member order is kept and duplicate keys
/// are refused. Strings that consist only of RFC 2047 encoded-words are decoded as they are
/// read, so duplicate detection and every later length check see the decoded text.
struct JSONParser {
    private let input: UnsafeBufferPointer<UInt8>
    private let maxDepth: Int
    private var index = 0

    /// One open array or object.
    private struct Frame {
        var isObject: Bool
        var elements: [JSONValue] = []
        var members: [JSONMember] = []
        var keys = SmallStringSet()
        var pendingKey = ""
    }

    init(input: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.input = input
        self.maxDepth = maxDepth
    }

    /// Parses the whole input as one JSON text: ws value ws.
    static func parse(_ input: UnsafeBufferPointer<UInt8>, maxDepth: Int) throws(SMTPAPIError) -> JSONValue {
        var parser = JSONParser(input: input, maxDepth: maxDepth)
        return try parser.parseText()
    }

    // MARK: - Bytes

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let comma = UInt8(ascii: ",")
    private static let colon = UInt8(ascii: ":")
    private static let openBrace = UInt8(ascii: "{")
    private static let closeBrace = UInt8(ascii: "}")
    private static let openBracket = UInt8(ascii: "[")
    private static let closeBracket = UInt8(ascii: "]")

    private func peek() -> UInt8? { index < input.count ? input[index] : nil }

    /// ws = *( %x20 / %x09 / %x0A / %x0D )
    private mutating func skipWhitespace() {
        while index < input.count {
            switch input[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func error(_ what: String, at offset: Int) -> SMTPAPIError {
        SMTPAPIError.syntax(what, at: offset, in: input)
    }

    private func unexpectedEnd() -> SMTPAPIError { error("unexpected end of input", at: input.count) }

    /// What to say about a byte where a value was expected.
    private func unexpected(_ byte: UInt8, expecting: String) -> SMTPAPIError {
        switch byte {
        case UInt8(ascii: "'"): return error("strings must use double quotes, not single quotes", at: index)
        case UInt8(ascii: "/"), UInt8(ascii: "#"): return error("comments are not allowed", at: index)
        default:
            let shown = byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "?"
            return error("unexpected character '\(shown)', expected \(expecting)", at: index)
        }
    }

    // MARK: - Text

    private mutating func parseText() throws(SMTPAPIError) -> JSONValue {
        skipWhitespace()
        guard index < input.count else { throw SMTPAPIError.emptyValue }
        let value = try parseValueTree()
        skipWhitespace()
        if let byte = peek() {
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "#") {
                throw error("comments are not allowed", at: index)
            }
            throw error("unexpected data after the JSON value", at: index)
        }
        return value
    }

    /// value = false / null / true / object / array / number / string
    /// Containers are opened on `stack` instead of recursing.
    private mutating func parseValueTree() throws(SMTPAPIError) -> JSONValue {
        var stack: [Frame] = []
        while true {
            skipWhitespace()
            guard let byte = peek() else { throw unexpectedEnd() }
            var value: JSONValue
            switch byte {
            case JSONParser.openBrace, JSONParser.openBracket:
                guard stack.count < maxDepth else {
                    throw error("nesting deeper than \(maxDepth) levels", at: index)
                }
                let isObject = byte == JSONParser.openBrace
                index += 1
                skipWhitespace()
                if peek() == (isObject ? JSONParser.closeBrace : JSONParser.closeBracket) {
                    index += 1
                    value = isObject ? .object([]) : .array([])
                } else {
                    var frame = Frame(isObject: isObject)
                    if isObject {
                        frame.pendingKey = try parseKey(into: &frame.keys)
                    }
                    stack.append(frame)
                    continue
                }
            case JSONParser.quote:
                value = .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                value = try parseLiteral()
            default:
                throw unexpected(byte, expecting: "a JSON value")
            }

            // Attach the finished value to the innermost open container, closing containers
            // for as long as their closing bracket follows.
            while let top = stack.indices.last {
                skipWhitespace()
                if stack[top].isObject {
                    stack[top].members.append(JSONMember(key: stack[top].pendingKey, value: value))
                    guard let next = peek() else { throw unexpectedEnd() }
                    if next == JSONParser.comma {
                        let commaOffset = index
                        index += 1
                        skipWhitespace()
                        if peek() == JSONParser.closeBrace {
                            throw error("trailing comma before '}'", at: commaOffset)
                        }
                        stack[top].pendingKey = try parseKey(into: &stack[top].keys)
                        break
                    } else if next == JSONParser.closeBrace {
                        index += 1
                        value = .object(stack[top].members)
                        stack.removeLast()
                    } else if next == UInt8(ascii: "/") || next == UInt8(ascii: "#") {
                        throw error("comments are not allowed", at: index)
                    } else {
                        throw error("expected ',' or '}' after object member", at: index)
                    }
                } else {
                    stack[top].elements.append(value)
                    guard let next = peek() else { throw unexpectedEnd() }
                    if next == JSONParser.comma {
                        let commaOffset = index
                        index += 1
                        skipWhitespace()
                        if peek() == JSONParser.closeBracket {
                            throw error("trailing comma before ']'", at: commaOffset)
                        }
                        break
                    } else if next == JSONParser.closeBracket {
                        index += 1
                        value = .array(stack[top].elements)
                        stack.removeLast()
                    } else if next == UInt8(ascii: "/") || next == UInt8(ascii: "#") {
                        throw error("comments are not allowed", at: index)
                    } else {
                        throw error("expected ',' or ']' after array element", at: index)
                    }
                }
            }
            if stack.isEmpty { return value }
        }
    }

    /// member = string name-separator value — this reads `string name-separator`, refusing a
    /// key already present in the object (`keys`).
    private mutating func parseKey(into keys: inout SmallStringSet) throws(SMTPAPIError) -> String {
        skipWhitespace()
        guard let byte = peek() else { throw unexpectedEnd() }
        guard byte == JSONParser.quote else {
            if byte == UInt8(ascii: "'") {
                throw error("object keys must use double quotes, not single quotes", at: index)
            }
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "#") {
                throw error("comments are not allowed", at: index)
            }
            if byte == JSONParser.closeBrace || byte == JSONParser.comma {
                throw unexpected(byte, expecting: "an object key")
            }
            throw error("object keys must be double-quoted strings", at: index)
        }
        let keyOffset = index
        let key = try parseString()
        guard keys.insert(key) else {
            throw error("duplicate key '\(ReplyText.sanitized(key, maxCharacters: 64))'", at: keyOffset)
        }
        skipWhitespace()
        guard let separator = peek() else { throw unexpectedEnd() }
        guard separator == JSONParser.colon else { throw error("expected ':' after object key", at: index) }
        index += 1
        return key
    }

    /// true / false / null, exactly (lower case).
    private mutating func parseLiteral() throws(SMTPAPIError) -> JSONValue {
        let start = index
        var end = index
        while end < input.count {
            let byte = input[end]
            let isWordByte =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
            guard isWordByte else { break }
            end += 1
        }
        let word = UnsafeBufferPointer(rebasing: input[start..<end])
        let value: JSONValue
        if word.elementsEqual("true".utf8) {
            value = .bool(true)
        } else if word.elementsEqual("false".utf8) {
            value = .bool(false)
        } else if word.elementsEqual("null".utf8) {
            value = .null
        } else {
            throw error("invalid literal (strings must be double-quoted; literals are true, false, null)", at: start)
        }
        index = end
        return value
    }

    /// number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT );
    /// frac = decimal-point 1*DIGIT; exp = e [ minus / plus ] 1*DIGIT
    private mutating func parseNumber() throws(SMTPAPIError) -> String {
        let start = index
        func isDigit(_ byte: UInt8?) -> Bool {
            guard let byte else { return false }
            return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard isDigit(peek()) else { throw error("expected a digit in number", at: index) }
        if peek() == UInt8(ascii: "0") {
            index += 1
            if isDigit(peek()) { throw error("leading zeros are not allowed in numbers", at: start) }
        } else {
            while isDigit(peek()) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard isDigit(peek()) else { throw error("expected a digit after the decimal point", at: index) }
            while isDigit(peek()) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard isDigit(peek()) else { throw error("expected a digit in the exponent", at: index) }
            while isDigit(peek()) { index += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: input[start..<index]), as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// Reads the four hex digits of a `\u` escape whose backslash is at `escapeOffset`.
    private mutating func readHex4(escapeOffset: Int) throws(SMTPAPIError) -> UInt32 {
        guard index + 4 <= input.count else { throw error("incomplete \\u escape", at: escapeOffset) }
        var value: UInt32 = 0
        for offset in index..<(index + 4) {
            guard let digit = JSONParser.hexValue(input[offset]) else {
                throw error("invalid \\u escape: expected four hex digits", at: escapeOffset)
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    /// string = quotation-mark *char quotation-mark, escapes resolved, then decoded when the
    /// whole string is RFC 2047 encoded-words.
    private mutating func parseString() throws(SMTPAPIError) -> String {
        let openingQuote = index
        index += 1
        let contentStart = index
        // Fast path: no escapes.
        while index < input.count {
            let byte = input[index]
            if byte == JSONParser.quote {
                let content = UnsafeBufferPointer(rebasing: input[contentStart..<index])
                index += 1
                return JSONParser.finish(content)
            }
            if byte == JSONParser.backslash { break }
            if byte < 0x20 { throw controlCharacter(byte) }
            index += 1
        }
        guard index < input.count else { throw error("unterminated string", at: openingQuote) }

        var buffer = Array(UnsafeBufferPointer(rebasing: input[contentStart..<index]))
        while index < input.count {
            let byte = input[index]
            if byte == JSONParser.quote {
                index += 1
                return buffer.withUnsafeBufferPointer { JSONParser.finish($0) }
            }
            if byte < 0x20 { throw controlCharacter(byte) }
            guard byte == JSONParser.backslash else {
                buffer.append(byte)
                index += 1
                continue
            }
            let escapeOffset = index
            index += 1
            guard let escaped = peek() else { break }
            index += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escaped)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                var scalarValue = try readHex4(escapeOffset: escapeOffset)
                if scalarValue >= 0xDC00 && scalarValue <= 0xDFFF {
                    throw error("lone low surrogate in \\u escape", at: escapeOffset)
                }
                if scalarValue >= 0xD800 && scalarValue <= 0xDBFF {
                    let lowOffset = index
                    guard index + 1 < input.count, input[index] == JSONParser.backslash,
                        input[index + 1] == UInt8(ascii: "u")
                    else { throw error("lone high surrogate in \\u escape", at: escapeOffset) }
                    index += 2
                    let low = try readHex4(escapeOffset: lowOffset)
                    guard low >= 0xDC00 && low <= 0xDFFF else {
                        throw error("lone high surrogate in \\u escape", at: escapeOffset)
                    }
                    scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(scalarValue) else {
                    throw error("invalid \\u escape", at: escapeOffset)
                }
                buffer.append(contentsOf: String(Character(scalar)).utf8)
            default:
                let shown = escaped >= 0x20 && escaped < 0x7F ? String(UnicodeScalar(escaped)) : "?"
                throw error("invalid escape '\\\(shown)'", at: escapeOffset)
            }
        }
        throw error("unterminated string", at: openingQuote)
    }

    private func controlCharacter(_ byte: UInt8) -> SMTPAPIError {
        let hex = String(byte, radix: 16, uppercase: true)
        return error("unescaped control character U+\(hex.count < 2 ? "000" : "00")\(hex) in string", at: index)
    }

    /// The string's text: RFC 2047-decoded when it is made only of encoded-words.
    private static func finish(_ content: UnsafeBufferPointer<UInt8>) -> String {
        if let decoded = EncodedWord.decodeIfEntirely(content) { return decoded }
        return String(decoding: content, as: UTF8.self)
    }
}
