import Foundation
import SMTPAPI
import Tracking

/// Seals the tokens of one message's tracked URLs with the engine's key ring, or, for golden
/// tests, writes placeholders instead (`L<link index>`, `T<trap link index>`, `R<copy index>`,
/// no message token) so whole copies compare byte for byte. A token that cannot be sealed is a
/// temporary failure (`451 4.3.0`): the one place that reply is made.
struct TokenMint: Sendable {
    /// The engine's URL builder (tracking domain, key ring, tracking limits).
    let urls: TrackingURLBuilder
    /// Write placeholders instead of sealed tokens (tests only).
    let placeholders: Bool

    /// When the tracked URLs of a message injected at `now` stop working: the token lifetime
    /// the engine's tracking limits carry (`token_lifetime_days`), as ``RecipientInfo/expiry(sentAt:limits:)``
    /// computes it.
    func expiry(injectedAt now: Date) -> Int64 {
        RecipientInfo.expiry(sentAt: Int64(now.timeIntervalSince1970), limits: urls.limits)
    }

    /// The link token of one link; `placeholder` names the link's kind in tests (`L`, `T`).
    func linkToken(_ info: LinkInfo, placeholder: String) throws(SMTPReply) -> String {
        if placeholders { return placeholder + String(info.index) }
        do { return try urls.linkToken(info) } catch { throw TokenMint.sealingFailed(error) }
    }

    /// The message token, sealed once per message; empty with placeholders, so golden copies
    /// keep their shape.
    func messageToken(_ info: MessageInfo) throws(SMTPReply) -> String {
        guard !placeholders else { return "" }
        do { return try urls.messageToken(info) } catch { throw TokenMint.sealingFailed(error) }
    }

    /// One copy's recipient token.
    func recipientToken(for copy: Copy, transmissionID: UInt64, expires: Int64) throws(SMTPReply) -> RecipientToken {
        if placeholders { return RecipientToken(base: Array("R\(copy.index)".utf8), kindTags: []) }
        let info = RecipientInfo(
            transmissionID: transmissionID, messageID: copy.messageID, rcptTo: copy.normalizedAddress,
            rcptType: copy.rcptType, expires: expires)
        do { return try urls.recipientToken(info) } catch { throw TokenMint.sealingFailed(error) }
    }

    /// The length of the longest recipient token (with its kind tag) any of `copies` can carry,
    /// 0 when there is none. Tokens differ in length only by the address they carry, so the
    /// longest address bounds them all and prepared lines can be checked against 998 octets.
    /// Always a sealed token's length (computed without sealing), placeholders or not: line
    /// lengths, and so the encodings chosen, are the same in tests as in production.
    func longestRecipientToken(of copies: [Copy], transmissionID: UInt64, expires: Int64) throws(SMTPReply) -> Int {
        guard let longest = copies.max(by: { $0.normalizedAddress.utf8.count < $1.normalizedAddress.utf8.count }) else {
            return 0
        }
        let probe = RecipientInfo(
            transmissionID: transmissionID, messageID: longest.messageID, rcptTo: longest.normalizedAddress,
            rcptType: .archive, expires: expires)
        do { return try urls.recipientSegmentLength(probe) } catch { throw TokenMint.sealingFailed(error) }
    }

    static func sealingFailed(_ error: TrackingError) -> SMTPReply {
        Engine.internalError("tracking token encryption failed: \(error)")
    }
}

extension Transmission {
    /// Stage 5: archive copies carry the first envelope copy's links in their body, so an
    /// archived copy's links are the bytes that recipient got. That copy's token is made once,
    /// here; `owner` is its index (-1 when no body link needs it).
    static func archiveTokens(
        usesBodyToken: Bool, copies: [Copy], suppressed: [Copy], mint: TokenMint, transmissionID: UInt64,
        expires: Int64
    ) throws(SMTPReply) -> (token: RecipientToken?, owner: Int) {
        guard usesBodyToken, copies.contains(where: { $0.rcptType == .archive }),
            let first = (copies + suppressed).filter({ $0.rcptType == nil }).min(by: { $0.index < $1.index })
        else { return (nil, -1) }
        return (try mint.recipientToken(for: first, transmissionID: transmissionID, expires: expires), first.index)
    }
}
