/// The charsets RFC 2047 encoded-words are decoded from.
enum Charset: Hashable, Sendable {
    case utf8
    case usASCII
    /// Windows-1252, also used for ISO-8859-1 labels as the WHATWG Encoding Standard does:
    /// text labelled Latin-1 in mail routinely carries Windows-1252 quotes and dashes, and
    /// C1 control characters are never what the sender meant.
    case windows1252

    /// Recognises a charset label case-insensitively; `nil` for charsets we do not decode.
    init?(label: UnsafeBufferPointer<UInt8>) {
        guard label.count <= 32 else { return nil }
        let name = String(decoding: label, as: UTF8.self).lowercased()
        switch name {
        case "utf-8", "utf8":
            self = .utf8
        case "us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us":
            self = .usASCII
        case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "cp819", "iso-ir-100",
            "windows-1252", "cp1252", "x-cp1252":
            self = .windows1252
        default:
            return nil
        }
    }

    /// Converts `bytes` to text; `nil` when they are not valid in this charset.
    func decode(_ bytes: [UInt8]) -> String? {
        switch self {
        case .utf8:
            return String(validating: bytes, as: UTF8.self)
        case .usASCII:
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        case .windows1252:
            var text = ""
            text.unicodeScalars.reserveCapacity(bytes.count)
            for byte in bytes {
                let value: UInt32 =
                    byte >= 0x80 && byte < 0xA0 ? UInt32(Charset.windows1252High[Int(byte - 0x80)]) : UInt32(byte)
                guard let scalar = Unicode.Scalar(value) else { return nil }
                text.unicodeScalars.append(scalar)
            }
            return text
        }
    }

    /// Windows-1252 bytes 0x80–0x9F; the five unassigned ones map to their C1 code points (WHATWG).
    private static let windows1252High: [UInt16] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]
}
