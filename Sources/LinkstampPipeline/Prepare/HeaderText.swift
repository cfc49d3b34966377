import MIME

/// Small helpers for the header fields this module reads (Subject, From, Cc) and writes.
enum HeaderText {
    /// The field's value unfolded (line breaks of folds removed) and trimmed, bytes read as UTF-8:
    /// ``HeaderField/unfoldedValue(in:)``, the one unfolding (`HeaderUnfolding`).
    static func unfoldedValue(_ field: HeaderField, in bytes: [UInt8]) -> String {
        field.unfoldedValue(in: bytes)
    }

    /// The addr-specs of an address-list header value (RFC 5322 §3.4): what stands inside
    /// `<…>`, or a bare word containing `@`. Quoted strings and comments are skipped. Lenient:
    /// this only decides which addresses are already present.
    static func addresses(in value: String) -> [String] {
        var result: [String] = []
        var current: [UInt8] = []
        var angle: [UInt8]? = nil
        var inQuotes = false
        var commentDepth = 0
        var escaped = false
        func flush() {
            let word = String(decoding: current, as: UTF8.self).trimmingASCIIWhitespace()
            if word.contains("@") { result.append(word) }
            current.removeAll(keepingCapacity: true)
        }
        for byte in value.utf8 {
            if escaped {
                escaped = false
                continue
            }
            if inQuotes {
                if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inQuotes = false }
                continue
            }
            if commentDepth > 0 {
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "(") {
                    commentDepth += 1
                } else if byte == UInt8(ascii: ")") {
                    commentDepth -= 1
                }
                continue
            }
            if angle != nil {
                if byte == UInt8(ascii: ">") {
                    let inside = String(decoding: angle ?? [], as: UTF8.self).trimmingASCIIWhitespace()
                    if !inside.isEmpty { result.append(inside) }
                    angle = nil
                    current.removeAll(keepingCapacity: true)
                } else {
                    angle?.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inQuotes = true
                current.removeAll(keepingCapacity: true)
            case UInt8(ascii: "("): commentDepth = 1
            case UInt8(ascii: "<"): angle = []
            case UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"): flush()
            case UInt8(ascii: " "), UInt8(ascii: "\t"): flush()
            default: current.append(byte)
            }
        }
        flush()
        return result
    }

    /// `Name <address>` with the name quoted or RFC 2047-encoded as needed, or the bare address.
    static func mailbox(name: String?, address: String) -> String {
        guard let name = name?.trimmingASCIIWhitespace(), !name.isEmpty else { return address }
        return EncodedWord.encodeDisplayName(name) + " <" + address + ">"
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        if start == 0 && end == bytes.count { return self }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
