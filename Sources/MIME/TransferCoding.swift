import MailBytes

/// Decoding of a body according to its Content-Transfer-Encoding.
public enum TransferCoding {
    /// Quoted-printable and base64 are decoded leniently; 7bit, 8bit, binary and unknown
    /// encodings return the bytes unchanged.
    public static func decode(_ body: ArraySlice<UInt8>, _ encoding: TransferEncoding) -> [UInt8] {
        switch encoding {
        case .quotedPrintable: return QuotedPrintable.decode(body)
        case .base64: return Base64.decode(body)
        case .sevenBit, .eightBit, .binary, .other: return Array(body)
        }
    }
}
