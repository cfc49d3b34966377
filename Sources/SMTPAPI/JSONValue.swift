/// Ordered JSON value (object member order kept; numbers kept as their lexeme).
///
/// Values produced by `JSONParser` are at most `APILimits.maxNestingDepth` deep; the
/// synthesized `==`/`hash` recurse, so do not build values nested thousands deep by hand.
public indirect enum JSONValue: Hashable, Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, kept exactly as written (RFC 8259 number grammar), e.g. `"-1.50e3"`.
    case number(String)
    /// A string, escapes resolved (and RFC 2047 encoded-words decoded, when parsed).
    case string(String)
    /// An array, in order.
    case array([JSONValue])
    /// An object, members in the order they were written.
    case object([JSONMember])

    /// Compact RFC 8259 serialization (no spaces; member order kept; only ", \\ and
    /// control chars escaped; non-ASCII written as raw UTF-8).
    public func serialized() -> String {
        var out: [UInt8] = []
        JSONSerializer.write(self, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// One member of a JSON object: its key and value.
public struct JSONMember: Hashable, Sendable {
    /// The member's name.
    public var key: String
    /// The member's value.
    public var value: JSONValue

    /// Creates a member.
    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// Writes `JSONValue`s as compact JSON with an explicit stack (no recursion).
package enum JSONSerializer {
    private enum Task {
        case value(JSONValue)
        case member(JSONMember)
        case byte(UInt8)
    }

    package static func write(_ root: JSONValue, into out: inout [UInt8]) {
        var tasks: [Task] = [.value(root)]
        while let task = tasks.popLast() {
            switch task {
            case .byte(let byte):
                out.append(byte)
            case .member(let member):
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                tasks.append(.value(member.value))
            case .value(let value):
                switch value {
                case .null: out.append(contentsOf: "null".utf8)
                case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
                case .number(let lexeme): out.append(contentsOf: lexeme.utf8)
                case .string(let text): writeString(text, into: &out)
                case .array(let elements):
                    out.append(UInt8(ascii: "["))
                    tasks.append(.byte(UInt8(ascii: "]")))
                    // Pushed in reverse so they pop in order (by index: no array of pairs).
                    var position = elements.endIndex
                    while position > elements.startIndex {
                        position -= 1
                        tasks.append(.value(elements[position]))
                        if position > elements.startIndex { tasks.append(.byte(UInt8(ascii: ","))) }
                    }
                case .object(let members):
                    out.append(UInt8(ascii: "{"))
                    tasks.append(.byte(UInt8(ascii: "}")))
                    var position = members.endIndex
                    while position > members.startIndex {
                        position -= 1
                        tasks.append(.member(members[position]))
                        if position > members.startIndex { tasks.append(.byte(UInt8(ascii: ","))) }
                    }
                }
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    package static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: one copy (native strings scanned as contiguous bytes).
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        if plain == nil
            && !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") })
        {
            out.append(contentsOf: text.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
