import MailBytes
import SMTPAPI
import Tracking

extension Transmission {
    /// Stage 2: envelope recipients, then cc, bcc and archive; each address once
    /// (case-insensitively, first occurrence decides its type); those `isSuppressed` names set apart.
    static func expandRecipients(
        envelope: Envelope, api: APIHeader, limits: Limits, transmissionID: UInt64,
        isSuppressed: (String) -> Bool
    ) throws(SMTPReply) -> (copies: [Copy], suppressed: [Copy]) {
        let total = envelope.recipients.count + api.cc.count + api.bcc.count + api.archive.count
        guard total <= limits.maxCopies else {
            throw SMTPReply(
                code: 550, enhancedStatus: "5.5.3",
                text: "too many recipients: \(total) (at most \(limits.maxCopies) copies per message)")
        }
        guard !envelope.recipients.isEmpty else {
            throw SMTPReply(code: 554, enhancedStatus: "5.5.1", text: "no valid recipients")
        }
        var seen = SmallStringSet(expectedCount: total)
        var copies: [Copy] = []
        var suppressed: [Copy] = []
        copies.reserveCapacity(total)
        var index = 0
        func add(_ address: String, name: String?, type: RecipientType?) {
            let normalized = Copy.normalize(address)
            guard seen.insert(normalized) else { return }
            let copy = Copy(
                index: index, address: address, name: name, rcptType: type,
                messageID: Transmission.messageID(transmissionID: transmissionID, index: index),
                normalizedAddress: normalized)
            index += 1
            if isSuppressed(address) {
                suppressed.append(copy)
            } else {
                copies.append(copy)
            }
        }
        for address in envelope.recipients {
            guard address.utf8.count <= limits.maxAddressBytes, EmailAddress.isValid(address) else {
                throw SMTPReply(
                    code: 550, enhancedStatus: "5.1.3", text: "bad recipient address syntax '\(headerSafe(address))'")
            }
            add(address, name: nil, type: nil)
        }
        for (list, type) in [(api.cc, RecipientType.cc), (api.bcc, .bcc), (api.archive, .archive)] {
            for recipient in list {
                guard recipient.email.utf8.count <= limits.maxAddressBytes else {
                    throw SMTPReply.permanent(
                        "X-MSYS-API '\(type.rawValue)' contains an invalid address '\(headerSafe(recipient.email))'")
                }
                add(recipient.email, name: recipient.name, type: type)
            }
        }
        return (copies, suppressed)
    }

    /// 22 hex digits: the transmission id (16), then the copy's index (at least 6), lower case.
    static func messageID(transmissionID: UInt64, index: Int) -> String {
        let low = UInt64(UInt32(truncatingIfNeeded: index))
        var lowDigits = 1
        while lowDigits < 8 && low >> (4 * lowDigits) != 0 { lowDigits += 1 }
        let lowWidth = max(6, lowDigits)
        return String(unsafeUninitializedCapacity: 16 + lowWidth) { out in
            @inline(__always) func digit(_ value: UInt64) -> UInt8 {
                let nibble = UInt8(truncatingIfNeeded: value & 0xF)
                return nibble < 10 ? 0x30 + nibble : 0x57 + nibble  // 0-9, a-f
            }
            for k in 0..<16 { out[k] = digit(transmissionID >> (60 - 4 * k)) }
            for k in 0..<lowWidth { out[16 + k] = digit(low >> (4 * (lowWidth - 1 - k))) }
            return 16 + lowWidth
        }
    }
}
