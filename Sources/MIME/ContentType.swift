import MailBytes

/// A parsed `Content-Type` (RFC 2045 §5, RFC 2231 parameters).
public struct ContentType: Sendable, Hashable {
    /// One parameter: name lower-cased, value unquoted (RFC 2231 sections joined and decoded).
    public struct Parameter: Sendable, Hashable {
        /// Lower-cased parameter name (without RFC 2231 `*` suffixes).
        public var name: String
        /// The value: quoted-string unescaped, RFC 2231 percent-decoding and charset applied.
        public var value: String

        /// Creates a parameter.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Lower-cased media type, e.g. `text`.
    public var type: String
    /// Lower-cased subtype, e.g. `html`.
    public var subtype: String
    /// Parameters in order of first appearance, one per name (first occurrence wins; an RFC 2231
    /// extended value wins over a plain one of the same name).
    public var parameters: [Parameter]

    /// Creates a content type.
    public init(type: String, subtype: String, parameters: [Parameter] = []) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// `text/plain` with no parameters: the RFC 2045 default (charset us-ascii implied).
    public static let textPlain = ContentType(type: "text", subtype: "plain")
    /// `message/rfc822`: the default inside `multipart/digest` (RFC 2046 §5.1.5).
    public static let messageRFC822 = ContentType(type: "message", subtype: "rfc822")

    /// The value of the parameter named `lowercasedName`, if present.
    public func parameter(_ lowercasedName: String) -> String? {
        parameters.first { $0.name == lowercasedName }?.value
    }

    /// The charset label, lower-cased and trimmed, as given (not validated, not mapped).
    public var charset: String? {
        guard let value = parameter("charset") else { return nil }
        let trimmed = String(decoding: trimWSP(Array(value.utf8)[...]), as: UTF8.self).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The multipart boundary, exactly as given (case preserved); nil when absent or empty.
    public var boundary: String? {
        guard let value = parameter("boundary"), !value.isEmpty else { return nil }
        return value
    }

    /// `type/subtype`.
    public var mimeType: String { type + "/" + subtype }

    /// Whether the type is `multipart`.
    public var isMultipart: Bool { type == "multipart" }

    /// Parses a Content-Type field value (folds allowed). Nil when there is no valid
    /// `type "/" subtype` (callers then use the RFC 2045 default, `text/plain`).
    public static func parse(_ value: ArraySlice<UInt8>) -> ContentType? {
        value.withUnsafeBufferPointer { parse($0) }
    }

    static func parse(_ value: UnsafeBufferPointer<UInt8>) -> ContentType? {
        var scanner = StructuredValueScanner(value)
        guard let type = scanner.token(), scanner.consume(ASCII.slash), let subtype = scanner.token() else {
            return nil
        }
        return ContentType(type: type, subtype: subtype, parameters: scanner.parameters())
    }
}

/// A parsed `Content-Disposition` (RFC 2183, RFC 2231 parameters).
public struct ContentDisposition: Sendable, Hashable {
    /// Lower-cased disposition type, e.g. `inline` or `attachment`.
    public var type: String
    /// Parameters, same rules as ``ContentType/parameters``.
    public var parameters: [ContentType.Parameter]

    /// Creates a disposition.
    public init(type: String, parameters: [ContentType.Parameter] = []) {
        self.type = type
        self.parameters = parameters
    }

    /// The value of the parameter named `lowercasedName`, if present.
    public func parameter(_ lowercasedName: String) -> String? {
        parameters.first { $0.name == lowercasedName }?.value
    }

    /// Parses a Content-Disposition field value; nil when it has no type token.
    public static func parse(_ value: ArraySlice<UInt8>) -> ContentDisposition? {
        value.withUnsafeBufferPointer { parse($0) }
    }

    static func parse(_ value: UnsafeBufferPointer<UInt8>) -> ContentDisposition? {
        var scanner = StructuredValueScanner(value)
        guard let type = scanner.token() else { return nil }
        return ContentDisposition(type: type, parameters: scanner.parameters())
    }
}

/// Content-Transfer-Encoding (RFC 2045 §6).
public enum TransferEncoding: Sendable, Hashable {
    /// `7bit` (also the default when the field is absent or empty).
    case sevenBit
    /// `8bit`.
    case eightBit
    /// `binary`.
    case binary
    /// `quoted-printable`.
    case quotedPrintable
    /// `base64`.
    case base64
    /// Anything else, lower-cased and trimmed (e.g. `x-uuencode`); bodies are left as they are.
    case other(String)

    /// Parses a field value (case-insensitive, whitespace and comments ignored).
    public static func parse(_ value: ArraySlice<UInt8>) -> TransferEncoding {
        value.withUnsafeBufferPointer { parse($0) }
    }

    static func parse(_ value: UnsafeBufferPointer<UInt8>) -> TransferEncoding {
        var scanner = StructuredValueScanner(value)
        guard let token = scanner.token() else { return .sevenBit }
        switch token {
        case "7bit": return .sevenBit
        case "8bit": return .eightBit
        case "binary": return .binary
        case "quoted-printable": return .quotedPrintable
        case "base64": return .base64
        case let other: return .other(other)
        }
    }

    /// The token written in a Content-Transfer-Encoding field.
    public var token: String {
        switch self {
        case .sevenBit: return "7bit"
        case .eightBit: return "8bit"
        case .binary: return "binary"
        case .quotedPrintable: return "quoted-printable"
        case .base64: return "base64"
        case .other(let s): return s
        }
    }
}

func trimWSP(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var lo = bytes.startIndex
    var hi = bytes.endIndex
    while lo < hi && ASCII.isFWS(bytes[lo]) { lo += 1 }
    while hi > lo && ASCII.isFWS(bytes[hi - 1]) { hi -= 1 }
    return bytes[lo..<hi]
}

/// Scanner for RFC 2045 structured values: tokens, quoted-strings, comments, parameters.
/// Lenient where real mail needs it (see each method).
struct StructuredValueScanner {
    /// Only used within the call that created the scanner (never escapes).
    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// RFC 2045 tspecials plus space and controls end a token.
    @inline(__always) private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0...0x20, 0x7F: return false
        case 0x28, 0x29, 0x3C, 0x3E, 0x40, 0x2C, 0x3B, 0x3A, 0x5C, 0x22, 0x2F, 0x5B, 0x5D, 0x3F, 0x3D:
            return false
        default: return true
        }
    }

    /// Skips folding whitespace and (nested) comments; a counter, not recursion, tracks nesting.
    mutating func skipCFWS() {
        while i < bytes.count {
            let b = bytes[i]
            if ASCII.isFWS(b) {
                i += 1
            } else if b == ASCII.leftParen {
                var depth = 0
                while i < bytes.count {
                    let c = bytes[i]
                    if c == ASCII.backslash {
                        i += 2
                        continue
                    }
                    if c == ASCII.leftParen { depth += 1 }
                    if c == ASCII.rightParen {
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            break
                        }
                    }
                    i += 1
                }
                i = min(i, bytes.count)
            } else {
                return
            }
        }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipCFWS()
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    /// A token, ASCII lower-cased.
    mutating func token() -> String? {
        skipCFWS()
        let start = i
        while i < bytes.count && Self.isTokenByte(bytes[i]) { i += 1 }
        guard i > start else { return nil }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<i])
        if !raw.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: raw.map(ASCII.lower), as: UTF8.self)
    }

    /// quoted-string with `\` escapes; an unterminated string runs to the end of the value.
    private mutating func quotedString() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        i += 1  // opening quote
        while i < bytes.count {
            let b = bytes[i]
            if b == ASCII.quote {
                i += 1
                return out
            }
            if b == ASCII.backslash && i + 1 < bytes.count {
                out.append(bytes[i + 1])
                i += 2
                continue
            }
            if b != ASCII.cr && b != ASCII.lf { out.append(b) }
            i += 1
        }
        return out
    }

    /// Lenient unquoted value: everything up to `;` or whitespace, so that unquoted values with
    /// tspecials (`name=a(1).txt`, `boundary==_abc`) survive (seen in enmime's corpus).
    private mutating func unquotedValue() -> [UInt8] {
        let start = i
        while i < bytes.count && bytes[i] != ASCII.semicolon && !ASCII.isFWS(bytes[i]) { i += 1 }
        return Array(bytes[start..<i])
    }

    private mutating func skipToSemicolon() {
        while i < bytes.count && bytes[i] != ASCII.semicolon {
            if bytes[i] == ASCII.quote {
                _ = quotedString()
            } else {
                i += 1
            }
        }
    }

    private struct Section {
        var number: Int
        var extended: Bool
        var value: [UInt8]
    }

    /// One parameter name as collected: its plain value and/or its RFC 2231 sections.
    private struct Collected {
        var name: [UInt8]
        var plain: [UInt8]?
        var sections: [Section] = []
    }

    /// Finds collected parameters by name: a linear search while there are few (the usual case,
    /// no hashing), a dictionary once there are many so that hostile fields stay linear.
    private struct NameIndex {
        private static let linearLimit = 16
        private var names: [[UInt8]: Int]?

        func find(_ name: [UInt8], in collected: [Collected]) -> Int? {
            if let names { return names[name] }
            return collected.firstIndex { $0.name == name }
        }

        /// Records that `name` (not collected yet) goes at `position`, i.e. `collected.count`.
        mutating func add(_ name: [UInt8], at position: Int, collected: [Collected]) {
            if names == nil && position >= Self.linearLimit {
                var built: [[UInt8]: Int] = [:]
                for (k, entry) in collected.enumerated() { built[entry.name] = k }
                names = built
            }
            names?[name] = position
        }
    }

    /// `*(";" parameter)` with RFC 2231 continuations (`name*0`, `name*1*`) and extended values
    /// (`name*=charset'lang'%xx`). Lenient: a missing `;` is tolerated, words without `=` and
    /// stray bytes are skipped.
    mutating func parameters() -> [ContentType.Parameter] {
        var collected: [Collected] = []
        var index = NameIndex()
        while true {
            skipCFWS()
            guard i < bytes.count else { break }
            if bytes[i] == ASCII.semicolon {
                i += 1
                continue
            }
            // A parameter, also when its ";" is missing (`multipart/mixed boundary=x`, seen in
            // stalwart's malformed corpus).
            var name: [UInt8] = []
            var star = -1
            while i < bytes.count && bytes[i] != ASCII.equals && bytes[i] != ASCII.semicolon
                && !ASCII.isFWS(bytes[i])
            {
                if star < 0 && bytes[i] == ASCII.star { star = name.count }
                name.append(ASCII.lower(bytes[i]))
                i += 1
            }
            if name.isEmpty {
                skipToSemicolon()
                continue
            }
            guard consume(ASCII.equals) else { continue }
            skipCFWS()
            let value: [UInt8]
            if i < bytes.count && bytes[i] == ASCII.quote {
                value = quotedString()
            } else {
                value = unquotedValue()
            }
            if star >= 0 {
                // RFC 2231 §3–4: name*, name*N, name*N*
                guard star > 0 else { continue }
                var rest = name[(star + 1)...]
                var extended = false
                if rest.last == ASCII.star {
                    extended = true
                    rest = rest.dropLast()
                }
                var number = 0
                if rest.isEmpty {
                    extended = true  // "name*" alone
                } else if rest.count <= 3, rest.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    for d in rest { number = number * 10 + Int(d - 0x30) }
                } else {
                    continue
                }
                let base = Array(name[..<star])
                let section = Section(number: number, extended: extended, value: value)
                if let k = index.find(base, in: collected) {
                    collected[k].sections.append(section)
                } else {
                    index.add(base, at: collected.count, collected: collected)
                    collected.append(Collected(name: base, plain: nil, sections: [section]))
                }
            } else if let k = index.find(name, in: collected) {
                if collected[k].plain == nil { collected[k].plain = value }
            } else {
                index.add(name, at: collected.count, collected: collected)
                collected.append(Collected(name: name, plain: value))
            }
        }
        return collected.map { entry in
            let value: String
            if !entry.sections.isEmpty {
                value = Self.joinRFC2231(entry.sections)
            } else {
                value = String(decoding: entry.plain ?? [], as: UTF8.self)
            }
            return ContentType.Parameter(name: String(decoding: entry.name, as: UTF8.self), value: value)
        }
    }

    private static func joinRFC2231(_ parts: [Section]) -> String {
        let sorted = parts.enumerated().sorted { ($0.element.number, $0.offset) < ($1.element.number, $1.offset) }
        var charset = ""
        var out: [UInt8] = []
        var seen = Set<Int>()
        for (_, part) in sorted where seen.insert(part.number).inserted {
            var value = part.value[...]
            if part.extended && part.number == 0 {
                // charset'language'value
                if let q1 = value.firstIndex(of: ASCII.apostrophe),
                    let q2 = value[(q1 + 1)...].firstIndex(of: ASCII.apostrophe)
                {
                    charset = String(decoding: value[..<q1], as: UTF8.self).lowercased()
                    value = value[(q2 + 1)...]
                }
            }
            if part.extended {
                percentDecode(value, into: &out)
            } else {
                out.append(contentsOf: value)
            }
        }
        return decodeCharset(out, label: charset) ?? String(decoding: out, as: UTF8.self)
    }

    private static func percentDecode(_ value: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var k = value.startIndex
        while k < value.endIndex {
            let b = value[k]
            if b == ASCII.percent, k + 2 < value.endIndex, let hi = ASCII.hexValue(value[k + 1]),
                let lo = ASCII.hexValue(value[k + 2])
            {
                out.append(hi << 4 | lo)
                k += 3
                continue
            }
            out.append(b)
            k += 1
        }
    }
}
