import MIME

/// `mime`: the multipart walker and the transfer decoders. Parts' ranges lie inside the input,
/// nest inside their parent's body and follow each other in order; decoding any body never traps;
/// base64 and quoted-printable encoding then decoding gives the bytes back.
public enum MIMECheck {
    public static func check(_ data: UnsafeRawBufferPointer) {
        let bytes = [UInt8](data)
        checkStructure(bytes)
        checkDecoders(bytes)
        checkRoundTrips(bytes)
    }

    static func checkStructure(_ bytes: [UInt8]) {
        let structure: MessageStructure
        do {
            structure = try MessageStructure.parse(bytes)
        } catch {
            require(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) of \(bytes.count)")
            require(error.smtpReply.description.hasPrefix("550 5.6.0 "), "reply \(error.smtpReply)")
            return
        }
        let parts = structure.parts
        require(!parts.isEmpty, "no parts")
        let all = 0..<bytes.count
        for (i, part) in parts.enumerated() {
            require(part.index == i, "part \(i) has index \(part.index)")
            let header = part.header
            require(within(header.range, all), "part \(i) header \(header.range) outside 0..<\(bytes.count)")
            require(
                header.range.upperBound <= header.bodyStart && header.bodyStart <= bytes.count,
                "part \(i) body start \(header.bodyStart) after header \(header.range)")
            if let separator = header.separatorRange {
                require(
                    separator.lowerBound == header.range.upperBound && separator.upperBound == header.bodyStart,
                    "part \(i) separator \(separator) between header \(header.range) and body \(header.bodyStart)")
            }
            require(
                part.bodyRange.lowerBound == header.bodyStart, "part \(i) body \(part.bodyRange) vs \(header.bodyStart)"
            )
            require(within(part.bodyRange, all), "part \(i) body \(part.bodyRange) outside 0..<\(bytes.count)")
            var previousField = header.range.lowerBound
            for field in header.fields {
                require(
                    field.range.lowerBound >= previousField && field.range.upperBound <= header.range.upperBound,
                    "part \(i) field \(field.range) out of order or outside \(header.range)")
                require(
                    within(field.nameRange, field.range) && within(field.valueRange, field.range)
                        && field.nameRange.upperBound <= field.valueRange.lowerBound,
                    "part \(i) field \(field.range) name \(field.nameRange) value \(field.valueRange)")
                previousField = field.range.upperBound
            }
            if let parentIndex = part.parent {
                require(parentIndex < i, "part \(i) parent \(parentIndex)")
                let parent = parts[parentIndex]
                require(part.depth == parent.depth + 1, "part \(i) depth \(part.depth) under \(parent.depth)")
                require(parent.children.contains(i), "part \(i) missing from its parent's children")
                require(
                    within(part.range, parent.bodyRange),
                    "part \(i) \(part.range) outside parent body \(parent.bodyRange)")
            } else {
                require(i == 0 && part.depth == 0, "part \(i) without parent")
            }
            var previousEnd = part.bodyRange.lowerBound
            for child in part.children {
                require(child > i && child < parts.count && parts[child].parent == i, "part \(i) child \(child)")
                require(
                    parts[child].range.lowerBound >= previousEnd,
                    "part \(i) child \(child) \(parts[child].range) starts before \(previousEnd)")
                previousEnd = parts[child].range.upperBound
            }
            let decoded = structure.decodedBody(of: i, in: bytes)
            switch part.transferEncoding {
            case .quotedPrintable:
                require(decoded.count <= part.bodyRange.count, "QP body grew")
            case .base64:
                require(decoded.count <= part.bodyRange.count / 4 * 3 + 3, "base64 body grew")
            default:
                require(decoded.elementsEqual(bytes[part.bodyRange]), "identity body changed")
            }
        }
        let (html, text) = structure.trackableBodyParts()
        if let html {
            require(html < parts.count && parts[html].contentType.mimeType == "text/html", "html part \(html)")
        }
        if let text {
            require(text < parts.count && parts[text].contentType.mimeType == "text/plain", "text part \(text)")
        }
    }

    static func checkDecoders(_ bytes: [UInt8]) {
        require(QuotedPrintable.decode(bytes[...]).count <= bytes.count, "QP output longer than input")
        _ = Base64.decode(bytes[...])
        if let strict = Base64.decodeIfValid(bytes[...]) {
            let again = Base64.encode(strict[...], lineLength: 76, lineEnding: .crlf)
            require(Base64.decodeIfValid(again[...]) == strict, "strict base64 does not survive re-encoding")
        }
        for encoding in ["7bit", "8bit", "binary", "quoted-printable", "base64", "x-unknown"] {
            _ = TransferCoding.decode(bytes[...], TransferEncoding.parse(Array(encoding.utf8)[...]))
        }
        _ = ContentType.parse(bytes[...])
        _ = ContentDisposition.parse(bytes[...])
        _ = EncodedWord.decode(String(decoding: bytes, as: UTF8.self))
    }

    static func checkRoundTrips(_ bytes: [UInt8]) {
        let lineLength = bytes.first.map { Int($0 % 100) - 10 } ?? 76
        for lineEnding in [LineEnding.lf, .crlf] {
            let base64 = Base64.encode(bytes[...], lineLength: lineLength, lineEnding: lineEnding)
            require(Base64.decode(base64[...]) == bytes, "base64 round trip, line length \(lineLength)")
            require(Base64.decodeIfValid(base64[...]) == bytes, "strict base64 round trip, line length \(lineLength)")

            let maxLine = max(4, lineLength)
            var encoder = QuotedPrintableEncoder(lineEnding: lineEnding, maxLineLength: maxLine)
            // Fed in two pieces: the encoder's state must carry across appends.
            let cut = bytes.count / 2
            encoder.append(bytes[..<cut])
            encoder.append(bytes[cut...])
            encoder.finish()
            let encoded = encoder.output
            let expected = withLineEnding(bytes, lineEnding)
            let decoded = QuotedPrintable.decode(encoded[...])
            require(
                decoded == expected,
                "QP round trip (\(lineEnding), \(maxLine)): \(show(encoded)) decodes to \(show(decoded))")
            var lineStart = 0
            for (offset, byte) in encoded.enumerated() where byte == 0x0A {
                let end = lineEnding == .crlf ? offset - 1 : offset
                require(end - lineStart <= maxLine, "QP line of \(end - lineStart) bytes > \(maxLine)")
                lineStart = offset + 1
            }
            require(encoded.count - lineStart <= maxLine, "QP last line longer than \(maxLine)")
        }
    }

    /// `bytes` with every CRLF or bare LF written as `lineEnding` (what the QP encoder promises).
    static func withLineEnding(_ bytes: [UInt8], _ lineEnding: LineEnding) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A {
                out += lineEnding.bytes
                i += 2
            } else if bytes[i] == 0x0A {
                out += lineEnding.bytes
                i += 1
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    static func within(_ inner: Range<Int>, _ outer: Range<Int>) -> Bool {
        inner.lowerBound >= outer.lowerBound && inner.upperBound <= outer.upperBound
    }
}
