/// Decodes `bytes` in the charset `label` for the few charsets header text needs without a
/// conversion library: UTF-8/US-ASCII, ISO-8859-1 and Windows-1252. Nil for any other label (the
/// caller decides what to show). An empty label means UTF-8.
func decodeCharset(_ bytes: [UInt8], label rawLabel: String) -> String? {
    var label = rawLabel.lowercased()
    if let star = label.firstIndex(of: "*") {  // RFC 2231 §5 language suffix: "utf-8*en"
        label = String(label[..<star])
    }
    switch label {
    case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968":
        return String(decoding: bytes, as: UTF8.self)
    case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1":
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b)) }
        return String(s)
    case "windows-1252", "cp1252", "x-cp1252":
        var s = String.UnicodeScalarView()
        for b in bytes {
            if b >= 0x80 && b <= 0x9F, let scalar = Unicode.Scalar(windows1252High[Int(b - 0x80)]) {
                s.append(scalar)
            } else {
                s.append(Unicode.Scalar(b))
            }
        }
        return String(s)
    default:
        return nil
    }
}

/// Windows-1252 0x80–0x9F (undefined positions map to the C1 control of the same value).
private let windows1252High: [UInt32] = [
    0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,
    0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
    0x0153, 0x9D, 0x017E, 0x0178,
]
