import Foundation
import MIME
import SMTPAPI

/// A message checked and its recipients expanded, before suppression is applied: the first
/// half of ``Engine/prepare(message:envelope:now:transmissionID:)``.
///
/// This is the seam for a suppression list kept elsewhere (a database shared by several
/// nodes): the caller asks its store about ``recipientAddresses`` (one lookup per message),
/// then finishes with ``Engine/prepare(_:suppression:)``. Every refusal happens here, so a
/// refused message never causes a lookup. The library itself does no I/O.
public struct PendingTransmission: Sendable {
    /// Every address the message would go to — envelope recipients, then the `X-MSYS-API` cc,
    /// bcc and archive lists — lower-cased, each once, in copy order.
    public let recipientAddresses: [String]
    /// False when the message sets `skip_suppression`: no lookup is needed.
    public var needsSuppression: Bool { !options.skipSuppression }
    /// Whether the message is transactional (which suppressions apply).
    public var isTransactional: Bool { options.transactional }

    let message: [UInt8]
    let envelope: Envelope
    let now: Date
    let structure: MessageStructure
    let top: HeaderBlock
    let lineEnding: [UInt8]
    let apiFields: [HeaderField]
    let api: APIHeader
    let options: EffectiveOptions
    let transmissionID: UInt64
    let candidates: [Copy]

    init(engine: Engine, message: [UInt8], envelope: Envelope, now: Date, transmissionID fixedID: UInt64?) throws(SMTPReply) {
        let limits = engine.limits
        let configuration = engine.configuration
        guard message.count <= limits.maxMessageBytes else {
            throw SMTPReply(code: 552, enhancedStatus: "5.3.4", text: "message exceeds \(limits.maxMessageBytes) bytes")
        }
        let structure: MessageStructure
        do { structure = try MessageStructure.parse(message, limits: limits.mime) } catch {
            throw error.smtpReply
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
        let candidates = try Transmission.expandRecipients(
            envelope: envelope, api: api, engine: engine, transmissionID: id)

        self.message = message
        self.envelope = envelope
        self.now = now
        self.structure = structure
        self.top = top
        self.lineEnding = lineEnding
        self.apiFields = apiFields
        self.api = api
        self.options = options
        self.transmissionID = id
        self.candidates = candidates
        recipientAddresses = candidates.map(\.normalizedAddress)
    }
}
