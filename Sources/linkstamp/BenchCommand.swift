import ArgumentParser
import CSSInline
import Dispatch
import Foundation
import Linkstamp
import LinkstampFilterCommand
import Synchronization

/// What `linkstamp bench` times.
enum BenchPhase: String, ExpressibleByArgument, CaseIterable {
    /// Prepare and stamp every recipient: what a relay does per message.
    case pipeline
    /// Only the once-per-message work.
    case prepare
    /// Only the per-recipient work, on messages prepared before the clock starts.
    case stamp
    /// Only the recipient-token seal of every copy (the cryptographic part of stamping).
    case seal
    /// Only the CSS inliner, on each input's HTML document.
    case inlineCSS = "inline-css"
    /// Copying the bytes stamping writes into the same kind of destination: the physical limit.
    case memcpy
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the pipeline over a corpus folder and report throughput.",
        discussion: """
            Every .eml file is used as it is; every .html document is wrapped in a message with \
            open and click tracking on. Phases: pipeline (prepare + stamp every recipient, the \
            default), prepare, stamp, seal (only the recipient tokens), inline-css (each input's \
            HTML document: an .html file, or the HTML part of an .eml), memcpy (copying the same \
            output bytes: the physical limit). Stamping and memcpy write each copy into fresh \
            memory: a 128 MiB ring, larger than the last-level cache. With --threads N the \
            inputs are spread over N threads sharing one engine, and the one-thread figure is \
            measured in the same run for the scaling. A progress bar is drawn on stderr when it \
            is a terminal; the summary line is always printed (on stderr with --json). Use a \
            release build for figures.
            """
    )

    @Option(
        name: .long,
        help: "Folder of .eml and .html files (default: the corpus folder of the package this binary was built from).")
    var corpus: String?

    /// `corpus/` next to `Sources/` in the package this binary was built from, so `bench`
    /// works from any working directory.
    static let bundledCorpus: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus").path

    @Option(name: .long, help: "Recipients per message.")
    var recipients: Int = 10

    @Option(name: .long, help: "Which work to time: \(BenchPhase.allCases.map(\.rawValue).joined(separator: ", ")).")
    var phase: BenchPhase = .pipeline

    @Option(name: .long, help: "Passes over the corpus (the fastest pass is reported).")
    var iterations: Int = 3

    @Option(
        name: .long,
        help: "Threads the inputs are spread over, sharing one engine (more than 1: one thread is measured too).")
    var threads: Int = 1

    @Flag(name: .long, help: "Print one JSON object on stdout (the summary line goes to stderr).")
    var json = false

    @Flag(
        name: .long,
        help: """
            Keep glibc malloc's default mmap and trim thresholds (by default bench raises them to \
            64 and 128 MiB, as a relay running the engine on several threads should).
            """)
    var defaultMalloc = false

    func run() throws {
        guard recipients >= 1, iterations >= 1, threads >= 1, threads <= 256 else {
            printError("linkstamp: --recipients and --iterations must be at least 1, --threads 1 to 256")
            throw ExitCode(SysExit.usage)
        }
        if !defaultMalloc { MallocTuning.apply() }
        var isFolder: ObjCBool = false
        guard
            corpus != nil
                || (FileManager.default.fileExists(atPath: Self.bundledCorpus, isDirectory: &isFolder)
                    && isFolder.boolValue)
        else {
            printError(
                "linkstamp: no --corpus given and the package's corpus folder '\(Self.bundledCorpus)' is not there; pass --corpus DIR"
            )
            throw ExitCode(SysExit.usage)
        }
        let corpus = self.corpus ?? Self.bundledCorpus
        let items: [CorpusLoader.Item]
        do { items = try CorpusLoader.load(folder: corpus) } catch {
            printError("linkstamp: cannot read corpus '\(corpus)': \(error.localizedDescription)")
            throw ExitCode(SysExit.noInput)
        }
        guard !items.isEmpty else {
            printError("linkstamp: no .eml or .html files in '\(corpus)'")
            throw ExitCode(SysExit.noInput)
        }
        var configuration = Configuration()
        configuration.trackingDomain = "click.example.com"
        configuration.openTracking = true
        configuration.clickTracking = true
        let engine: Engine
        do { engine = try Engine(configuration: configuration, keyRing: KeyRing.generate()) } catch {
            throw replyExit(error)
        }
        let envelope = Envelope(
            sender: "news@example.com", recipients: (0..<recipients).map { "reader\($0)@example.org" })
        var bench = CorpusBench(phase: phase, engine: engine, envelope: envelope)
        let passes = threads > 1 ? 2 * iterations : iterations
        let progress = Progress(total: items.count * passes, enabled: isatty(STDERR_FILENO) == 1)

        var best: BenchMeasurement?
        var single: BenchMeasurement?
        for _ in 0..<iterations {
            // With threads, one-thread and N-thread passes alternate, so both see the same load.
            if threads > 1 {
                let one = try bench.measure(items, progress: progress)
                if one.seconds < single?.seconds ?? .infinity { single = one }
            }
            let measurement =
                threads > 1
                ? try CorpusBench.measure(
                    items, threads: threads, phase: phase, engine: engine, envelope: envelope, progress: progress)
                : try bench.measure(items, progress: progress)
            if measurement.seconds < best?.seconds ?? .infinity { best = measurement }
        }
        progress.finish()
        guard var result = best else { return }
        result.threads = threads
        result.single = single.map { ($0.rate($0.messages), $0.cpuPerMessage) }
        if phase == .inlineCSS { result.doctypes = bench.doctypes }
        let summary = result.summary(phase: phase, recipients: recipients)
        if json {
            print(result.json(phase: phase, recipients: recipients, corpus: corpus))
            printError(summary)
        } else {
            print(summary)
        }
    }
}

/// One pass over a corpus, with only the phase's own work inside the clock.
struct CorpusBench {
    let phase: BenchPhase
    let engine: Engine
    let envelope: Envelope
    let clock = ContinuousClock()
    /// Where stamping and memcpy write every copy: fresh memory each time, never a hot buffer.
    var ring: CopyRing?
    /// Doctypes found in and kept byte for byte by the inliner (counted outside the clock).
    var doctypes = DoctypeCount()

    init(phase: BenchPhase, engine: Engine, envelope: Envelope) {
        self.phase = phase
        self.engine = engine
        self.envelope = envelope
        if phase == .pipeline || phase == .stamp || phase == .memcpy { ring = CopyRing() }
    }

    mutating func measure(_ items: [CorpusLoader.Item], progress: Progress) throws -> BenchMeasurement {
        var index = 0
        return try measure(progress: progress) {
            defer { index += 1 }
            return index < items.count ? items[index] : nil
        }
    }

    /// One pass over the inputs `next` hands out until it returns nil.
    mutating func measure(progress: Progress?, next: () -> CorpusLoader.Item?) throws -> BenchMeasurement {
        var result = BenchMeasurement()
        var elapsed = Duration.zero
        doctypes = DoctypeCount()
        let cpuStart = threadCPUSeconds()
        while let item = next() {
            defer { progress?.step() }
            if phase == .inlineCSS {
                // An .eml without an HTML part has nothing to inline: not counted at all.
                guard let document = CorpusLoader.htmlDocument(of: item) else { continue }
                result.messages += 1
                result.inputBytes += document.count
                let inliner = CSSInliner()
                let start = clock.now
                let inlined = try? inliner.inline(document)
                elapsed += clock.now - start
                if let inlined {
                    result.outputBytes += inlined.count
                    doctypes.count(input: document, output: inlined)
                } else {
                    result.refused += 1
                }
                continue
            }
            result.messages += 1
            result.inputBytes += item.message.count
            let start = clock.now
            let transmission: Transmission
            do { transmission = try engine.prepare(message: item.message, envelope: envelope) } catch {
                result.refused += 1
                if phase == .pipeline || phase == .prepare { elapsed += clock.now - start }
                continue
            }
            let prepared = clock.now
            if phase == .prepare {
                elapsed += prepared - start
                continue
            }
            result.copies += transmission.copies.count
            switch phase {
            case .memcpy:
                elapsed += try copyRenderedBytes(of: transmission, into: &result)
            case .seal:
                elapsed += try sealTokens(of: transmission, into: &result)
            default:
                guard var ring else { continue }
                let before = ring.written
                for copy in transmission.copies {
                    ring.startCopy()
                    try transmission.render(copy, into: &ring)
                }
                elapsed += clock.now - (phase == .stamp ? prepared : start)
                result.outputBytes += ring.written - before
                self.ring = ring
            }
        }
        result.cpuSeconds = threadCPUSeconds() - cpuStart
        result.seconds = elapsed.seconds
        return result
    }

    /// Renders every copy outside the clock, then times copying exactly those bytes, copy by
    /// copy, into the ring stamping writes to.
    private mutating func copyRenderedBytes(
        of transmission: Transmission, into result: inout BenchMeasurement
    ) throws -> Duration {
        var rendered: [[UInt8]] = []
        rendered.reserveCapacity(transmission.copies.count)
        for copy in transmission.copies {
            rendered.append(try transmission.renderedBytes(copy))
        }
        guard var ring else { return .zero }
        let before = ring.written
        let start = clock.now
        for bytes in rendered {
            ring.startCopy()
            bytes.withUnsafeBytes { ring.write($0) }
        }
        let elapsed = clock.now - start
        result.outputBytes += ring.written - before
        self.ring = ring
        return elapsed
    }

    /// Times sealing every copy's recipient token, as stamping does first for each copy (one
    /// seal and its kind tags); the output bytes are the tokens' URL segments.
    private func sealTokens(of transmission: Transmission, into result: inout BenchMeasurement) throws -> Duration {
        let urls = engine.urls
        let infos = transmission.copies.map { copy in
            RecipientInfo(
                transmissionID: transmission.transmissionID, messageID: copy.messageID, rcptTo: copy.normalizedAddress,
                rcptType: copy.rcptType, expires: transmission.expires)
        }
        var bytes = 0
        let start = clock.now
        for info in infos {
            bytes += try urls.recipientToken(info).segmentLength
        }
        let elapsed = clock.now - start
        result.outputBytes += bytes
        return elapsed
    }

    /// One pass with the inputs spread over `threads` threads that share `engine`: each thread
    /// takes the next input not yet taken and keeps its own clock, covering only the phase's work
    /// as with one thread; the pass lasts as long as its slowest thread's clock.
    static func measure(
        _ items: [CorpusLoader.Item], threads: Int, phase: BenchPhase, engine: Engine, envelope: Envelope,
        progress: Progress
    ) throws -> BenchMeasurement {
        let shared = SharedPass(items: items)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            let thread = Thread {
                // The ring is made (and its memory written) before the start signal.
                var bench = CorpusBench(phase: phase, engine: engine, envelope: envelope)
                ready.signal()
                go.wait()
                let outcome = Result { try bench.measure(progress: nil) { shared.next() } }
                shared.results.withLock { $0.append(outcome) }
                done.signal()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        for _ in 0..<threads { ready.wait() }
        for _ in 0..<threads { go.signal() }
        for _ in 0..<threads { done.wait() }
        for _ in 0..<items.count { progress.step() }
        var total = BenchMeasurement()
        for outcome in shared.results.withLock({ $0 }) {
            let part = try outcome.get()
            total.messages += part.messages
            total.refused += part.refused
            total.inputBytes += part.inputBytes
            total.copies += part.copies
            total.outputBytes += part.outputBytes
            total.cpuSeconds += part.cpuSeconds
            total.seconds = max(total.seconds, part.seconds)
        }
        return total
    }
}

/// What the threads of one pass share: the next input to take and their results.
final class SharedPass: Sendable {
    let items: [CorpusLoader.Item]
    let taken = Atomic<Int>(0)
    let results = Mutex<[Result<BenchMeasurement, any Error>]>([])

    init(items: [CorpusLoader.Item]) { self.items = items }

    /// The next input no thread has taken yet, or nil when all are taken.
    func next() -> CorpusLoader.Item? {
        let index = taken.add(1, ordering: .relaxed).oldValue
        return index < items.count ? items[index] : nil
    }
}

/// CPU time the calling thread has used, in seconds.
func threadCPUSeconds() -> Double {
    var time = timespec()
    guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return 0 }
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
/// Documents that start with a doctype, and how many of those the inliner kept byte for byte.
struct DoctypeCount {
    var found = 0
    var kept = 0

    mutating func count(input: [UInt8], output: [UInt8]) {
        guard let doctype = Self.doctype(in: input) else { return }
        found += 1
        if let after = Self.doctype(in: output), after == doctype { kept += 1 }
    }

    /// The `<!doctype …>` declaration before the first element (a BOM, whitespace and comments
    /// may precede it), as bytes.
    static func doctype(in bytes: [UInt8]) -> ArraySlice<UInt8>? {
        let marker = Array("<!doctype".utf8)
        let head = bytes.prefix(4096)
        var index = head.startIndex
        while index + marker.count <= head.endIndex {
            if head[index] == UInt8(ascii: "<") {
                let candidate = head[index..<(index + marker.count)]
                if candidate.map({ $0 | 0x20 }).elementsEqual(marker.map { $0 | 0x20 }) {
                    guard let end = head[index...].firstIndex(of: UInt8(ascii: ">")) else { return nil }
                    return bytes[index...end]
                }
                // Comments may come first; any other tag means there is no doctype.
                if index + 1 < head.endIndex, head[index + 1] != UInt8(ascii: "!") { return nil }
            }
            index += 1
        }
        return nil
    }
}

/// Totals of one pass.
struct BenchMeasurement {
    var messages = 0
    var refused = 0
    var inputBytes = 0
    var copies = 0
    var outputBytes = 0
    /// The phase's own time (with threads, the longest of the threads' clocks).
    var seconds = 0.0
    /// CPU time of the whole pass, every thread summed (work outside the clock included).
    var cpuSeconds = 0.0
    var doctypes: DoctypeCount?
    /// Threads the pass ran on.
    var threads = 1
    /// With threads, the fastest one-thread pass of the same run: its messages per second and
    /// CPU microseconds per message.
    var single: (messagesPerSecond: Double, cpuPerMessage: Double)?

    /// Per second, or 0 when nothing was timed (an empty or wholly refused corpus).
    func rate(_ amount: Int, scale: Double = 1) -> Double {
        seconds > 0 ? Double(amount) / seconds / scale : 0
    }

    /// CPU microseconds per message.
    var cpuPerMessage: Double { messages > 0 ? cpuSeconds / Double(messages) * 1e6 : 0 }

    /// Messages per second relative to the one-thread pass (nil without threads).
    var scaling: Double? {
        guard let single, single.messagesPerSecond > 0 else { return nil }
        return rate(messages) / single.messagesPerSecond
    }

    func json(phase: BenchPhase, recipients: Int, corpus: String) -> String {
        func number(_ value: Int) -> JSONValue { .number(String(value)) }
        func number(_ value: Double, _ format: String) -> JSONValue { .number(String(format: format, value)) }
        var members = [
            JSONMember(key: "phase", value: .string(phase.rawValue)),
            JSONMember(key: "corpus", value: .string(corpus)),
            JSONMember(key: "messages", value: number(messages)),
            JSONMember(key: "refused", value: number(refused)),
            JSONMember(key: "recipients", value: number(recipients)),
            JSONMember(key: "input_bytes", value: number(inputBytes)),
            JSONMember(key: "copies", value: number(copies)),
            JSONMember(key: "output_bytes", value: number(outputBytes)),
            JSONMember(key: "seconds", value: number(seconds, "%.6f")),
            JSONMember(key: "messages_per_s", value: number(rate(messages), "%.1f")),
            JSONMember(key: "input_mb_per_s", value: number(rate(inputBytes, scale: 1e6), "%.2f")),
            JSONMember(key: "copies_per_s", value: number(rate(copies), "%.1f")),
            JSONMember(key: "output_mb_per_s", value: number(rate(outputBytes, scale: 1e6), "%.2f")),
            JSONMember(key: "threads", value: number(threads)),
            JSONMember(key: "cpu_us_per_message", value: number(cpuPerMessage, "%.2f")),
        ]
        if let single, let scaling {
            members.append(JSONMember(key: "messages_per_s_1_thread", value: number(single.messagesPerSecond, "%.1f")))
            members.append(JSONMember(key: "cpu_us_per_message_1_thread", value: number(single.cpuPerMessage, "%.2f")))
            members.append(JSONMember(key: "scaling", value: number(scaling, "%.3f")))
        }
        if let doctypes {
            members.append(JSONMember(key: "doctypes", value: number(doctypes.found)))
            members.append(JSONMember(key: "doctypes_kept", value: number(doctypes.kept)))
        }
        return JSONValue.object(members).serialized()
    }

    func summary(phase: BenchPhase, recipients: Int) -> String {
        var scalingNote = ""
        if let single, let scaling {
            scalingNote = String(
                format: "; %d threads: %.2fx 1 thread (%.0f messages/s), CPU %.1f µs/message (1 thread %.1f)",
                threads, scaling, single.messagesPerSecond, cpuPerMessage, single.cpuPerMessage)
        }
        if phase == .inlineCSS {
            let rates = String(
                format: "%.0f documents/s, %.1f MB/s in, %.1f MB/s out (%.1f ms)",
                rate(messages), rate(inputBytes, scale: 1e6), rate(outputBytes, scale: 1e6), seconds * 1e3)
            return "inline-css: \(messages) documents (\(refused) refused): \(rates)\(scalingNote)"
        }
        let rates = String(
            format: "%.0f messages/s, %.1f MB/s in, %.0f copies/s, %.1f MB/s out (%.1f ms)",
            rate(messages), rate(inputBytes, scale: 1e6), rate(copies), rate(outputBytes, scale: 1e6), seconds * 1e3)
        return
            "\(phase.rawValue): \(messages) messages (\(refused) refused), \(recipients) recipients each: \(rates)\(scalingNote)"
    }
}

/// A one-line progress bar on stderr when it is a terminal.
final class Progress {
    let total: Int
    let enabled: Bool
    var done = 0

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func step() {
        done += 1
        guard enabled, done % max(1, total / 100) == 0 || done == total else { return }
        let width = 40
        let filled = done * width / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
