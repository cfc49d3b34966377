import CSSInline
import MIME
import SMTPAPI

/// What the body stage made of a message's tracked parts, besides its edits.
struct BodyEdits {
    /// Fields the top-level header gains when the message itself is the rewritten part.
    var topHeaderAddition: [UInt8] = []
    /// Parts left as they came although tracking was asked for, in part order.
    var untrackedParts: [UntrackedPart] = []
    /// Why `inline_css` was asked for but not done, if it was not.
    var cssInlineSkipped: CSSInlineSkipReason?
}

extension Transmission {
    /// Stage 4: the tracked body parts (the first text/html and text/plain, docs/SPEC.md §4.2)
    /// rewritten once: CSS inlined, links and pixels turned into tracked URLs with a hole for
    /// each copy's token, re-encoded when a line would grow too long. The edits (bodies and their
    /// Content-Transfer-Encoding fields) are appended to `edits`.
    static func bodyEdits(
        _ structure: MessageStructure, in message: [UInt8], options: EffectiveOptions, limits: Limits,
        mint: TokenMint, transmissionID: UInt64, lineEnding: [UInt8], maxTokenLength: Int, messageToken: String,
        scannerTrapLink: Bool, into edits: inout [Edit]
    ) throws(SMTPReply) -> BodyEdits {
        var rewriter = BodyRewriter(
            input: message, options: options, scanLimits: limits.scan, cssLimits: limits.css, mint: mint,
            scannerTrapLink: scannerTrapLink, transmissionID: transmissionID, lineEnding: lineEnding,
            maxTokenLength: maxTokenLength, messageToken: messageToken)
        let (htmlIndex, textIndex) = structure.trackableBodyParts()
        var result = BodyEdits()
        for (index, isHTML) in [(htmlIndex, true), (textIndex, false)] {
            guard let index, index < structure.parts.count else { continue }
            let part = try rewriter.rewrite(structure.parts[index], isHTML: isHTML)
            edits += part.edits
            if index == 0 { result.topHeaderAddition += part.topHeaderAddition }
            if let reason = part.untrackedReason {
                result.untrackedParts.append(UntrackedPart(part: index, reason: reason))
            }
            if let skipped = part.cssInlineSkipped { result.cssInlineSkipped = skipped }
        }
        result.untrackedParts.sort { $0.part < $1.part }
        return result
    }
}
