import MIME
import SMTPAPI
import Tracking

/// Where a rendered copy goes. `[UInt8]` is one; a relay can write straight to its spool.
public protocol CopySink {
    /// Appends bytes to the sink.
    mutating func write(_ bytes: UnsafeRawBufferPointer)
}

extension Array: CopySink where Element == UInt8 {
    /// Appends the bytes to the array.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        // Typed, so the append is one memcpy rather than a byte loop.
        append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
    }
}

extension Transmission {
    /// Writes `copy` to `sink`: the prepared segments with this copy's token and header fields
    /// spliced in. Only the copy's token is computed here; everything else was done once.
    public func render<Sink: CopySink>(_ copy: Copy, into sink: inout Sink) throws(SMTPReply) {
        let ownToken: RecipientToken
        if let archiveBodyToken, copy.index == archiveLinkOwner {
            ownToken = archiveBodyToken
        } else if needsOwnToken(copy) {
            ownToken = try mint.recipientToken(for: copy, transmissionID: transmissionID, expires: expires)
        } else {
            ownToken = RecipientToken(base: [], kindTags: [])
        }
        let bodyToken = copy.rcptType == .archive ? (archiveBodyToken ?? ownToken) : ownToken
        input.withUnsafeBytes { inputBytes in
            template.arena.withUnsafeBytes { arenaBytes in
                for segment in template.segments {
                    switch segment {
                    case .input(let range):
                        sink.write(UnsafeRawBufferPointer(rebasing: inputBytes[range]))
                    case .arena(let range):
                        sink.write(UnsafeRawBufferPointer(rebasing: arenaBytes[range]))
                    case .bodyToken(let softBreak, let kind):
                        Transmission.writeToken(bodyToken, kind: kind, softBreak: softBreak, into: &sink)
                    case .copyHeaders:
                        writeCopyHeaders(copy, token: ownToken, into: &sink)
                    }
                }
            }
        }
    }

    /// The copy as one byte array.
    public func renderedBytes(_ copy: Copy) throws(SMTPReply) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(template.fixedByteCount + 2048)
        try render(copy, into: &output)
        return output
    }

    func needsOwnToken(_ copy: Copy) -> Bool {
        (template.usesBodyToken && !(copy.rcptType == .archive && archiveBodyToken != nil)) || !listUnsubscribe.isEmpty
    }

    /// Writes the token followed by the tag of `kind`.
    static func writeToken<Sink: CopySink>(
        _ token: RecipientToken, kind: URLKind, softBreak: [UInt8]?, into sink: inout Sink
    ) {
        guard softBreak != nil else {
            token.base.withUnsafeBytes { sink.write($0) }
            token.tag(kind).withUnsafeBytes { sink.write($0) }
            return
        }
        writeToken(token.segment(kind), softBreak: softBreak, into: &sink)
    }

    static func writeToken<Sink: CopySink>(_ token: [UInt8], softBreak: [UInt8]?, into sink: inout Sink) {
        token.withUnsafeBytes { bytes in
            guard let softBreak else {
                sink.write(bytes)
                return
            }
            // Quoted-printable: at most 75 token bytes and the "=" of a soft break per line; the
            // hole already starts a line and the literal after it expects to start one too.
            var start = 0
            softBreak.withUnsafeBytes { breakBytes in
                while start < bytes.count {
                    let end = min(start + 75, bytes.count)
                    sink.write(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    sink.write(breakBytes)
                    start = end
                }
            }
        }
    }

    /// The header fields only this copy carries, appended after the original ones: its Bcc
    /// (bcc copies only) and its List-Unsubscribe.
    func writeCopyHeaders<Sink: CopySink>(_ copy: Copy, token: RecipientToken, into sink: inout Sink) {
        let hasBcc = copy.rcptType == .bcc
        guard hasBcc || !listUnsubscribe.isEmpty else { return }
        func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { sink.write($0) } }
        if copyHeadersNeedLineBreak { write(lineEnding) }
        if hasBcc {
            write(Array("Bcc: \(HeaderText.mailbox(name: copy.name, address: copy.address))".utf8) + lineEnding)
        }
        for (index, piece) in listUnsubscribe.enumerated() {
            if index > 0 { Transmission.writeToken(token, kind: .unsubscribe, softBreak: nil, into: &sink) }
            write(piece)
        }
    }
}
