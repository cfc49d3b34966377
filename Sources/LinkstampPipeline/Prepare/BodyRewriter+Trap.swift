import SMTPAPI
import Tracking

extension BodyRewriter {
    /// The invisible scanner-trap link (`scanner_trap_link = true`, issue 11): a tracked link no
    /// person sees or follows. Link scanners that fetch every URL request it, and the endpoint
    /// marks that copy's clicks in the next seconds as machine-made. Its target is the tracking
    /// domain's root.
    static let trapLinkHead = Array("<a href=\"".utf8)
    static let trapLinkTail = Array("\" style=\"display:none\" aria-hidden=\"true\" tabindex=\"-1\"></a>".utf8)

    mutating func trapLinkPieces() throws(SMTPReply) -> [Piece] {
        var info = LinkInfo(
            transmissionID: transmissionID, index: nextLinkIndex, target: "https://\(mint.urls.domain)/")
        info.isTrap = true
        nextLinkIndex += 1
        let token = try mint.linkToken(info, placeholder: "T")
        let prefix = mint.urls.clickURLPrefix(linkToken: token, sublink: nil) + messageSegment
        return [
            .bytes(Self.trapLinkHead + Array(prefix.utf8)), .bodyToken(softBreak: nil, kind: .click),
            .bytes(Self.trapLinkTail),
        ]
    }
}
