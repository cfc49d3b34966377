import Benchmark
import CSSInline
import Foundation
import Linkstamp
import MIME
import Tracking

// `CSSInline`, `MIME` and `Tracking` are modules of the `Linkstamp` product; they are imported
// directly so each stage can be measured on its own.

/// Every benchmark's configuration: allocation counts are gated (they are deterministic for a
/// given input and toolchain), wall clock and throughput are only reported.
private func configuration(
    scaling: BenchmarkScalingFactor = .one, timeUnits: BenchmarkTimeUnits = .milliseconds
) -> Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: timeUnits,
        warmupIterations: 1,
        scalingFactor: scaling,
        maxDuration: .seconds(3),
        maxIterations: 50,
        // Counts are exact for a given input and toolchain; 1 % of slack absorbs a toolchain's
        // Foundation internals, while a regression adds whole allocations per message, copy or
        // link (hundreds on a corpus). Exceeding the relative or the absolute bound fails.
        thresholds: [.mallocCountTotal: BenchmarkThresholds(relative: [.p90: 1.0])]
    )
}

/// The engine every pipeline benchmark uses: tracking on, a fresh key ring, nothing suppressed.
private func makeEngine() -> Engine? {
    var configuration = Configuration()
    configuration.trackingDomain = "click.example.com"
    configuration.openTracking = true
    configuration.clickTracking = true
    return try? Engine(configuration: configuration, keyRing: KeyRing.generate())
}

/// Fixed so that allocation counts do not depend on the clock or on random ids.
private let fixedNow = Date(timeIntervalSince1970: 1_790_000_000)
private let fixedTransmissionID: UInt64 = 0x1234_5678_9ABC

private func envelope(recipients: Int) -> Envelope {
    Envelope(sender: "news@example.com", recipients: (0..<recipients).map { "reader\($0)@example.org" })
}

let benchmarks: @Sendable () -> Void = {
    let corpus = BenchmarkCorpus.load()
    guard let engine = makeEngine() else {
        fatalError("cannot build the benchmark engine")
    }
    // Names carry no spaces or slashes: the threshold files are named after them, and the tool
    // reads them back by the raw name. The suffix is the corpus the counts belong to.
    let tag = corpus.label
    let tenRecipients = envelope(recipients: 10)
    // The wrapped HTML documents when there are any, else the bundled messages.
    let trackedMessages = corpus.documents.isEmpty ? corpus.messages : corpus.documents
    let htmlDocuments: [[UInt8]] = corpus.documents.compactMap(\.html)

    // MIME walk: header block and the multipart tree as byte ranges, every .eml.
    Benchmark("mime-walk.\(tag)", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations {
            for item in corpus.messages {
                blackHole(try? MessageStructure.parse(item.message))
            }
        }
    }

    // Prepare: everything done once per message (API header, recipients, parts, links, tokens).
    Benchmark("prepare-eml-10-recipients.\(tag)", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations {
            for item in corpus.messages {
                blackHole(
                    try? engine.prepare(
                        message: item.message, envelope: tenRecipients, now: fixedNow,
                        transmissionID: fixedTransmissionID))
            }
        }
    }

    // Stamping: only the per-recipient work, on messages prepared before the clock starts.
    let prepared: [Transmission] = trackedMessages.compactMap {
        try? engine.prepare(
            message: $0.message, envelope: tenRecipients, now: fixedNow, transmissionID: fixedTransmissionID)
    }
    Benchmark("stamp-html-10-copies.\(tag)", configuration: configuration()) { benchmark in
        var output: [UInt8] = []
        output.reserveCapacity(1 << 20)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for transmission in prepared {
                for copy in transmission.copies {
                    output.removeAll(keepingCapacity: true)
                    try? transmission.render(copy, into: &output)
                    blackHole(output.count)
                }
            }
        }
    }

    // CSS inlining of each HTML document (libxml2 parse, cascade, patches into the original).
    Benchmark("css-inline-html.\(tag)", configuration: configuration()) { benchmark in
        let inliner = CSSInliner()
        for _ in benchmark.scaledIterations {
            for document in htmlDocuments {
                blackHole(try? inliner.inline(document))
            }
        }
    }

    // Tokens: one tracked click URL built (link token + recipient token) and decoded back.
    let urls = TrackingURLBuilder(domain: "click.example.com", keyRing: engine.keyRing)
    let link = LinkInfo(transmissionID: fixedTransmissionID, index: 3, target: "https://shop.example.com/spring?utm=x")
    let recipient = RecipientInfo(
        transmissionID: fixedTransmissionID, messageID: "0001.0002.0003", rcptTo: "reader@example.org",
        rcptType: nil, expires: 1_900_000_000)
    let perToken = configuration(scaling: .kilo, timeUnits: .nanoseconds)
    Benchmark("token-encode-click-url-x1000", configuration: perToken) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? urls.clickURL(link: link, recipient: recipient))
        }
    }
    let clickURL = (try? urls.clickURL(link: link, recipient: recipient)) ?? ""
    Benchmark("token-decode-click-url-x1000", configuration: perToken) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? TrackingDecoder.decode(url: clickURL, keyRing: engine.keyRing, now: 1_800_000_000))
        }
    }
}
