import ArgumentParser
import CSSInline
import Foundation
import Linkstamp
import LinkstampFilterCommand

/// What `linkstamp bench` times.
enum BenchPhase: String, ExpressibleByArgument, CaseIterable {
    /// Prepare and stamp every recipient: what a relay does per message.
    case pipeline
    /// Only the once-per-message work.
    case prepare
    /// Only the per-recipient work, on messages prepared before the clock starts.
    case stamp
    /// Only the CSS inliner, on each input's HTML document.
    case inlineCSS = "inline-css"
    /// Copying the bytes stamping writes into the same reused buffer: the physical limit.
    case memcpy
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the pipeline over a corpus folder and report throughput.",
        discussion: """
            Every .eml file is used as it is; every .html document is wrapped in a message with \
            open and click tracking on. Phases: pipeline (prepare + stamp every recipient, the \
            default), prepare, stamp, inline-css (each input's HTML document: an .html file, or \
            the HTML part of an .eml), memcpy (copying the same output bytes: the physical \
            limit). A progress bar is drawn on stderr when it is a terminal; the summary line is \
            always printed (on stderr with --json). Use a release build for figures.
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

    @Flag(name: .long, help: "Print one JSON object on stdout (the summary line goes to stderr).")
    var json = false

    func run() throws {
        guard recipients >= 1, iterations >= 1 else {
            printError("linkstamp: --recipients and --iterations must be at least 1")
            throw ExitCode(SysExit.usage)
        }
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
        let progress = Progress(total: items.count * iterations, enabled: isatty(STDERR_FILENO) == 1)

        var best: BenchMeasurement?
        for _ in 0..<iterations {
            let measurement = try bench.measure(items, progress: progress)
            if measurement.seconds < best?.seconds ?? .infinity { best = measurement }
        }
        progress.finish()
        guard var result = best else { return }
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
    /// Output buffer reused by every copy, as a relay writing to one socket buffer would.
    var output: [UInt8] = []
    /// Doctypes found in and kept byte for byte by the inliner (counted outside the clock).
    var doctypes = DoctypeCount()

    init(phase: BenchPhase, engine: Engine, envelope: Envelope) {
        self.phase = phase
        self.engine = engine
        self.envelope = envelope
        output.reserveCapacity(1 << 20)
    }

    mutating func measure(_ items: [CorpusLoader.Item], progress: Progress) throws -> BenchMeasurement {
        var result = BenchMeasurement()
        var elapsed = Duration.zero
        doctypes = DoctypeCount()
        for item in items {
            defer { progress.step() }
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
            if phase == .memcpy {
                elapsed += try copyRenderedBytes(of: transmission, into: &result)
                continue
            }
            for copy in transmission.copies {
                output.removeAll(keepingCapacity: true)
                try transmission.render(copy, into: &output)
                result.outputBytes += output.count
            }
            elapsed += clock.now - (phase == .stamp ? prepared : start)
        }
        result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return result
    }

    /// Renders every copy outside the clock, then times copying exactly those bytes, copy by
    /// copy, into the same reused buffer stamping writes to.
    private mutating func copyRenderedBytes(
        of transmission: Transmission, into result: inout BenchMeasurement
    ) throws -> Duration {
        var rendered: [[UInt8]] = []
        rendered.reserveCapacity(transmission.copies.count)
        for copy in transmission.copies {
            rendered.append(try transmission.renderedBytes(copy))
        }
        let largest = rendered.map(\.count).max() ?? 0
        if output.count < largest { output = [UInt8](repeating: 0, count: largest) }
        let start = clock.now
        output.withUnsafeMutableBytes { destination in
            for bytes in rendered {
                bytes.withUnsafeBytes { source in
                    if let to = destination.baseAddress, let from = source.baseAddress {
                        memcpy(to, from, source.count)
                    }
                }
            }
        }
        let elapsed = clock.now - start
        blackHole(output)
        result.outputBytes += rendered.reduce(0) { $0 + $1.count }
        return elapsed
    }
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
    var seconds = 0.0
    var doctypes: DoctypeCount?

    /// Per second, or 0 when nothing was timed (an empty or wholly refused corpus).
    func rate(_ amount: Int, scale: Double = 1) -> Double {
        seconds > 0 ? Double(amount) / seconds / scale : 0
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
        ]
        if let doctypes {
            members.append(JSONMember(key: "doctypes", value: number(doctypes.found)))
            members.append(JSONMember(key: "doctypes_kept", value: number(doctypes.kept)))
        }
        return JSONValue.object(members).serialized()
    }

    func summary(phase: BenchPhase, recipients: Int) -> String {
        if phase == .inlineCSS {
            let rates = String(
                format: "%.0f documents/s, %.1f MB/s in, %.1f MB/s out (%.1f ms)",
                rate(messages), rate(inputBytes, scale: 1e6), rate(outputBytes, scale: 1e6), seconds * 1e3)
            return "inline-css: \(messages) documents (\(refused) refused): \(rates)"
        }
        let rates = String(
            format: "%.0f messages/s, %.1f MB/s in, %.0f copies/s, %.1f MB/s out (%.1f ms)",
            rate(messages), rate(inputBytes, scale: 1e6), rate(copies), rate(outputBytes, scale: 1e6), seconds * 1e3)
        return "\(phase.rawValue): \(messages) messages (\(refused) refused), \(recipients) recipients each: \(rates)"
    }
}

@inline(never)
func blackHole(_ value: [UInt8]) {
    if value.count == -1 { print(value) }
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
