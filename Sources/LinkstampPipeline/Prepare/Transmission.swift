import CSSInline
import Foundation
import HTMLRewrite
import MIME
import SMTPAPI
import Tracking

/// The options in force for one message: the `X-MSYS-API` header over the configured defaults.
public struct EffectiveOptions: Sendable, Hashable {
    /// Insert open pixels.
    public var openTracking: Bool
    /// Rewrite links into click-tracking links.
    public var clickTracking: Bool
    /// Transactional mail: no List-Unsubscribe, transactional suppressions.
    public var transactional: Bool
    /// Inline `head > style` CSS into style attributes.
    public var inlineCSS: Bool
    /// Sandbox message (carried to the envelope and events).
    public var sandbox: Bool
    /// Ignore the suppression list.
    public var skipSuppression: Bool
    /// Insert the `initial_open` pixel after `<body>` as well.
    public var initialPixel: Bool
    /// IP pool to send from, if named.
    public var ipPool: String?
}

/// A tracked body part (the first text/html or text/plain, docs/SPEC.md §4.2) that went out as it came
/// although click or open tracking or CSS inlining was asked for, and why.
public struct UntrackedPart: Sendable, Hashable {
    /// The part's index in document order (`MessageStructure.parts`; 0 is the message itself).
    public var part: Int
    /// Why, one line without control characters (sender-supplied names cut at 64 characters):
    /// `unknown transfer encoding 8bits`, `charset utf-16 is not ASCII-compatible`, `body is
    /// not valid base64`.
    public var reason: String

    /// Creates a record.
    public init(part: Int, reason: String) {
        self.part = part
        self.reason = reason
    }
}

/// One incoming message prepared once: validated, its recipients expanded, its body parts
/// rewritten into a template with holes. Rendering a copy only splices that copy's token and
/// header fields (see `render(_:into:)`).
public struct Transmission: Sendable {
    /// The id shared by every copy of this message.
    public let transmissionID: UInt64
    /// The envelope the message came with.
    public let envelope: Envelope
    /// Copies to deliver, in order: envelope recipients, then cc, bcc, archive.
    public let copies: [Copy]
    /// Recipients left out because they are on the suppression list.
    public let suppressed: [Copy]
    /// The parsed `X-MSYS-API` header (empty when the message had none).
    public let api: APIHeader
    /// Options in force.
    public let options: EffectiveOptions
    /// The message's Subject, RFC 2047 decoded (for events).
    public let subject: String?
    /// When the message was prepared.
    public let injectionTime: Date
    /// Tracked URLs stop working after this time (Unix seconds).
    public let expires: Int64
    /// Body parts left untracked although tracking was asked for (events report them).
    public let untrackedParts: [UntrackedPart]
    /// Why `inline_css` was asked for but the HTML part went out without inlining (a CSSInline
    /// limit such as `work_limit`, or `inconsistent_markup`); nil when it was inlined or not asked.
    public let cssInlineSkipped: CSSInlineSkipReason?

    let input: [UInt8]
    let template: Template
    package let urls: TrackingURLBuilder
    let placeholderTokens: Bool
    let lineEnding: [UInt8]
    /// List-Unsubscribe (and -Post) fields as bytes around the copy's token: `head`, token,
    /// (`middle`, token,) `tail`. Empty when copies get none.
    let listUnsubscribe: [[UInt8]]
    /// The original header ends without a line break (a message of header fields only), so a
    /// copy that adds fields must first end the last one.
    let copyHeadersNeedLineBreak: Bool
    /// The first envelope copy's token, made once at prepare time: that copy and every archive
    /// copy carry it in their body, so their links are the same bytes.
    let archiveBodyToken: RecipientToken?
    /// The index of that first envelope copy.
    let archiveLinkOwner: Int

    /// The transmission id as the decimal string events carry.
    public var transmissionIDString: String { String(transmissionID) }

    init(engine: Engine, message: [UInt8], envelope: Envelope, now: Date, transmissionID fixedID: UInt64?) throws(SMTPReply) {
        let limits = engine.limits
        let configuration = engine.configuration
        guard message.count <= limits.maxMessageBytes else {
            throw SMTPReply(code: 552, enhancedStatus: "5.3.4", text: "message exceeds \(limits.maxMessageBytes) bytes")
        }
        let structure: MessageStructure
        do { structure = try MessageStructure.parse(message, limits: limits.mime) } catch {
            throw SMTPReply.permanent("message structure exceeds limits: \(error.description)")
        }
        // No header block: not one field (`name:`) before the first empty line or the first
        // line that is not a field. That is empty input, input that starts with an empty line,
        // and input whose first line (after an mbox `From ` line or stray continuation lines) is
        // not a field. Such a message has no From, no Date and no place for the fields copies
        // need: refused, never sent as a copy holding only the fields we add.
        guard let top = structure.parts.first?.header, top.fields.contains(where: { !$0.nameRange.isEmpty }) else {
            throw SMTPReply.noHeader
        }
        let lineEnding: [UInt8] = top.lineEnding == .crlf ? [0x0D, 0x0A] : [0x0A]

        // X-MSYS-API
        let apiFields = top.all("x-msys-api", in: message)
        guard apiFields.count <= 1 else { throw SMTPReply.duplicateHeader }
        var api = APIHeader()
        if let field = apiFields.first {
            api = try APIHeader.parse(message[field.valueRange], limits: limits.api)
        }
        let open = api.options.openTracking ?? configuration.openTracking
        let options = EffectiveOptions(
            openTracking: open,
            clickTracking: api.options.clickTracking ?? configuration.clickTracking,
            transactional: api.options.transactional ?? configuration.transactional,
            inlineCSS: api.options.inlineCSS ?? false,
            sandbox: api.options.sandbox ?? false,
            skipSuppression: api.options.skipSuppression ?? false,
            initialPixel: open && configuration.initialOpenPixel,
            ipPool: api.options.ipPool
        )
        if options.sandbox, let sandboxDomain = configuration.sandboxDomain {
            let from = top.first("from", in: message).map { HeaderText.unfoldedValue($0, in: message) } ?? ""
            let domain = HeaderText.addresses(in: from).first?.split(separator: "@").last.map { $0.lowercased() }
            guard domain == sandboxDomain else {
                throw SMTPReply.permanent("X-MSYS-API sandbox messages must be sent From the sandbox domain '\(sandboxDomain)'")
            }
        }

        let id: UInt64
        if let fixedID { id = fixedID } else { id = try TransmissionIDGenerator.make(now: now) }
        let (copies, suppressed) = try Transmission.expandRecipients(
            envelope: envelope, api: api, options: options, engine: engine, transmissionID: id)

        // Header edits: the X-MSYS-API field and every Bcc go; Cc gains the cc list; new fields
        // are appended after the original ones.
        var edits: [Edit] = []
        for field in apiFields { edits.append(Edit(range: field.range, pieces: [])) }
        for field in top.all("bcc", in: message) { edits.append(Edit(range: field.range, pieces: [])) }
        var appended: [UInt8] = []
        if !api.cc.isEmpty {
            let existing = top.first("cc", in: message)
            let present = Set(existing.map { HeaderText.addresses(in: HeaderText.unfoldedValue($0, in: message)) }?
                .map { $0.lowercased() } ?? [])
            var seen = present
            var mailboxes: [String] = []
            for recipient in api.cc where seen.insert(recipient.email.lowercased()).inserted {
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

        let expires = Int64(now.timeIntervalSince1970) + Int64(configuration.tokenLifetimeDays) * 86_400
        // Tokens differ in length only by the address they carry: the longest address of this
        // message bounds every token, so prepared lines can be checked against 998 octets.
        let longestAddress = copies.max { $0.normalizedAddress.utf8.count < $1.normalizedAddress.utf8.count }
        var maxTokenLength = 0
        if let longestAddress {
            let probe = RecipientInfo(
                transmissionID: id, messageID: longestAddress.messageID, rcptTo: longestAddress.normalizedAddress,
                rcptType: .archive, expires: expires)
            do { maxTokenLength = try engine.urls.recipientToken(probe).segmentLength } catch {
                throw Engine.internalError("tracking token encryption failed: \(error)")
            }
        }
        let messageInfo = Transmission.messageInfo(api: api, options: options, transmissionID: id, now: now)
        let messageToken = try Transmission.messageToken(messageInfo, engine: engine)
        var body = BodyRewriter(
            input: message, engine: engine, options: options, transmissionID: id, lineEnding: lineEnding,
            maxTokenLength: maxTokenLength, messageToken: messageToken)
        let (htmlIndex, textIndex) = structure.trackableBodyParts()
        var topHeaderAdditions: [UInt8] = []
        var untrackedParts: [UntrackedPart] = []
        var cssInlineSkipped: CSSInlineSkipReason?
        for (index, isHTML) in [(htmlIndex, true), (textIndex, false)] {
            guard let index, index < structure.parts.count else { continue }
            let result = try body.rewrite(structure.parts[index], isHTML: isHTML)
            edits += result.edits
            if index == 0 { topHeaderAdditions += result.topHeaderAddition }
            if let reason = result.untrackedReason { untrackedParts.append(UntrackedPart(part: index, reason: reason)) }
            if let skipped = result.cssInlineSkipped { cssInlineSkipped = skipped }
        }

        let hasListUnsubscribe = top.first("list-unsubscribe", in: message) != nil
        let addsListUnsubscribe = !options.transactional && !hasListUnsubscribe
            && (configuration.unsubscribeHTTPS || configuration.unsubscribeMailto != nil)
        // Fields appended after the original ones: those common to every copy, then the copy's own.
        let headerEnd = top.range.upperBound
        // Only the last line of the input can lack its line break. When that last field is
        // removed (X-MSYS-API, Bcc) or rewritten (Cc, Content-Transfer-Encoding: both end with a
        // line break), what precedes the insertion already ends a line: adding one would end the
        // header there and put the new fields in the body.
        let lastFieldEdited = edits.contains { $0.layer == .header && !$0.range.isEmpty && $0.range.upperBound == headerEnd }
        let lacksLineBreak = headerEnd > 0 && message[headerEnd - 1] != 0x0A && !lastFieldEdited
        let commonFields = topHeaderAdditions + appended
        // A header without its final line break is then the whole input: a body edit there is an
        // empty body gaining content, which must not join the last field's line either.
        let bodyFollows = edits.contains { $0.layer == .body && $0.range.lowerBound == headerEnd }
        let fixedLineBreak = lacksLineBreak && (!commonFields.isEmpty || bodyFollows)
        var insertion: [Piece] = []
        if fixedLineBreak || !commonFields.isEmpty { insertion.append(.bytes((fixedLineBreak ? lineEnding : []) + commonFields)) }
        insertion.append(.copyHeaders)
        edits.append(Edit(range: headerEnd..<headerEnd, pieces: insertion))

        let subjectField = top.first("subject", in: message)
        self.transmissionID = id
        self.envelope = envelope
        self.copies = copies
        self.suppressed = suppressed
        self.api = api
        self.options = options
        self.subject = subjectField.map { EncodedWord.decode(HeaderText.unfoldedValue($0, in: message)) }
        self.injectionTime = now
        self.expires = expires
        self.untrackedParts = untrackedParts.sorted { $0.part < $1.part }
        self.cssInlineSkipped = cssInlineSkipped
        self.input = message
        self.template = Template(input: message, edits: edits)
        self.urls = engine.urls
        self.placeholderTokens = engine.placeholderTokensForTesting
        self.lineEnding = lineEnding
        self.listUnsubscribe = addsListUnsubscribe
            ? Transmission.listUnsubscribePieces(
                configuration: configuration, urls: engine.urls, lineEnding: lineEnding,
                messageToken: try Transmission.listUnsubscribeMessageToken(
                    messageInfo, full: messageToken, engine: engine, maxTokenLength: maxTokenLength)) : []
        self.copyHeadersNeedLineBreak = lacksLineBreak && !fixedLineBreak
        if template.usesBodyToken, copies.contains(where: { $0.rcptType == .archive }) {
            let first = (copies + suppressed).filter { $0.rcptType == nil }.min { $0.index < $1.index }
            if let first {
                self.archiveBodyToken = try Transmission.token(
                    for: first, urls: engine.urls, transmissionID: id, expires: expires,
                    placeholder: engine.placeholderTokensForTesting)
                self.archiveLinkOwner = first.index
            } else {
                self.archiveBodyToken = nil
                self.archiveLinkOwner = -1
            }
        } else {
            self.archiveBodyToken = nil
            self.archiveLinkOwner = -1
        }
    }

    /// The fixed bytes of the List-Unsubscribe fields, between which each copy's token goes.
    static func listUnsubscribePieces(
        configuration: Configuration, urls: TrackingURLBuilder, lineEnding: [UInt8], messageToken: String = ""
    ) -> [[UInt8]] {
        let post = configuration.unsubscribeHTTPS
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
            return [Array("List-Unsubscribe: <mailto:\(mailto)?subject=unsubscribe%20".utf8), Array(">".utf8) + lineEnding]
        case (nil, true):
            return [Array("List-Unsubscribe: ".utf8) + https, Array(">".utf8) + lineEnding + post]
        case (nil, false):
            return []
        }
    }

    static func headerSafe(_ value: String) -> String {
        String(decoding: value.utf8.filter { $0 >= 0x20 && $0 != 0x7F }, as: UTF8.self)
    }

    static func token(for copy: Copy, urls: TrackingURLBuilder, transmissionID: UInt64, expires: Int64, placeholder: Bool) throws(SMTPReply) -> RecipientToken {
        if placeholder { return RecipientToken(base: Array("R\(copy.index)".utf8), kindTags: []) }
        let info = RecipientInfo(
            transmissionID: transmissionID,
            messageID: copy.messageID,
            rcptTo: copy.normalizedAddress,
            rcptType: copy.rcptType,
            expires: expires
        )
        do { return try urls.recipientToken(info) } catch {
            throw Engine.internalError("tracking token encryption failed: \(error)")
        }
    }

    /// Envelope recipients, then cc, bcc and archive; each address once (case-insensitively,
    /// first occurrence decides its type); suppressed ones set apart.
    static func expandRecipients(
        envelope: Envelope, api: APIHeader, options: EffectiveOptions, engine: Engine, transmissionID: UInt64
    ) throws(SMTPReply) -> (copies: [Copy], suppressed: [Copy]) {
        let limits = engine.limits
        let total = envelope.recipients.count + api.cc.count + api.bcc.count + api.archive.count
        guard total <= limits.maxCopies else {
            throw SMTPReply(code: 550, enhancedStatus: "5.5.3", text: "too many recipients: \(total) (at most \(limits.maxCopies) copies per message)")
        }
        guard !envelope.recipients.isEmpty else {
            throw SMTPReply(code: 554, enhancedStatus: "5.5.1", text: "no valid recipients")
        }
        var seen = Set<String>(minimumCapacity: total)
        var copies: [Copy] = []
        var suppressed: [Copy] = []
        copies.reserveCapacity(total)
        var index = 0
        func add(_ address: String, name: String?, type: RecipientType?) {
            guard seen.insert(address.lowercased()).inserted else { return }
            let copy = Copy(
                index: index, address: address, name: name, rcptType: type,
                messageID: Transmission.messageID(transmissionID: transmissionID, index: index))
            index += 1
            if !options.skipSuppression,
               engine.suppressionList.contains(address, transactional: options.transactional) {
                suppressed.append(copy)
            } else {
                copies.append(copy)
            }
        }
        for address in envelope.recipients {
            guard address.utf8.count <= limits.maxAddressBytes, EmailAddress.isValid(address) else {
                throw SMTPReply(code: 550, enhancedStatus: "5.1.3", text: "bad recipient address syntax '\(headerSafe(address))'")
            }
            add(address, name: nil, type: nil)
        }
        for (list, type) in [(api.cc, RecipientType.cc), (api.bcc, .bcc), (api.archive, .archive)] {
            for recipient in list {
                guard recipient.email.utf8.count <= limits.maxAddressBytes else {
                    throw SMTPReply.permanent("X-MSYS-API '\(type.rawValue)' contains an invalid address '\(headerSafe(recipient.email))'")
                }
                add(recipient.email, name: recipient.name, type: type)
            }
        }
        return (copies, suppressed)
    }

    /// 22 hex digits: the transmission id, then the copy's index.
    static func messageID(transmissionID: UInt64, index: Int) -> String {
        let high = String(transmissionID, radix: 16)
        let low = String(UInt32(truncatingIfNeeded: index), radix: 16)
        return String(repeating: "0", count: 16 - high.count) + high
            + String(repeating: "0", count: max(0, 6 - low.count)) + low
    }
}
