import Testing

@testable import Tracking

/// Coarse guards on the hot path (recipient tokens are made once per copy). The bounds are
/// generous enough for a loaded debug build; the measured rate is printed for the record.
@Suite struct PerformanceTests {
    @Test func recipientAndLinkTokenRates() throws {
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: try Support.ring())
        let count = 2000
        var recipient = Support.recipient
        var bytes = 0
        let clock = ContinuousClock()
        let encode = try clock.measure {
            for i in 0..<count {
                recipient.rcptTo = "user\(i)@example.org"
                bytes &+= try builder.recipientTokenBytes(recipient).count
            }
        }
        var urls: [String] = []
        for i in 0..<200 {
            recipient.rcptTo = "user\(i)@example.org"
            urls.append(builder.openURLPrefix + (try builder.recipientToken(recipient)))
        }
        let ring = try Support.ring()
        var decoded = 0
        let decode = try clock.measure {
            for _ in 0..<10 {
                for url in urls {
                    decoded &+= try TrackingDecoder.decode(url: url, keyRing: ring, now: Support.now).rcptTo.utf8.count
                }
            }
        }
        func micros(_ d: Duration) -> Double {
            Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        }
        let encodeMicros = micros(encode) / Double(count)
        let decodeMicros = micros(decode) / Double(urls.count * 10)
        print("Tracking: recipient token encode \(encodeMicros) µs, open URL decode \(decodeMicros) µs")
        #expect(bytes > count * 100)
        #expect(decoded > 0)
        #expect(encode < .milliseconds(count * 2))  // 2 ms per token: far above any real cost (~4 µs in release)
        #expect(decode < .seconds(4))
    }
}
