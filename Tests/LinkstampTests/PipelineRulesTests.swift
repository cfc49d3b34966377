import Foundation
import SMTPAPI
import Testing
import Tracking

@testable import LinkstampPipeline

/// Each rule the pipeline shares with another module has one owner (issue 10, item 3); these
/// tests pin the owner and what follows from it.
@Suite struct PipelineRulesTests {
    static let page = Fixture.crlf(
        """
        From: news@acme.example
        To: reader@example.org
        Subject: Rules
        X-MSYS-API: {"options": {"click_tracking": true}}
        Content-Type: text/html

        <a href="https://e.example/short">a</a> <a href="https://e.example/\(String(repeating: "x", count: 40))">b</a>

        """)

    @Test func theURLCapAndTheLinkNameCutHaveOneOwner() {
        var limits = Limits()
        #expect(limits.scan.maxURLBytes == 4096 && limits.tracking.maxTargetBytes == 4096)
        #expect(limits.scan.maxLinkNameBytes == 63 && limits.tracking.maxLinkNameBytes == 63)
        limits.scan.maxURLBytes = 100
        limits.scan.maxLinkNameBytes = 20
        #expect(limits.tracking.maxTargetBytes == 100 && limits.tracking.maxLinkNameBytes == 20)
    }

    /// A link the scanner keeps is one a token can carry: a larger scan cap is no 451.
    @Test func aLinkTheScannerKeepsIsTracked() throws {
        var limits = Limits()
        limits.scan.maxURLBytes = 5000
        let long = "https://e.example/" + String(repeating: "x", count: 4500)
        var configuration = Configuration()
        configuration.trackingDomain = "t.example.net"
        let engine = try Engine(configuration: configuration, keyRing: Fixture.keyRing, limits: limits)
        let message = Fixture.crlf(
            """
            From: news@acme.example
            X-MSYS-API: {"options": {"click_tracking": true}}
            Content-Type: text/html

            <a href="\(long)">a</a> <a href="\(long)y">b</a>

            """)
        let transmission = try engine.prepare(
            message: message, envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]),
            now: Fixture.now)
        // Lines that long are re-encoded quoted-printable: read the copy without its soft breaks.
        let copy = try transmission.renderedBytes(try #require(transmission.copies.first)).text
            .replacingOccurrences(of: "=\r\n", with: "")
        #expect(copy.components(separatedBy: "https://t.example.net/f/").count == 3)
        #expect(!copy.contains(long))
    }

    @Test func theSizeRefusalIsMadeInOnePlace() throws {
        var limits = Limits()
        limits.maxMessageBytes = 10
        #expect(throws: Never.self) { try limits.checkMessageSize(10) }
        let reply = SMTPReply(code: 552, enhancedStatus: "5.3.4", text: "message exceeds 10 bytes")
        #expect(throws: reply) { try limits.checkMessageSize(11) }
        let engine = try Engine(configuration: Configuration(), keyRing: Fixture.keyRing, limits: limits)
        #expect(throws: reply) {
            try engine.prepare(message: Self.page, envelope: Envelope(sender: "", recipients: ["a@b.example"]))
        }
    }

    @Test func tokensExpireAfterTheConfiguredLifetime() throws {
        let engine = try Fixture.engine { $0.tokenLifetimeDays = 2 }
        let transmission = try engine.prepare(
            message: Self.page, envelope: Envelope(sender: "", recipients: ["a@b.example"]), now: Fixture.now)
        let sent = Int64(Fixture.now.timeIntervalSince1970)
        #expect(transmission.expires == sent + 2 * 86_400)
        #expect(engine.urls.limits.tokenLifetime == 2 * 86_400)
        #expect(transmission.expires == RecipientInfo.expiry(sentAt: sent, limits: engine.urls.limits))
    }

    @Test func theTrackingDomainIsAHostName() throws {
        let configuration = try Configuration(parsing: "tracking_domain = Click.Example.COM\n")
        #expect(configuration.trackingDomain == "click.example.com")
        for refused in ["t.example:8443", "https://t.example", "t.example/track", "[::1]", "t..example", "-x.example."]
        {
            let error = #expect(throws: ConfigurationError.self) {
                try Configuration(parsing: "tracking_domain = \(refused)\n")
            }
            #expect(
                error?.description == "configuration line 1: 'tracking_domain' must be a host name, not '\(refused)'")
        }
    }

    @Test func textTrackingIsResolvedWithTheOtherOptions() {
        var configuration = Configuration()
        configuration.textTracking = false
        configuration.initialOpenPixel = false
        var header = APIOptions()
        header.clickTracking = true
        header.openTracking = true
        let options = Transmission.resolveOptions(header, configuration: configuration)
        #expect(options.clickTracking && !options.textClickTracking)
        #expect(options.openTracking && !options.initialPixel)
        configuration.textTracking = true
        header.clickTracking = false
        #expect(!Transmission.resolveOptions(header, configuration: configuration).textClickTracking)
    }

    /// The pipeline does no I/O: its sources name no file, descriptor, lock or process API and
    /// never import the deliver module (which depends on the pipeline, not the other way round).
    @Test func thePipelineSourcesDoNoIO() throws {
        let root = Corpus.packageRoot.appendingPathComponent("Sources/LinkstampPipeline")
        let files = try #require(FileManager.default.enumerator(atPath: root.path)?.allObjects as? [String])
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 10)
        let forbidden = [
            "import Glibc", "import Darwin", "import Musl", "import LinkstampDeliver", "import Linkstamp\n",
            "FileManager", "FileHandle", "posix_spawn", "Process(", "flock(", "fopen(", " open(", "rename(",
            "unlink(", "mkdir(", "Data(contentsOf", "String(contentsOf", "contentsOfFile",
        ]
        for file in files {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for word in forbidden {
                #expect(!text.contains(word), "\(file) uses \(word)")
            }
        }
    }
}
