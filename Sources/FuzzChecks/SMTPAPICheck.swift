import SMTPAPI

/// `smtpapi`: the `X-MSYS-API` value parser. Never crashes; a refusal is an SMTP reply a relay
/// can send as is; an accepted value keeps the limits it promises and, written back as JSON and
/// parsed again, gives the same `APIHeader`.
public enum SMTPAPICheck {
    public static func check(_ data: UnsafeRawBufferPointer) {
        let bytes = [UInt8](data)
        let header: APIHeader
        do {
            header = try APIHeader.parse(bytes[...])
        } catch {
            checkReply(error)
            return
        }
        checkAccepted(header)
        // A decoded string that is itself an encoded-word would be decoded once more: such
        // values have no JSON spelling that parses back to them, so the round trip skips them.
        guard !mentionsEncodedWord(header) else { return }
        let text = serialized(header)
        do {
            let again = try APIHeader.parse(Array(text.utf8)[...])
            require(again == header, "re-parse differs: \(text) -> \(again) vs \(header)")
        } catch {
            invariantBroken("accepted header written back as \(text) is refused: \(error)")
        }
    }

    /// A reply text that leaves the module: a 4xx/5xx with a matching enhanced status and one
    /// line of printable ASCII.
    static func checkReply(_ reply: SMTPReply) {
        require((400..<600).contains(reply.code), "reply code \(reply.code)")
        let status = reply.enhancedStatus.split(separator: ".", omittingEmptySubsequences: false)
        require(
            status.count == 3 && status[0] == Substring(String(reply.code / 100))
                && status.dropFirst().allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) },
            "enhanced status \(reply.enhancedStatus) for code \(reply.code)")
        require(!reply.text.isEmpty, "empty reply text")
        require(
            reply.text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F },
            "reply text is not one line of printable ASCII: \(show(Array(reply.text.utf8)))")
    }

    static func checkAccepted(_ header: APIHeader) {
        let limits = APILimits()
        if let campaignID = header.campaignID {
            require(campaignID.utf8.count <= limits.maxCampaignIDBytes, "campaign_id too long")
        }
        require(header.tags.count <= limits.maxTags, "\(header.tags.count) tags")
        let lists = [header.cc, header.bcc, header.archive]
        require(lists.map(\.count).reduce(0, +) <= limits.maxListRecipients, "too many recipients")
        for recipient in lists.joined() {
            require(EmailAddress.isValid(recipient.email), "invalid address accepted: \(recipient.email)")
            if let name = recipient.name {
                require(!name.isEmpty && !hasControl(name), "bad name accepted: \(show(Array(name.utf8)))")
            }
        }
        if let pool = header.options.ipPool {
            require(!hasControl(pool), "ip_pool with controls accepted: \(show(Array(pool.utf8)))")
        }
    }

    static func hasControl(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) }
    }

    static func mentionsEncodedWord(_ header: APIHeader) -> Bool {
        serialized(header).contains("=?")
    }

    /// The header as the JSON object a client would send to get it.
    static func serialized(_ header: APIHeader) -> String {
        var members: [JSONMember] = []
        if let campaignID = header.campaignID {
            members.append(JSONMember(key: "campaign_id", value: .string(campaignID)))
        }
        if let metadata = header.metadata { members.append(JSONMember(key: "metadata", value: .object(metadata))) }
        if !header.tags.isEmpty {
            members.append(JSONMember(key: "tags", value: .array(header.tags.map { .string($0) })))
        }
        for (key, list) in [("cc", header.cc), ("bcc", header.bcc), ("archive", header.archive)] where !list.isEmpty {
            let items: [JSONValue] = list.map { recipient in
                var fields = [JSONMember(key: "email", value: .string(recipient.email))]
                if let name = recipient.name { fields.append(JSONMember(key: "name", value: .string(name))) }
                return .object(fields)
            }
            members.append(JSONMember(key: key, value: .array(items)))
        }
        let o = header.options
        var options: [JSONMember] = []
        for (key, flag) in [
            ("open_tracking", o.openTracking), ("click_tracking", o.clickTracking), ("transactional", o.transactional),
            ("sandbox", o.sandbox), ("skip_suppression", o.skipSuppression), ("inline_css", o.inlineCSS),
        ] {
            if let flag { options.append(JSONMember(key: key, value: .bool(flag))) }
        }
        if let pool = o.ipPool { options.append(JSONMember(key: "ip_pool", value: .string(pool))) }
        if !options.isEmpty { members.append(JSONMember(key: "options", value: .object(options))) }
        return JSONValue.object(members).serialized()
    }
}
