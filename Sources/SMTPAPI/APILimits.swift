/// Every limit the `X-MSYS-API` parser and validator enforce, in one place.
public struct APILimits: Hashable, Sendable {
    /// Largest `campaign_id` in UTF-8 bytes, after RFC 2047 decoding. Default 64 (SparkPost).
    public var maxCampaignIDBytes = 64
    /// Tags kept; further ones are ignored, not refused (SparkPost behaviour). Default 10.
    public var maxTags = 10
    /// Most recipients across `cc`, `bcc` and `archive` together. Default 1000 (SparkPost).
    public var maxListRecipients = 1000
    /// Deepest nesting of JSON arrays and objects; the top-level object is depth 1. Default 64.
    /// Values above `hardMaxNestingDepth` (1024) act as 1024: `JSONValue`'s synthesized `==`,
    /// `hash` and deallocation recurse, so unbounded depth could exhaust the stack.
    public var maxNestingDepth = 64
    /// Largest header value in bytes after unfolding (and trimming). Default 1 MiB (`1 << 20`).
    public var maxValueBytes = 1 << 20
    /// Largest serialized `metadata` carried in click and open events. Default 1000 bytes (SparkPost).
    public var maxMetadataBytesInTrackingEvents = 1000

    /// The ceiling `maxNestingDepth` is clamped to: 1024.
    public static let hardMaxNestingDepth = 1024

    /// The defaults listed above.
    public init() {}
}
