import Foundation
import SMTPAPI
import Tracking

extension Transmission {
    /// What every engagement event of this message needs, for its message token (issue 11).
    static func messageInfo(api: APIHeader, options: EffectiveOptions, transmissionID: UInt64, now: Date) -> MessageInfo
    {
        MessageInfo(
            transmissionID: transmissionID, injectionTime: Int64(now.timeIntervalSince1970), campaignID: api.campaignID,
            tags: api.tags, metadata: api.metadataForTrackingEvents(), clickTracking: options.clickTracking,
            openTracking: options.openTracking, initialPixel: options.initialPixel)
    }

    /// The message token for the List-Unsubscribe field: the full one when its folded line
    /// ` <https://…/u/<M>/<R>>` stays within 998 octets for the longest recipient token of the
    /// message (counted as on the field's first line), otherwise the slim one (no tags, no metadata).
    static func listUnsubscribeMessageToken(
        _ info: MessageInfo, full: String, mint: TokenMint, maxTokenLength: Int
    ) throws(SMTPReply) -> String {
        guard !full.isEmpty else { return full }
        let line = 19 + mint.urls.unsubscribeURLPrefix.utf8.count + full.utf8.count + 1 + maxTokenLength + 2
        guard line > Transmission.maxListUnsubscribeLine else { return full }
        return try mint.messageToken(info.slim)
    }

    /// Longest line the List-Unsubscribe field may have (RFC 5322 §2.1.1: 998 octets).
    static let maxListUnsubscribeLine = 998
}
