/// The one rule for cutting text to a byte budget without splitting a character: the longest
/// prefix of whole UTF-8 scalars that fits. Link names (`data-msys-linkname`, 63 bytes) are cut
/// with it by the scanner and, for names a library caller passes, by the URL builder.
public enum UTF8Prefix {
    /// The longest prefix of `bytes` (valid UTF-8) of at most `maxBytes` bytes that ends on a
    /// scalar boundary.
    @inlinable
    public static func cut(_ bytes: [UInt8], maxBytes: Int) -> [UInt8] {
        guard bytes.count > maxBytes else { return bytes }
        var end = max(maxBytes, 0)
        // Back up over continuation bytes (10xxxxxx) to the start of the scalar that did not fit.
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return Array(bytes[..<end])
    }
}
