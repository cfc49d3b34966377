/// Header field unfolding (RFC 5322 §2.2.3), the one implementation every parser uses.
package enum HeaderUnfolding {
    /// How line breaks inside a field value are treated.
    package enum Mode: Sendable {
        /// Every CR and LF byte is removed (a fold keeps the blanks around it) and the value is
        /// trimmed of leading and trailing SP and HTAB: what RFC 5322 §2.2.3 prescribes, and
        /// how `MIME` and the pipeline read Subject, From and Cc.
        case removeLineBreaks
        /// Each fold — CRLF (or bare LF) followed by SP/HTAB, together with every SP/HTAB that
        /// starts the next line — becomes a single space; line breaks that are not folds stay,
        /// and nothing is trimmed: how SparkPost reads `X-MSYS-API`, so that `"my_awes` + CRLF +
        /// `   ome_campaign"` reads `"my_awes ome_campaign"`.
        case singleSpace
    }

    /// The unfolded value.
    package static func unfold(_ value: ArraySlice<UInt8>, _ mode: Mode) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        value.withUnsafeBufferPointer { bytes in
            let count = bytes.count
            var index = 0
            while index < count {
                let byte = bytes[index]
                guard byte == ASCII.cr || byte == ASCII.lf else {
                    out.append(byte)
                    index += 1
                    continue
                }
                switch mode {
                case .removeLineBreaks:
                    index += 1
                case .singleSpace:
                    var blanks = -1
                    if byte == ASCII.cr, index + 2 < count, bytes[index + 1] == ASCII.lf, ASCII.isWSP(bytes[index + 2])
                    {
                        blanks = index + 2
                    } else if byte == ASCII.lf, index + 1 < count, ASCII.isWSP(bytes[index + 1]) {
                        blanks = index + 1
                    }
                    if blanks < 0 {
                        out.append(byte)
                        index += 1
                        continue
                    }
                    while blanks < count, ASCII.isWSP(bytes[blanks]) { blanks += 1 }
                    out.append(ASCII.space)
                    index = blanks
                }
            }
        }
        guard mode == .removeLineBreaks else { return out }
        var lo = 0
        var hi = out.count
        while lo < hi && ASCII.isWSP(out[lo]) { lo += 1 }
        while hi > lo && ASCII.isWSP(out[hi - 1]) { hi -= 1 }
        if lo == 0 && hi == out.count { return out }
        return Array(out[lo..<hi])
    }
}
