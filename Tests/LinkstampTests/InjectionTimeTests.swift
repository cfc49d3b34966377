import Foundation
import Testing

@testable import LinkstampDeliver

/// `injection_time` comes from the hand-written ISO 8601 writer; it writes what Foundation's
/// `ISO8601DateFormatter` wrote before (internet date-time, milliseconds, UTC), fractions included.
@Suite struct InjectionTimeTests {
    @Test func sameAsFoundationsFormatter() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        var generator = SystemRandomNumberGenerator()
        var dates = [0, 0.0005, 0.999, 0.9995, 1_795_680_000, 1_795_680_000.123, 1_795_680_000.9999]
            .map { Date(timeIntervalSince1970: $0) }
        for _ in 0..<2000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: 0...4_102_444_800, using: &generator)))
        }
        for date in dates {
            #expect(Events.iso8601(date) == formatter.string(from: date), "\(date.timeIntervalSince1970)")
        }
    }
}
