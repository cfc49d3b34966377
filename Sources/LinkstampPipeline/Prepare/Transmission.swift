import CSSInline
import Foundation
import LinkScan
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
    /// Rewrite links in text/plain parts too: click tracking on and `text_tracking` configured
    /// (`false` is SparkPost's "htmlonly").
    public var textClickTracking: Bool
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
    /// Seals this message's tokens (or writes the test placeholders).
    let mint: TokenMint
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

    /// Whether the tracking host is a configured one rather than the placeholder (events say so).
    package var trackingDomainConfigured: Bool { mint.urls.domain != Configuration.placeholderTrackingDomain }

    /// Prepares one message in named stages; each stage gets the values it needs, not the engine.
    init(engine: Engine, message: [UInt8], envelope: Envelope, now: Date, transmissionID fixedID: UInt64?)
        throws(SMTPReply)
    {
        let pending = try PendingTransmission(
            engine: engine, message: message, envelope: envelope, now: now, transmissionID: fixedID)
        try self.init(engine: engine, pending: pending, suppression: nil)
    }

    /// The later stages: `pending` (checked, recipients expanded) with the suppression that
    /// applies to it — the engine's list, and `suppression` when given (the entries a caller
    /// looked up for `pending.recipientAddresses`, e.g. in a database).
    init(engine: Engine, pending: PendingTransmission, suppression: SuppressionList?) throws(SMTPReply) {
        let limits = engine.limits
        let configuration = engine.configuration
        let message = pending.message
        let envelope = pending.envelope
        let now = pending.now
        let structure = pending.structure
        let top = pending.top
        let lineEnding = pending.lineEnding
        let api = pending.api
        let options = pending.options
        let id = pending.transmissionID
        let suppressionList = engine.suppressionList
        var copies: [Copy] = []
        var suppressed: [Copy] = []
        copies.reserveCapacity(pending.candidates.count)
        for copy in pending.candidates {
            if !options.skipSuppression,
                suppressionList.contains(copy.address, transactional: options.transactional)
                    || suppression?.contains(copy.address, transactional: options.transactional) == true
            {
                suppressed.append(copy)
            } else {
                copies.append(copy)
            }
        }

        let headers = Transmission.headerEdits(
            top, in: message, apiFields: pending.apiFields, cc: api.cc, options: options, lineEnding: lineEnding)

        let mint = TokenMint(urls: engine.urls, placeholders: engine.placeholderTokensForTesting)
        let expires = mint.expiry(injectedAt: now)
        let maxTokenLength = try mint.longestRecipientToken(of: copies, transmissionID: id, expires: expires)
        let messageInfo = Transmission.messageInfo(api: api, options: options, transmissionID: id, now: now)
        let messageToken = try mint.messageToken(messageInfo)
        var edits = headers.edits
        let body = try Transmission.bodyEdits(
            structure, in: message, options: options, limits: limits, mint: mint, transmissionID: id,
            lineEnding: lineEnding, maxTokenLength: maxTokenLength, messageToken: messageToken,
            scannerTrapLink: configuration.serve.scannerTrapLink, into: &edits)

        let insertion = Transmission.fieldInsertion(
            top, in: message, edits: edits, commonFields: body.topHeaderAddition + headers.appended,
            lineEnding: lineEnding)
        edits.append(insertion.edit)

        let hasListUnsubscribe = top.first("list-unsubscribe", in: message) != nil
        let addsListUnsubscribe =
            !options.transactional && !hasListUnsubscribe
            && (configuration.unsubscribeHTTPS || configuration.unsubscribeMailto != nil)

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
        self.untrackedParts = body.untrackedParts
        self.cssInlineSkipped = body.cssInlineSkipped
        self.input = message
        self.template = Template(input: message, edits: edits)
        self.mint = mint
        self.lineEnding = lineEnding
        self.listUnsubscribe =
            addsListUnsubscribe
            ? Transmission.listUnsubscribePieces(
                configuration: configuration, urls: engine.urls, lineEnding: lineEnding,
                messageToken: try Transmission.listUnsubscribeMessageToken(
                    messageInfo, full: messageToken, mint: mint, maxTokenLength: maxTokenLength)) : []
        self.copyHeadersNeedLineBreak = insertion.copyHeadersNeedLineBreak
        (self.archiveBodyToken, self.archiveLinkOwner) = try Transmission.archiveTokens(
            usesBodyToken: template.usesBodyToken, copies: copies, suppressed: suppressed, mint: mint,
            transmissionID: id, expires: expires)
    }

    static func headerSafe(_ value: String) -> String {
        String(decoding: value.utf8.filter { $0 >= 0x20 && $0 != 0x7F }, as: UTF8.self)
    }
}
