/// Turns the parsed top-level object into an `APIHeader`, checking each known field's type and
/// limits. Fields are checked in the order they were written, so the reply names the first
/// problem the sender will find when reading their header. Unknown fields (including
/// `substitution_data`) are ignored. `null` is never "absent": it is a type error.
struct FieldValidator {
    let limits: APILimits
    private var recipientCount = 0

    init(limits: APILimits) {
        self.limits = limits
    }

    mutating func header(from members: [JSONMember]) throws(SMTPAPIError) -> APIHeader {
        var header = APIHeader()
        for member in members {
            switch member.key {
            case "campaign_id":
                let campaignID = try string(member.value, field: "campaign_id")
                guard campaignID.utf8.count <= limits.maxCampaignIDBytes else {
                    throw .campaignIDTooLong(limit: limits.maxCampaignIDBytes)
                }
                header.campaignID = campaignID
            case "metadata":
                guard case .object(let metadata) = member.value else { throw .wrongType("metadata", "json object") }
                header.metadata = metadata
            case "tags":
                guard case .array(let items) = member.value else { throw .wrongType("tags", "json array") }
                var tags: [String] = []
                for item in items {
                    guard case .string(let tag) = item else { throw .wrongItemType("tags", "'string'") }
                    if tags.count < limits.maxTags { tags.append(tag) }
                }
                header.tags = tags
            case "cc":
                header.cc = try recipients(member.value, list: "cc")
            case "bcc":
                header.bcc = try recipients(member.value, list: "bcc")
            case "archive":
                header.archive = try recipients(member.value, list: "archive")
            case "options":
                header.options = try options(member.value)
            default:
                continue
            }
        }
        return header
    }

    private func string(_ value: JSONValue, field: String) throws(SMTPAPIError) -> String {
        guard case .string(let text) = value else { throw .wrongType(field, "string") }
        return text
    }

    private func boolean(_ value: JSONValue, field: String) throws(SMTPAPIError) -> Bool {
        guard case .bool(let flag) = value else { throw .wrongType(field, "boolean") }
        return flag
    }

    private func options(_ value: JSONValue) throws(SMTPAPIError) -> APIOptions {
        guard case .object(let members) = value else { throw .wrongType("options", "json object") }
        var options = APIOptions()
        for member in members {
            let field = "options." + member.key
            switch member.key {
            case "open_tracking": options.openTracking = try boolean(member.value, field: field)
            case "click_tracking": options.clickTracking = try boolean(member.value, field: field)
            case "transactional": options.transactional = try boolean(member.value, field: field)
            case "sandbox": options.sandbox = try boolean(member.value, field: field)
            case "skip_suppression": options.skipSuppression = try boolean(member.value, field: field)
            case "inline_css": options.inlineCSS = try boolean(member.value, field: field)
            case "ip_pool":
                let ipPool = try string(member.value, field: field)
                // It travels in the envelope the relay routes on: no line-breaking characters.
                guard !FieldValidator.containsControlCharacters(ipPool) else { throw .controlCharacters(field) }
                options.ipPool = ipPool
            default: continue
            }
        }
        return options
    }

    /// An array of address strings or `{"email": string, "name": string}` objects (other keys
    /// ignored). A list given twice (impossible: duplicate keys are refused) would count twice.
    private mutating func recipients(_ value: JSONValue, list: String) throws(SMTPAPIError) -> [APIRecipient] {
        guard case .array(let items) = value else { throw .wrongType(list, "json array") }
        var recipients: [APIRecipient] = []
        recipients.reserveCapacity(min(items.count, limits.maxListRecipients))
        for item in items {
            recipientCount += 1
            guard recipientCount <= limits.maxListRecipients else {
                throw .tooManyRecipients(limit: limits.maxListRecipients)
            }
            let recipient: APIRecipient
            switch item {
            case .string(let address):
                recipient = APIRecipient(email: FieldValidator.trimmed(address))
            case .object(let members):
                var email: String?
                var name: String?
                for member in members {
                    if member.key == "email" {
                        email = FieldValidator.trimmed(try string(member.value, field: list + ".email"))
                    } else if member.key == "name" {
                        let trimmedName = FieldValidator.trimmed(try string(member.value, field: list + ".name"))
                        // Names end up in Cc:/Bcc: header fields: no CR, LF or other controls.
                        guard !FieldValidator.containsControlCharacters(trimmedName) else {
                            throw .invalidName(list, trimmedName)
                        }
                        name = trimmedName.isEmpty ? nil : trimmedName
                    }
                }
                guard let email else { throw .missingEmail(list) }
                recipient = APIRecipient(email: email, name: name)
            default:
                throw .wrongItemType(list, "'string' or 'json object'")
            }
            guard EmailAddress.isValid(recipient.email) else { throw .invalidAddress(list, recipient.email) }
            recipients.append(recipient)
        }
        return recipients
    }

    /// Whether `text` has a C0 or C1 control character or DEL (U+0000–U+001F, U+007F–U+009F).
    static func containsControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) }
    }

    /// `text` without leading and trailing Unicode whitespace (which includes SP, HTAB, CR, LF).
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
