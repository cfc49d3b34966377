import MIME

extension Transmission {
    /// Whether a body part in this transfer encoding can be decoded, rewritten and encoded
    /// again: every encoding RFC 2045 defines; an unknown one goes out as it came.
    static func isRewritable(_ encoding: TransferEncoding) -> Bool {
        switch encoding {
        case .sevenBit, .eightBit, .binary, .quotedPrintable, .base64: return true
        case .other: return false
        }
    }
}

extension Transmission {
    /// Whether decoding a body in this transfer encoding leaves its bytes as they are.
    static func isIdentity(_ encoding: TransferEncoding) -> Bool {
        switch encoding {
        case .sevenBit, .eightBit, .binary: return true
        case .quotedPrintable, .base64, .other: return false
        }
    }
}
