import SMTPAPI
import Tracking

/// The SMTP envelope of an incoming message, as the relay received it.
public struct Envelope: Sendable, Hashable {
    /// MAIL FROM reverse path without angle brackets; empty for the null sender (`<>`).
    public var sender: String
    /// RCPT TO addresses without angle brackets, in the order received.
    public var recipients: [String]

    /// An envelope.
    public init(sender: String, recipients: [String]) {
        self.sender = sender
        self.recipients = recipients
    }
}

/// One copy of a message: who receives it and why.
public struct Copy: Sendable, Hashable {
    /// Position among the message's copies (0-based, suppressed recipients included).
    public var index: Int
    /// The address as written by the envelope or the `X-MSYS-API` list.
    public var address: String
    /// Display name from the `X-MSYS-API` list, if any.
    public var name: String?
    /// `nil` for envelope recipients; `.cc`, `.bcc` or `.archive` otherwise.
    public var rcptType: RecipientType?
    /// This copy's own `message_id` (events and tokens).
    public var messageID: String

    /// The address lower-cased, as events and tokens carry it in `rcpt_to`.
    public let normalizedAddress: String

    init(
        index: Int, address: String, name: String?, rcptType: RecipientType?, messageID: String,
        normalizedAddress: String? = nil
    ) {
        self.index = index
        self.address = address
        self.name = name
        self.rcptType = rcptType
        self.messageID = messageID
        self.normalizedAddress = normalizedAddress ?? Copy.normalize(address)
    }

    /// `address.lowercased()`; the address itself (no new string) when it is ASCII without
    /// upper-case letters, as most are.
    static func normalize(_ address: String) -> String {
        let plain = address.utf8.withContiguousStorageIfAvailable { bytes in
            !bytes.contains { $0 >= 0x80 || ($0 >= 0x41 && $0 <= 0x5A) }
        }
        return plain == true ? address : address.lowercased()
    }
}
