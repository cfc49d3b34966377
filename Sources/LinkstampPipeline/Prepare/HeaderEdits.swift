import MIME
import SMTPAPI
import Tracking

extension Transmission {
    /// Stage 3: the edits of the top-level header every copy shares. The X-MSYS-API field and
    /// every Bcc go; Cc gains the `cc` list (addresses already there are not repeated).
    /// `appended`: the fields added after the original ones (IP pool, sandbox).
    static func headerEdits(
        _ top: HeaderBlock, in message: [UInt8], apiFields: [HeaderField], cc: [APIRecipient],
        options: EffectiveOptions, lineEnding: [UInt8]
    ) -> (edits: [Edit], appended: [UInt8]) {
        var edits: [Edit] = []
        for field in apiFields { edits.append(Edit(range: field.range, pieces: [])) }
        for field in top.all("bcc", in: message) { edits.append(Edit(range: field.range, pieces: [])) }
        var appended: [UInt8] = []
        if !cc.isEmpty {
            let existing = top.first("cc", in: message)
            let present = Set(
                existing.map { HeaderText.addresses(in: HeaderText.unfoldedValue($0, in: message)) }?
                    .map { $0.lowercased() } ?? [])
            var seen = present
            var mailboxes: [String] = []
            for recipient in cc where seen.insert(recipient.email.lowercased()).inserted {
                mailboxes.append(HeaderText.mailbox(name: recipient.name, address: recipient.email))
            }
            if !mailboxes.isEmpty {
                let separator = Array(",".utf8) + lineEnding + [0x20]
                let joined = mailboxes.map { Array($0.utf8) }.joined(separator: separator)
                if let existing {
                    var field = Array(message[existing.nameRange.lowerBound..<existing.valueRange.upperBound])
                    field += separator
                    field += joined
                    field += lineEnding
                    edits.append(Edit(range: existing.range, pieces: [.bytes(field)]))
                } else {
                    appended += Array("Cc: ".utf8) + joined + lineEnding
                }
            }
        }
        if let pool = options.ipPool {
            appended += Array("X-Linkstamp-IP-Pool: \(Transmission.headerSafe(pool))".utf8) + lineEnding
        }
        if options.sandbox {
            appended += Array("X-Linkstamp-Sandbox: yes".utf8) + lineEnding
        }
        return (edits, appended)
    }

    /// Where fields are added after the original ones: `commonFields` (those every copy has),
    /// then the copy's own (`.copyHeaders`). `edits` are the header and body edits made so far.
    /// `copyHeadersNeedLineBreak`: the copy's own fields must first end the last original line.
    static func fieldInsertion(
        _ top: HeaderBlock, in message: [UInt8], edits: [Edit], commonFields: [UInt8], lineEnding: [UInt8]
    ) -> (edit: Edit, copyHeadersNeedLineBreak: Bool) {
        let headerEnd = top.range.upperBound
        // Only the last line of the input can lack its line break. When that last field is
        // removed (X-MSYS-API, Bcc) or rewritten (Cc, Content-Transfer-Encoding: both end with a
        // line break), what precedes the insertion already ends a line: adding one would end the
        // header there and put the new fields in the body.
        let lastFieldEdited = edits.contains {
            $0.layer == .header && !$0.range.isEmpty && $0.range.upperBound == headerEnd
        }
        let lacksLineBreak = headerEnd > 0 && message[headerEnd - 1] != 0x0A && !lastFieldEdited
        // A header without its final line break is then the whole input: a body edit there is an
        // empty body gaining content, which must not join the last field's line either.
        let bodyFollows = edits.contains { $0.layer == .body && $0.range.lowerBound == headerEnd }
        let fixedLineBreak = lacksLineBreak && (!commonFields.isEmpty || bodyFollows)
        var insertion: [Piece] = []
        if fixedLineBreak || !commonFields.isEmpty {
            insertion.append(.bytes((fixedLineBreak ? lineEnding : []) + commonFields))
        }
        insertion.append(.copyHeaders)
        return (Edit(range: headerEnd..<headerEnd, pieces: insertion), lacksLineBreak && !fixedLineBreak)
    }

    /// The fixed bytes of the List-Unsubscribe fields, between which each copy's token goes.
    static func listUnsubscribePieces(
        configuration: Configuration, urls: TrackingURLBuilder, lineEnding: [UInt8], messageToken: String = ""
    ) -> [[UInt8]] {
        let post =
            configuration.unsubscribeHTTPS
            ? Array("List-Unsubscribe-Post: List-Unsubscribe=One-Click".utf8) + lineEnding : []
        let https = Array("<\(urls.unsubscribeURLPrefix)\(messageToken.isEmpty ? "" : messageToken + "/")".utf8)
        switch (configuration.unsubscribeMailto, configuration.unsubscribeHTTPS) {
        case (let mailto?, true):
            return [
                Array("List-Unsubscribe: <mailto:\(mailto)?subject=unsubscribe%20".utf8),
                Array(">,".utf8) + lineEnding + [0x20] + https,
                Array(">".utf8) + lineEnding + post,
            ]
        case (let mailto?, false):
            return [
                Array("List-Unsubscribe: <mailto:\(mailto)?subject=unsubscribe%20".utf8), Array(">".utf8) + lineEnding,
            ]
        case (nil, true):
            return [Array("List-Unsubscribe: ".utf8) + https, Array(">".utf8) + lineEnding + post]
        case (nil, false):
            return []
        }
    }
}
