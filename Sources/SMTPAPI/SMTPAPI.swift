import MIME
@_exported import MailBytes

/// # SMTPAPI
///
/// Owns the `X-MSYS-API` header *value* (SparkPost SMTP API): from the raw bytes after the
/// field's colon to a validated, typed `APIHeader` — or to the `SMTPReply` the message is
/// refused with. Unfolding (each fold one space, docs/SPEC.md §2.2), RFC 2047 encoded-words, UTF-8
/// validation, a strict RFC 8259 JSON parser that keeps member order, field typing and limits
/// all live here.
///
/// It must never: find, remove or rewrite header fields (the integrator's job); crash, trap or
/// recurse on any input; accept ambiguous JSON (duplicate keys, lenient syntax); do I/O; or
/// put sender-supplied CR/LF into a reply text.
///
/// Depends on `MailBytes` (re-exported: `SMTPReply`, unfolding) and `MIME` (its one RFC 2047
/// decoder and charset table); no Foundation.
///
/// Decisions behind docs/SPEC.md §2 (SparkPost's reference is silent on them):
/// - A fold is the line break and every SP/HTAB that starts the next line; blanks before the
///   line break are not part of it and stay.
/// - `null` for a known field is a type error, never "absent". Unknown fields and unknown
///   `options` keys are ignored, but must be valid JSON like the rest.
/// - Duplicate keys in any object are refused, compared after escapes and RFC 2047 decoding
///   (and with Swift's canonical string equivalence, so NFC/NFD twins count as duplicates).
/// - Fields are checked in the order written; the first problem is the reply.
/// - Byte offsets count from the first non-blank byte of the unfolded value (of the decoded
///   value when the whole value was encoded-words); `near` quotes up to 20 characters from the
///   offset (the last 20 at end of input) with controls and non-ASCII shown as `?`.
/// - A string is RFC 2047-decoded only when it is entirely encoded-words separated by
///   whitespace; adjacent words in one charset are joined before conversion; ISO-8859-1 is
///   read as Windows-1252 (WHATWG); lower-case hex in Q and missing base64 padding are accepted.
/// - All `tags` items must be strings, even past the tenth (which are then dropped).
/// - Recipient names and `options.ip_pool` must not contain control characters (header and
///   envelope injection); empty names become `nil`; `campaign_id` "" stays "".

/// One `cc`, `bcc` or `archive` recipient.
public struct APIRecipient: Hashable, Sendable {
    /// The address, trimmed of surrounding whitespace and checked with `EmailAddress.isValid`.
    public var email: String
    /// The display name, trimmed; `nil` when absent or empty after trimming. Never contains
    /// control characters (a name with CR, LF, HTAB… inside is refused).
    public var name: String?

    /// Creates a recipient.
    public init(email: String, name: String? = nil) {
        self.email = email
        self.name = name
    }
}

/// The `options` object. `nil` means "not given": the configured default applies.
public struct APIOptions: Hashable, Sendable {
    /// `options.open_tracking`.
    public var openTracking: Bool?
    /// `options.click_tracking`.
    public var clickTracking: Bool?
    /// `options.transactional`.
    public var transactional: Bool?
    /// `options.sandbox`.
    public var sandbox: Bool?
    /// `options.skip_suppression`.
    public var skipSuppression: Bool?
    /// `options.inline_css`.
    public var inlineCSS: Bool?
    /// `options.ip_pool`, as given (after RFC 2047 decoding); never contains control characters.
    public var ipPool: String?

    /// No option given.
    public init() {}
}

/// A validated `X-MSYS-API` header.
public struct APIHeader: Hashable, Sendable {
    /// `campaign_id`, at most `APILimits.maxCampaignIDBytes` UTF-8 bytes; kept as given (an
    /// empty string stays empty).
    public var campaignID: String?
    /// `metadata`: the object, kept whole (member order and number lexemes as written).
    public var metadata: [JSONMember]?
    /// `tags`: at most `maxTags`; extra ones ignored (SparkPost).
    public var tags: [String]
    /// `cc` recipients, in order.
    public var cc: [APIRecipient]
    /// `bcc` recipients, in order.
    public var bcc: [APIRecipient]
    /// `archive` recipients, in order.
    public var archive: [APIRecipient]
    /// `options`.
    public var options: APIOptions

    /// An empty header: the configured defaults apply.
    public init() {
        tags = []
        cc = []
        bcc = []
        archive = []
        options = APIOptions()
    }

    /// `value` = raw bytes after the colon of the field up to (excluding) the field's final line
    /// break, folds (CRLF or bare LF followed by SP/HTAB) included, may contain 8-bit bytes.
    ///
    /// Byte offsets in replies count from the first non-blank byte of the unfolded value (or of
    /// the decoded value, when the whole value was RFC 2047 encoded-words).
    public static func parse(_ value: ArraySlice<UInt8>, limits: APILimits = APILimits()) throws(SMTPReply)
        -> APIHeader
    {
        do {
            return try parseValue(value, limits: limits)
        } catch {
            throw error.smtpReply
        }
    }

    /// metadata serialized, or nil when it is larger than maxMetadataBytesInTrackingEvents.
    /// Also `nil` when there is no metadata.
    public func metadataForTrackingEvents(limits: APILimits = APILimits()) -> String? {
        guard let metadata else { return nil }
        let serialized = JSONValue.object(metadata).serialized()
        return serialized.utf8.count <= limits.maxMetadataBytesInTrackingEvents ? serialized : nil
    }

    private static func parseValue(_ value: ArraySlice<UInt8>, limits: APILimits) throws(SMTPAPIError) -> APIHeader {
        let unfolded = HeaderUnfolding.unfold(value, .singleSpace)
        let trimmed = HeaderValue.trimmedRange(unfolded)
        guard trimmed.count <= limits.maxValueBytes else { throw .valueTooLarge(limit: limits.maxValueBytes) }
        guard !trimmed.isEmpty else { throw .emptyValue }
        let depth = min(limits.maxNestingDepth, APILimits.hardMaxNestingDepth)
        // An enum of its own rather than `Result<JSONValue, SMTPAPIError>`: the generic `Result`
        // would cost a filter process a conformance lookup (`SMTPAPIError: Error`) at run time.
        enum Parsed {
            case value(JSONValue)
            case failure(SMTPAPIError)

            init(_ text: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
                do throws(SMTPAPIError) {
                    self = .value(try JSONParser.parse(text, maxDepth: maxDepth))
                } catch {
                    self = .failure(error)
                }
            }
        }
        let document: Parsed = unfolded.withUnsafeBufferPointer { whole in
            let text = UnsafeBufferPointer(rebasing: whole[trimmed])
            if let offset = HeaderValue.firstInvalidUTF8(text) {
                return .failure(.invalidUTF8(at: offset))
            }
            if var decoded = EncodedWord.decodeIfEntirely(text) {
                // Latin-1 and Windows-1252 can grow when re-encoded as UTF-8.
                guard decoded.utf8.count <= limits.maxValueBytes else {
                    return .failure(.valueTooLarge(limit: limits.maxValueBytes))
                }
                return decoded.withUTF8 { bytes in Parsed(bytes, maxDepth: depth) }
            }
            return Parsed(text, maxDepth: depth)
        }
        let value: JSONValue
        switch document {
        case .value(let parsed): value = parsed
        case .failure(let error): throw error
        }
        guard case .object(let members) = value else { throw .notAnObject }
        var validator = FieldValidator(limits: limits)
        return try validator.header(from: members)
    }
}
