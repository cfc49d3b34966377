/// The journal read back in order, for webhook delivery: every store that journals events (the
/// file journal, PostgreSQL) can hand them out from a position and remember, per consumer, the
/// position up to which delivery is done. Delivery is at-least-once: a consumer commits only
/// after the receiver acknowledged, so a restart repeats at most the batch in flight.
public protocol EventFeed: Sendable {
    /// Up to `limit` whole event lines after `position` (`nil`: from the start), in journal
    /// order, each with the position just after it (what to commit once it is delivered).
    func read(after position: UInt64?, limit: Int) async throws -> [FeedEntry]
    /// The position `consumer` last committed, or `nil` when it never committed.
    func committedPosition(consumer: String) async throws -> UInt64?
    /// Records that `consumer` delivered everything up to `position`, durably.
    func commit(_ position: UInt64, consumer: String) async throws
}

/// One journal line and the position that follows it.
public struct FeedEntry: Sendable, Hashable {
    /// The event: one JSON object, no line break.
    public var line: String
    /// The position just after this line (a byte offset for files, a row id for PostgreSQL).
    public var next: UInt64

    /// An entry.
    public init(line: String, next: UInt64) {
        self.line = line
        self.next = next
    }
}
