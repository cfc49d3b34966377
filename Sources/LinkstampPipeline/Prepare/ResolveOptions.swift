import MIME
import SMTPAPI

extension Transmission {
    /// Stage 1: the options in force for one message. Every merge of the `X-MSYS-API` options
    /// over the operator's configuration happens here and nowhere else.
    ///
    /// | option | from the header | else from the configuration |
    /// | --- | --- | --- |
    /// | open, click tracking, transactional | `open_tracking`, `click_tracking`, `transactional` | the key of the same name |
    /// | initial-open pixel | — | `initial_open_pixel`, only when open tracking is on |
    /// | click tracking in text parts | — | `text_tracking`, only when click tracking is on |
    /// | `inline_css`, `sandbox`, `skip_suppression`, `ip_pool` | the option | off / none |
    static func resolveOptions(_ header: APIOptions, configuration: Configuration) -> EffectiveOptions {
        let open = header.openTracking ?? configuration.openTracking
        let click = header.clickTracking ?? configuration.clickTracking
        return EffectiveOptions(
            openTracking: open,
            clickTracking: click,
            transactional: header.transactional ?? configuration.transactional,
            inlineCSS: header.inlineCSS ?? false,
            sandbox: header.sandbox ?? false,
            skipSuppression: header.skipSuppression ?? false,
            initialPixel: open && configuration.initialOpenPixel,
            textClickTracking: click && configuration.textTracking,
            ipPool: header.ipPool
        )
    }

    /// A `sandbox` message must come From the configured sandbox domain.
    static func checkSandboxSender(_ top: HeaderBlock, in message: [UInt8], sandboxDomain: String) throws(SMTPReply) {
        let from = top.first("from", in: message).map { HeaderText.unfoldedValue($0, in: message) } ?? ""
        let domain = HeaderText.addresses(in: from).first?.split(separator: "@").last.map { $0.lowercased() }
        guard domain == sandboxDomain else {
            throw SMTPReply.permanent(
                "X-MSYS-API sandbox messages must be sent From the sandbox domain '\(sandboxDomain)'")
        }
    }
}
