/// The charsets header text is decoded from without a conversion library: UTF-8, US-ASCII and
/// Windows-1252 (which also answers the ISO-8859-1 labels, as the WHATWG Encoding Standard does:
/// text labelled Latin-1 in mail routinely carries Windows-1252 quotes and dashes, and C1 control
/// characters are never what the sender meant). One table for the whole project: RFC 2047
/// encoded-words (here and in the `X-MSYS-API` header) and RFC 2231 parameter values use it.
enum HeaderCharset: Hashable, Sendable {
    case utf8
    case usASCII
    case windows1252

    /// Recognises a charset label case-insensitively, ignoring an RFC 2231 §5 language suffix
    /// (`utf-8*en`); `nil` for an empty label and for charsets not decoded here.
    init?<Label: Collection<UInt8>>(label: Label) {
        guard !label.isEmpty, label.count <= 64 else { return nil }
        var name = String(decoding: label, as: UTF8.self).lowercased()
        if let star = name.firstIndex(of: "*") { name = String(name[..<star]) }
        switch name {
        case "utf-8", "utf8":
            self = .utf8
        case "us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us":
            self = .usASCII
        case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "iso-ir-100",
            "windows-1252", "cp1252", "x-cp1252":
            self = .windows1252
        default:
            return nil
        }
    }

    /// Converts `bytes` to text; `nil` when they are not valid in this charset.
    func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String? {
        switch self {
        case .utf8:
            return String(validating: bytes, as: UTF8.self)
        case .usASCII:
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        case .windows1252:
            var scalars = String.UnicodeScalarView()
            for byte in bytes {
                let value = byte >= 0x80 && byte < 0xA0 ? windows1252High[Int(byte - 0x80)] : UInt32(byte)
                guard let scalar = Unicode.Scalar(value) else { return nil }
                scalars.append(scalar)
            }
            return String(scalars)
        }
    }
}

/// Decodes `bytes` in the charset `label` (an empty label means UTF-8); `nil` when the charset is
/// not one of ``HeaderCharset``'s or the bytes are invalid in it (the caller decides what to show).
func decodeCharset(_ bytes: [UInt8], label: String) -> String? {
    guard let charset = label.isEmpty ? HeaderCharset.utf8 : HeaderCharset(label: label.utf8) else { return nil }
    return charset.decode(bytes)
}

/// Windows-1252 bytes 0x80–0x9F; the five unassigned ones map to their C1 code points (WHATWG).
private let windows1252High: [UInt32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
]
