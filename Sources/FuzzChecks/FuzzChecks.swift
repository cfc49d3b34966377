#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// # FuzzChecks
///
/// The invariants the libFuzzer targets in `Fuzz/` assert, one `check(_:)` per target, kept in a
/// normal library so that the test suite replays every input in `Fuzz/Regressions/<target>/`
/// through exactly the checks the fuzzer ran (`Tests/FuzzReplayTests`).
///
/// A check takes arbitrary bytes, drives one parser (or the whole pipeline) through its public
/// API, and traps (`preconditionFailure`, after writing what broke to stderr) when an invariant
/// does not hold. Refusing an input is never a failure; crashing, hanging, or accepting something
/// that breaks a documented promise is.
///
/// It must never: do I/O besides that one stderr line, keep state between inputs (each check is
/// a pure function of its bytes), or assert something the module under test does not promise.
///
/// Depends on `SMTPAPI`, `MIME`, `LinkScan`, `CSSInline`, `Tracking` and `Linkstamp`; only
/// the `Fuzz/` package and `FuzzReplayTests` depend on it.
public enum FuzzTargets {
    /// Every target, by the name `scripts/fuzz` and `linkstamp-fuzz` take.
    public static let all: [(name: String, check: @Sendable (UnsafeRawBufferPointer) -> Void)] = [
        ("smtpapi", SMTPAPICheck.check),
        ("mime", MIMECheck.check),
        ("html", HTMLCheck.check),
        ("text", TextCheck.check),
        ("css", CSSCheck.check),
        ("token", TokenCheck.check),
        ("transmission", TransmissionCheck.check),
    ]

    /// The check of the target called `name`, nil for an unknown name.
    public static func check(named name: String) -> (@Sendable (UnsafeRawBufferPointer) -> Void)? {
        all.first { $0.name == name }?.check
    }
}

/// Traps with `message` on stderr when `condition` is false (the message survives `-O`, where
/// `precondition` drops it).
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { invariantBroken(message()) }
}

func invariantBroken(_ message: String) -> Never {
    let line = Array("FuzzChecks: invariant broken: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    preconditionFailure(message)
}

/// Printable form of bytes for failure messages (at most `limit` bytes).
func show<C: Collection>(_ bytes: C, limit: Int = 200) -> String where C.Element == UInt8 {
    var out = ""
    for byte in bytes.prefix(limit) {
        if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
            out.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            out += "\\x" + String(byte, radix: 16)
        }
    }
    return bytes.count > limit ? out + "…(\(bytes.count) bytes)" : out
}

/// Offset of the first occurrence of `needle` in `haystack`, nil when absent.
func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
    guard let first = needle.first, needle.count <= haystack.count else { return nil }
    var i = haystack.startIndex
    let last = haystack.endIndex - needle.count
    while i <= last {
        if haystack[i] == first && haystack[i..<i + needle.count].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

/// ASCII case-insensitive search.
func containsCaseInsensitive(_ haystack: [UInt8], _ lowercasedNeedle: String) -> Bool {
    let needle = Array(lowercasedNeedle.utf8)
    guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
    for start in 0...(haystack.count - needle.count) {
        var matched = true
        for k in 0..<needle.count {
            var byte = haystack[start + k]
            if byte >= 0x41 && byte <= 0x5A { byte |= 0x20 }
            if byte != needle[k] {
                matched = false
                break
            }
        }
        if matched { return true }
    }
    return false
}
