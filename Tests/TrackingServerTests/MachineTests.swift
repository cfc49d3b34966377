import Testing
import Tracking

@testable import TrackingServer

/// Issue 11: machine opens and scanner clicks are classified, with reasons.
@Suite struct MachineTests {
    static func event(_ type: TrackedEventType, link: String? = nil, injected: Int64 = 1000, trap: Bool = false)
        -> TrackedEvent
    {
        var event = TrackedEvent(
            type: type, transmissionID: "1", messageID: "m1", rcptTo: "a@example.org", rcptType: nil,
            targetLinkURL: link, targetLinkName: link == nil ? nil : "Raw URL", expires: 99_999,
            keyID: 1, message: MessageInfo(transmissionID: 1, injectionTime: injected))
        event.isTrapLink = trap
        return event
    }

    @Test func reasons() throws {
        let ranges = try AddressRange.parseList("# apple\n17.0.0.0/8,US\n2a01:b740::/32\n")
        let classifier = MachineClassifier(secondsAfterInjection: 10, proxyRanges: ranges)
        let person = EngagementEvent.Client(ipAddress: "203.0.113.7", userAgent: "Firefox/140.0")
        #expect(classifier.classify(Self.event(.open), isHEAD: false, client: person, now: 5000).reasons == [])
        #expect(
            classifier.classify(Self.event(.open), isHEAD: false, client: .init(ipAddress: "17.58.1.2"), now: 5000)
                .reasons
                == ["apple_mail_privacy_proxy"])
        #expect(
            classifier.classify(Self.event(.open), isHEAD: false, client: .init(ipAddress: "2a01:b740::5"), now: 5000)
                .reasons == ["apple_mail_privacy_proxy"])
        let google = EngagementEvent.Client(
            ipAddress: "66.249.1.1", userAgent: "Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
        #expect(
            classifier.classify(Self.event(.open), isHEAD: false, client: google, now: 5000).reasons == [
                "google_image_proxy"
            ])
        let yahoo = EngagementEvent.Client(ipAddress: "1.2.3.4", userAgent: "YahooMailProxy; https://help.yahoo.com")
        #expect(
            classifier.classify(Self.event(.open), isHEAD: false, client: yahoo, now: 5000).reasons == [
                "yahoo_mail_proxy"
            ])
        #expect(
            classifier.classify(Self.event(.open), isHEAD: true, client: person, now: 5000).reasons == ["head_request"])
        #expect(
            classifier.classify(Self.event(.open), isHEAD: false, client: person, now: 1005).reasons == [
                "soon_after_injection"
            ])
    }

    @Test func rapidClicksAndTrapLink() {
        let classifier = MachineClassifier(secondsAfterInjection: 0)
        let client = EngagementEvent.Client(ipAddress: "198.51.100.1")
        #expect(
            classifier.classify(Self.event(.click, link: "https://a/"), isHEAD: false, client: client, now: 5000)
                .reasons == [])
        #expect(
            classifier.classify(Self.event(.click, link: "https://b/"), isHEAD: false, client: client, now: 5000.4)
                .reasons
                == ["rapid_multi_click"])
        #expect(
            classifier.classify(Self.event(.click, link: "https://a/"), isHEAD: false, client: client, now: 5003)
                .reasons == [])
        // The trap link, then a click of the same copy a few seconds later: both machine.
        let other = EngagementEvent.Client(ipAddress: "198.51.100.2")
        #expect(
            classifier.classify(
                Self.event(.click, link: "https://t/", trap: true), isHEAD: false, client: other, now: 6000
            )
            .reasons == ["scanner_trap_link"])
        #expect(
            classifier.classify(Self.event(.click, link: "https://a/"), isHEAD: false, client: client, now: 6003)
                .reasons
                == ["scanner_trap_link"])
    }

    @Test func redirectTargets() {
        #expect(TrackingServer.redirectLocation("https://a.example/x?y=1") == "https://a.example/x?y=1")
        #expect(TrackingServer.redirectLocation("HTTP://a.example/é") == "HTTP://a.example/%C3%A9")
        #expect(TrackingServer.redirectLocation("HtTpS://a.example/") == "HtTpS://a.example/")
        #expect(TrackingServer.redirectLocation("https://a.example/a b") == "https://a.example/a%20b")
        #expect(TrackingServer.redirectLocation("https:/a.example/") == nil)
        #expect(TrackingServer.redirectLocation("http") == nil)
        #expect(TrackingServer.redirectLocation("javascript:alert(1)") == nil)
        #expect(TrackingServer.redirectLocation("data:text/html,x") == nil)
        #expect(TrackingServer.redirectLocation("https://a.example/\r\nSet-Cookie: x") == nil)
    }
}

extension MachineTests {
    /// The user-agent search is a plain byte search: anywhere, including at the end; not a prefix.
    @Test func userAgentSearchFindsTheNameAnywhere() {
        #expect(MachineClassifier.contains("GoogleImageProxy", "GoogleImageProxy"))
        #expect(MachineClassifier.contains("Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "GoogleImageProxy"))
        #expect(MachineClassifier.contains("x GoogleGoogleImageProxy", "GoogleImageProxy"))
        #expect(!MachineClassifier.contains("Mozilla/5.0 GoogleImageProx", "GoogleImageProxy"))
        #expect(!MachineClassifier.contains("", "YahooMailProxy"))
        #expect(!MachineClassifier.contains("yahoomailproxy", "YahooMailProxy"))
    }
}
