/// Address syntax check used for cc/bcc/archive (and by the integrator for envelope args).
public enum EmailAddress: Sendable {
    /// addr-spec of RFC 5321 Mailbox: dot-atom or quoted-string local part (≤64 octets), "@",
    /// domain (LDH labels, ≤255 octets) or address literal; UTF-8 (RFC 6531) allowed in both parts.
    ///
    /// Syntax only: a single-label domain (`user@localhost`) passes, as RFC 5321 allows it.
    /// No surrounding whitespace, comments, display names or angle brackets are accepted.
    public static func isValid(_ address: String) -> Bool {
        var address = address
        return address.withUTF8 { bytes in
            guard let atSign = localPartEnd(bytes), atSign <= 64 else { return false }
            let domain = UnsafeBufferPointer(rebasing: bytes[(atSign + 1)...])
            guard !domain.isEmpty, domain.count <= 255 else { return false }
            if domain[0] == UInt8(ascii: "[") { return isAddressLiteral(domain) }
            return isDomain(domain)
        }
    }

    // MARK: - Local part

    /// atext (RFC 5322 §3.2.3) plus UTF8-non-ascii (RFC 6531 §3.3).
    private static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
            UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return byte >= 0x80
        }
    }

    /// Local-part = Dot-string / Quoted-string (RFC 5321 §4.1.2). Returns the offset of the
    /// "@" that ends it, or `nil` when the local part is malformed or not followed by "@".
    private static func localPartEnd(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var index = 0
        if bytes[0] == UInt8(ascii: "\"") {
            // Quoted-string = DQUOTE *QcontentSMTP DQUOTE
            // QcontentSMTP = qtextSMTP / quoted-pairSMTP; qtextSMTP = %d32-33 / %d35-91 / %d93-126
            index = 1
            while true {
                guard index < bytes.count else { return nil }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    // quoted-pairSMTP = %d92 %d32-126
                    guard index + 1 < bytes.count, bytes[index + 1] >= 32, bytes[index + 1] <= 126 else { return nil }
                    index += 2
                    continue
                }
                guard (byte >= 32 && byte <= 126) || byte >= 0x80 else { return nil }
                index += 1
            }
            index += 1
        } else {
            // Dot-string = Atom *("." Atom)
            var atomLength = 0
            while index < bytes.count, bytes[index] != UInt8(ascii: "@") {
                let byte = bytes[index]
                if byte == UInt8(ascii: ".") {
                    guard atomLength > 0 else { return nil }
                    atomLength = 0
                } else {
                    guard isAtext(byte) else { return nil }
                    atomLength += 1
                }
                index += 1
            }
            guard atomLength > 0 else { return nil }
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "@") else { return nil }
        return index
    }

    // MARK: - Domain

    /// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (RFC 5321), or a
    /// U-label (RFC 6531): non-ASCII bytes count as letters. Labels are 1–63 octets.
    private static func isDomain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var labelStart = 0
        var index = 0
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: ".") {
                let length = index - labelStart
                guard length > 0, length <= 63 else { return false }
                guard bytes[labelStart] != UInt8(ascii: "-"), bytes[index - 1] != UInt8(ascii: "-") else {
                    return false
                }
                labelStart = index + 1
            } else {
                let byte = bytes[index]
                let isLetDigHyphen =
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                guard isLetDigHyphen || byte >= 0x80 else { return false }
            }
            index += 1
        }
        return true
    }

    /// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
    /// General-address-literal ) "]"
    private static func isAddressLiteral(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 3, bytes[bytes.count - 1] == UInt8(ascii: "]") else { return false }
        let inner = UnsafeBufferPointer(rebasing: bytes[1..<(bytes.count - 1)])
        if isIPv4(inner) { return true }
        guard let colon = inner.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        let tag = UnsafeBufferPointer(rebasing: inner[0..<colon])
        let content = UnsafeBufferPointer(rebasing: inner[(colon + 1)...])
        if tag.count == 4, String(decoding: tag, as: UTF8.self).lowercased() == "ipv6" {
            return isIPv6(content)
        }
        // General-address-literal = Standardized-tag ":" 1*dcontent; dcontent = %d33-90 / %d94-126
        guard isDomainLabelLike(tag), !content.isEmpty else { return false }
        return content.allSatisfy { ($0 >= 33 && $0 <= 90) || ($0 >= 94 && $0 <= 126) }
    }

    /// Ldh-str ending in a letter or digit.
    private static func isDomainLabelLike(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let last = bytes.last, last != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-")
        }
    }

    /// IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT representing 0-255
    private static func isIPv4(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var parts = 0
        var value = 0
        var digits = 0
        for index in 0...bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: ".") {
                guard digits > 0, value <= 255 else { return false }
                parts += 1
                value = 0
                digits = 0
                continue
            }
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 3 else { return false }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return parts == 4
    }

    /// IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp (RFC 5321 §4.1.3):
    /// 8 groups, or at most 6 groups around one "::"; an IPv4 tail counts as two groups.
    private static func isIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        var groups = 0
        var sawDoubleColon = false
        var index = 0
        let count = bytes.count
        if count >= 2, bytes[0] == UInt8(ascii: ":"), bytes[1] == UInt8(ascii: ":") {
            sawDoubleColon = true
            index = 2
        } else if bytes[0] == UInt8(ascii: ":") {
            return false
        }
        while index < count {
            // One group (or an IPv4 tail).
            var end = index
            while end < count, bytes[end] != UInt8(ascii: ":") { end += 1 }
            let group = UnsafeBufferPointer(rebasing: bytes[index..<end])
            if end == count, group.contains(UInt8(ascii: ".")) {
                guard isIPv4(group) else { return false }
                groups += 2
                index = end
                break
            }
            guard (1...4).contains(group.count), group.allSatisfy({ hexDigit($0) }) else { return false }
            groups += 1
            index = end
            guard index < count else { break }
            // A ":" follows; a second one makes "::".
            index += 1
            if index < count, bytes[index] == UInt8(ascii: ":") {
                guard !sawDoubleColon else { return false }
                sawDoubleColon = true
                index += 1
            } else if index == count {
                return false  // trailing single ":"
            }
        }
        return sawDoubleColon ? groups <= 6 : groups == 8
    }

    private static func hexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }
}
