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

    /// The first stages of preparing: size, structure, header block, `X-MSYS-API`, options
    /// (``Transmission/resolveOptions(_:configuration:)``), sandbox sender, transmission id and
    /// the recipients (``Transmission/expandRecipients(envelope:api:limits:transmissionID:isSuppressed:)``
    /// with nothing suppressed yet).
    init(engine: Engine, message: [UInt8], envelope: Envelope, now: Date, transmissionID fixedID: UInt64?)
        throws(SMTPReply)
    {
        let limits = engine.limits
        let configuration = engine.configuration
        try limits.checkMessageSize(message.count)
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

        // X-MSYS-API
        let apiFields = top.all("x-msys-api", in: message)
        guard apiFields.count <= 1 else { throw SMTPReply.duplicateHeader }
        var api = APIHeader()
        if let field = apiFields.first {
            api = try APIHeader.parse(message[field.valueRange], limits: limits.api)
        }
        let options = Transmission.resolveOptions(api.options, configuration: configuration)
        if options.sandbox, let sandboxDomain = configuration.sandboxDomain {
            try Transmission.checkSandboxSender(top, in: message, sandboxDomain: sandboxDomain)
        }

        let id: UInt64
        if let fixedID { id = fixedID } else { id = try TransmissionIDGenerator.make(now: now) }
        let (candidates, _) = try Transmission.expandRecipients(
            envelope: envelope, api: api, limits: limits, transmissionID: id, isSuppressed: { _ in false })

        self.message = message
        self.envelope = envelope
        self.now = now
        self.structure = structure
        self.top = top
        self.lineEnding = top.lineEnding.bytes
        self.apiFields = apiFields
        self.api = api
        self.options = options
        self.transmissionID = id
        self.candidates = candidates
        recipientAddresses = candidates.map(\.normalizedAddress)
    }
}
