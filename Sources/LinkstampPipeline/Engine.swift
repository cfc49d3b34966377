import Foundation
import SMTPAPI
import Tracking

/// What stays the same from one message to the next: configuration, keys, suppression list and
/// limits. Build one per process (or per configuration reload) and prepare every message with it.
public struct Engine: Sendable {
    /// The operator's configuration.
    public let configuration: Configuration
    /// Keys that sign and encrypt tracking tokens.
    public let keyRing: KeyRing
    /// Suppressed addresses.
    public let suppressionList: SuppressionList
    /// Limits applied to every message.
    public let limits: Limits
    package let urls: TrackingURLBuilder
    /// Tests set this to get placeholder tokens (`L<link index>`, `R<copy index>`) so golden
    /// files can compare whole messages byte for byte. Never set in production.
    package var placeholderTokensForTesting = false

    /// An engine over already-loaded configuration, keys and suppression list.
    public init(
        configuration: Configuration,
        keyRing: KeyRing,
        suppressionList: SuppressionList = SuppressionList(),
        limits: Limits = Limits()
    ) throws(SMTPReply) {
        self.configuration = configuration
        self.keyRing = keyRing
        self.suppressionList = suppressionList
        self.limits = limits
        var tracking = limits.tracking
        tracking.tokenLifetime = Int64(configuration.tokenLifetimeDays) * 86_400
        self.urls = TrackingURLBuilder(domain: configuration.trackingDomain, keyRing: keyRing, limits: tracking)
        guard !keyRing.keys.isEmpty else { throw Engine.internalError("the key ring has no key") }
    }

    static func internalError(_ text: String) -> SMTPReply {
        SMTPReply(code: 451, enhancedStatus: "4.3.0", text: "[internal] \(text)")
    }

    /// Prepares one message: everything that does not depend on the recipient is done here,
    /// once. Throws the SMTP reply the relay must give when the message is refused.
    public func prepare(
        message: [UInt8],
        envelope: Envelope,
        now: Date = Date(),
        transmissionID: UInt64? = nil
    ) throws(SMTPReply) -> Transmission {
        try Transmission(engine: self, message: message, envelope: envelope, now: now, transmissionID: transmissionID)
    }

    /// The first half of ``prepare(message:envelope:now:transmissionID:)``: checks the message
    /// and expands its recipients (every refusal happens here), without applying suppression.
    /// Look up ``PendingTransmission/recipientAddresses`` in a shared store, then finish with
    /// ``prepare(_:suppression:)``.
    public func begin(
        message: [UInt8],
        envelope: Envelope,
        now: Date = Date(),
        transmissionID: UInt64? = nil
    ) throws(SMTPReply) -> PendingTransmission {
        try PendingTransmission(
            engine: self, message: message, envelope: envelope, now: now, transmissionID: transmissionID)
    }

    /// The second half: prepares `pending` with the engine's suppression list and, in addition,
    /// `suppression` (what a shared store holds for this message's recipients).
    public func prepare(_ pending: PendingTransmission, suppression: SuppressionList) throws(SMTPReply) -> Transmission
    {
        try Transmission(engine: self, pending: pending, suppression: suppression)
    }
}

/// Makes time-ordered 63-bit transmission ids: milliseconds since 2020-01-01 (41 bits), the
/// process id (10 bits) and 12 random bits, so concurrent filter processes on one relay do not
/// collide.
enum TransmissionIDGenerator {
    static let epochMilliseconds: Int64 = 1_577_836_800_000

    static func make(now: Date) throws(SMTPReply) -> UInt64 {
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down)) - epochMilliseconds
        guard milliseconds > 0, milliseconds < (1 << 41) else { throw SMTPReply.uniqueIDFailure }
        // getpid(), not ProcessInfo: a filter process would make ProcessInfo for this alone.
        let pid = UInt64(UInt32(truncatingIfNeeded: getpid())) & 0x3FF
        var generator = SystemRandomNumberGenerator()
        let random = generator.next() & 0xFFF
        return (UInt64(milliseconds) << 22) | (pid << 12) | random
    }
}
