import MailBytes

/// The module's one error: what went wrong, where (byte offset into the unfolded, trimmed value
/// — or into the RFC 2047-decoded value when the whole value was encoded-words), and the SMTP
/// reply it turns into. Only `smtpReply` leaves the module.
struct SMTPAPIError: SMTPReplyConvertible, Sendable {
    private enum Code: Sendable {
        case emptyValue
        case valueTooLarge(limit: Int)
        case invalidUTF8
        case syntax(String)
        case notAnObject
        case wrongType(field: String, type: String)
        case wrongItemType(list: String, types: String)
        case missingEmail(list: String)
        case invalidAddress(list: String, address: String)
        case invalidName(list: String, name: String)
        case controlCharacters(field: String)
        case tooManyRecipients(limit: Int)
        case campaignIDTooLong(limit: Int)
    }

    private let code: Code
    /// Byte offset the error refers to, when it refers to one.
    let byteOffset: Int?
    /// Up to 20 characters of the input at `byteOffset`, already sanitized.
    private let context: String?

    private init(_ code: Code, at byteOffset: Int? = nil, context: String? = nil) {
        self.code = code
        self.byteOffset = byteOffset
        self.context = context
    }

    /// The SMTP reply this error turns into.
    var smtpReply: SMTPReply {
        let prefix = "JSON parsing error in X-MSYS-API: "
        switch code {
        case .emptyValue:
            return .permanent(prefix + "empty value")
        case .valueTooLarge(let limit):
            return .permanent("X-MSYS-API header value is larger than \(limit) bytes")
        case .invalidUTF8:
            return .permanent(prefix + "invalid UTF-8 at byte \(byteOffset ?? 0)")
        case .syntax(let what):
            return .permanent(prefix + "\(what) at byte \(byteOffset ?? 0) near '\(context ?? "")'")
        case .notAnObject:
            return .permanent("X-MSYS-API must be a JSON object")
        case .wrongType(let field, let type):
            return .permanent("X-MSYS-API '\(field)' must be of type '\(type)'")
        case .wrongItemType(let list, let types):
            return .permanent("X-MSYS-API '\(list)' items must be of type \(types)")
        case .missingEmail(let list):
            return .permanent("X-MSYS-API '\(list)' item is missing 'email'")
        case .invalidAddress(let list, let address):
            return .permanent("X-MSYS-API '\(list)' contains an invalid address '\(address)'")
        case .invalidName(let list, let name):
            return .permanent("X-MSYS-API '\(list)' contains an invalid name '\(name)'")
        case .controlCharacters(let field):
            return .permanent("X-MSYS-API '\(field)' must not contain control characters")
        case .tooManyRecipients(let limit):
            return .permanent("X-MSYS-API cc, bcc and archive may list at most \(limit) recipients")
        case .campaignIDTooLong(let limit):
            return .permanent("smtpapi_campaign_id context is limited to \(limit) bytes")
        }
    }

    static let emptyValue = SMTPAPIError(.emptyValue)
    static let notAnObject = SMTPAPIError(.notAnObject)

    static func valueTooLarge(limit: Int) -> SMTPAPIError { SMTPAPIError(.valueTooLarge(limit: limit)) }

    static func invalidUTF8(at offset: Int) -> SMTPAPIError { SMTPAPIError(.invalidUTF8, at: offset) }

    /// A JSON syntax error; `input` is the whole (valid UTF-8) text the offset points into.
    static func syntax(_ what: String, at offset: Int, in input: UnsafeBufferPointer<UInt8>) -> SMTPAPIError {
        SMTPAPIError(.syntax(what), at: offset, context: ReplyText.context(in: input, at: offset))
    }

    static func wrongType(_ field: String, _ type: String) -> SMTPAPIError {
        SMTPAPIError(.wrongType(field: field, type: type))
    }

    static func wrongItemType(_ list: String, _ types: String) -> SMTPAPIError {
        SMTPAPIError(.wrongItemType(list: list, types: types))
    }

    static func missingEmail(_ list: String) -> SMTPAPIError { SMTPAPIError(.missingEmail(list: list)) }

    static func invalidAddress(_ list: String, _ address: String) -> SMTPAPIError {
        SMTPAPIError(.invalidAddress(list: list, address: ReplyText.sanitized(address, maxCharacters: 100)))
    }

    static func invalidName(_ list: String, _ name: String) -> SMTPAPIError {
        SMTPAPIError(.invalidName(list: list, name: ReplyText.sanitized(name, maxCharacters: 100)))
    }

    static func controlCharacters(_ field: String) -> SMTPAPIError { SMTPAPIError(.controlCharacters(field: field)) }

    static func tooManyRecipients(limit: Int) -> SMTPAPIError { SMTPAPIError(.tooManyRecipients(limit: limit)) }

    static func campaignIDTooLong(limit: Int) -> SMTPAPIError { SMTPAPIError(.campaignIDTooLong(limit: limit)) }
}

/// Makes sender-supplied text safe to quote in a one-line, ASCII SMTP reply.
enum ReplyText {
    /// Characters of context quoted after `near`.
    static let contextCharacters = 20

    /// Replaces control characters and non-ASCII characters by `?`, and cuts after
    /// `maxCharacters` characters (marking the cut with `...`).
    static func sanitized(_ text: String, maxCharacters: Int) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == maxCharacters {
                out += "..."
                break
            }
            out.unicodeScalars.append(scalar.value >= 0x20 && scalar.value < 0x7F ? scalar : "?")
            count += 1
        }
        return out
    }

    /// Up to `contextCharacters` characters of `input` from `offset`; at the end of the input,
    /// the last `contextCharacters` characters instead (so "unexpected end" still shows where).
    static func context(in input: UnsafeBufferPointer<UInt8>, at offset: Int) -> String {
        var start = max(0, min(offset, input.count))
        if start == input.count {
            // Walk back over `contextCharacters` scalars (continuation bytes are 10xxxxxx).
            var scalars = 0
            while start > 0 && scalars < contextCharacters {
                start -= 1
                if input[start] & 0xC0 != 0x80 { scalars += 1 }
            }
        }
        // Never start inside a scalar.
        while start < input.count && input[start] & 0xC0 == 0x80 { start += 1 }
        let slice = UnsafeBufferPointer(rebasing: input[start..<input.count])
        var out = ""
        var count = 0
        var iterator = slice.makeIterator()
        var decoder = UTF8()
        decoding: while count < contextCharacters {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                out.unicodeScalars.append(scalar.value >= 0x20 && scalar.value < 0x7F ? scalar : "?")
                count += 1
            case .emptyInput, .error:
                break decoding
            }
        }
        return out
    }
}
