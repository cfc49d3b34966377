import Testing

@testable import Tracking

/// `recipientSegmentLength` (the prepare stage's line-length bound, computed without sealing)
/// against the length of the token actually sealed, over the sizes that change it.
@Suite struct TokenLengthTests {
    @Test func lengthMatchesTheSealedToken() throws {
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: try Support.ring())
        let ids: [UInt64] = [0, 1, 127, 128, 1 << 40, UInt64.max]
        let types: [RecipientType?] = [nil, .cc, .bcc, .archive]
        for (round, id) in ids.enumerated() {
            for local in 0..<40 {
                let info = RecipientInfo(
                    transmissionID: id, messageID: String(repeating: "m", count: round * 7),
                    rcptTo: String(repeating: "a", count: local) + "@example.org", rcptType: types[local % 4],
                    expires: local % 3 == 0 ? Support.expires : -Int64(local) << 30)
                let sealed = try builder.recipientToken(info)
                #expect(try builder.recipientSegmentLength(info) == sealed.segmentLength)
                #expect(sealed.segmentLength == sealed.segment(.click).count)
            }
        }
    }

    @Test func lengthThrowsWhatSealingThrows() throws {
        let empty = TrackingURLBuilder(domain: "click.example.com", keyRing: KeyRing(keys: []))
        #expect(throws: TrackingError.emptyKeyRing) { try empty.recipientSegmentLength(Support.recipient) }
        let builder = TrackingURLBuilder(domain: "click.example.com", keyRing: try Support.ring())
        let long = RecipientInfo(
            transmissionID: 1, messageID: "m", rcptTo: String(repeating: "x", count: builder.limits.maxFieldBytes + 1),
            rcptType: nil, expires: Support.expires)
        #expect(throws: TrackingError.self) { try builder.recipientSegmentLength(long) }
        #expect(throws: TrackingError.self) { try builder.recipientToken(long) }
    }
}
