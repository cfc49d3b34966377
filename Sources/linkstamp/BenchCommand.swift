import ArgumentParser
import CSSInline
import Foundation
import Linkstamp
import SMTPAPI
import Tracking

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the pipeline over a corpus folder and report throughput.",
        discussion: """
            Every .eml file is used as it is; every .html document is wrapped in a message with \
            open and click tracking on. Phases: pipeline (prepare + stamp every recipient, the \
            default), prepare, stamp, inline-css, memcpy (copying the same output bytes: the \
            physical limit). Use a release build for figures.
            """
    )

    @Option(name: .long, help: "Folder of .eml and .html files (default: corpus/).")
    var corpus: String = "corpus"

    @Option(name: .long, help: "Recipients per message.")
    var recipients: Int = 10

    @Option(name: .long, help: "Which work to time: pipeline, prepare, stamp, inline-css, memcpy.")
    var phase: String = "pipeline"

    @Option(name: .long, help: "Passes over the corpus (the best pass is reported).")
    var iterations: Int = 3

    @Flag(name: .long, help: "Print one JSON object instead of the summary line.")
    var json = false

    func run() throws {
        let items: [CorpusLoader.Item]
        do { items = try CorpusLoader.load(folder: corpus) } catch {
            printError("linkstamp: cannot read corpus '\(corpus)': \(error.localizedDescription)")
            throw ExitCode(SysExit.noInput)
        }
        guard !items.isEmpty else {
            printError("linkstamp: no .eml or .html files in '\(corpus)'")
            throw ExitCode(SysExit.noInput)
        }
        guard recipients >= 1, iterations >= 1 else {
            printError("linkstamp: --recipients and --iterations must be at least 1")
            throw ExitCode(SysExit.usage)
        }
        var configuration = Configuration()
        configuration.trackingDomain = "click.example.com"
        configuration.openTracking = true
        configuration.clickTracking = true
        let engine = try Engine(configuration: configuration, keyRing: KeyRing.generate())
        let envelope = Envelope(sender: "news@example.com", recipients: (0..<recipients).map { "reader\($0)@example.org" })
        let progress = Progress(total: items.count * iterations, enabled: !json && isatty(2) == 1)

        var best: Measurement?
        for _ in 0..<iterations {
            let measurement = try measure(items, engine: engine, envelope: envelope, progress: progress)
            if best == nil || measurement.seconds < (best?.seconds ?? .infinity) { best = measurement }
        }
        progress.finish()
        guard let result = best else { return }
        if json {
            print(result.json(phase: phase, recipients: recipients))
        } else {
            print(result.summary(phase: phase, recipients: recipients))
        }
    }

    struct Measurement {
        var messages = 0
        var refused = 0
        var inputBytes = 0
        var copies = 0
        var outputBytes = 0
        var seconds = 0.0

        func json(phase: String, recipients: Int) -> String {
            let object = JSONValue.object([
                JSONMember(key: "phase", value: .string(phase)),
                JSONMember(key: "messages", value: .number(String(messages))),
                JSONMember(key: "refused", value: .number(String(refused))),
                JSONMember(key: "recipients", value: .number(String(recipients))),
                JSONMember(key: "input_bytes", value: .number(String(inputBytes))),
                JSONMember(key: "copies", value: .number(String(copies))),
                JSONMember(key: "output_bytes", value: .number(String(outputBytes))),
                JSONMember(key: "seconds", value: .number(String(format: "%.6f", seconds))),
                JSONMember(key: "messages_per_s", value: .number(String(format: "%.1f", Double(messages) / seconds))),
                JSONMember(key: "input_mb_per_s", value: .number(String(format: "%.1f", Double(inputBytes) / seconds / 1e6))),
                JSONMember(key: "copies_per_s", value: .number(String(format: "%.1f", Double(copies) / seconds))),
                JSONMember(key: "output_mb_per_s", value: .number(String(format: "%.1f", Double(outputBytes) / seconds / 1e6))),
            ])
            return object.serialized()
        }

        func summary(phase: String, recipients: Int) -> String {
            String(
                format: "%@: %d messages (%d refused), %d recipients each: %.0f messages/s, %.1f MB/s in, %.0f copies/s, %.1f MB/s out (%.3f s)",
                phase, messages, refused, recipients, Double(messages) / seconds, Double(inputBytes) / seconds / 1e6,
                Double(copies) / seconds, Double(outputBytes) / seconds / 1e6, seconds)
        }
    }

    func measure(_ items: [CorpusLoader.Item], engine: Engine, envelope: Envelope, progress: Progress) throws -> Measurement {
        var result = Measurement()
        var output: [UInt8] = []
        output.reserveCapacity(1 << 20)
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        for item in items {
            defer { progress.step() }
            result.messages += 1
            result.inputBytes += (phase == "inline-css" ? item.html?.count ?? item.message.count : item.message.count)
            switch phase {
            case "inline-css":
                let document = item.html ?? item.message
                let inliner = CSSInliner()
                let start = clock.now
                let inlined = try? inliner.inline(document)
                elapsed += clock.now - start
                result.outputBytes += inlined?.count ?? 0
                if inlined == nil { result.refused += 1 }
                continue
            default: break
            }
            let start = clock.now
            let transmission: Transmission
            do { transmission = try engine.prepare(message: item.message, envelope: envelope) } catch {
                result.refused += 1
                elapsed += clock.now - start
                continue
            }
            let prepared = clock.now
            if phase == "prepare" {
                elapsed += prepared - start
                continue
            }
            var stampBytes = 0
            for copy in transmission.copies {
                output.removeAll(keepingCapacity: true)
                try transmission.render(copy, into: &output)
                stampBytes += output.count
            }
            let stamped = clock.now
            result.copies += transmission.copies.count
            result.outputBytes += stampBytes
            switch phase {
            case "stamp":
                elapsed += stamped - prepared
            case "memcpy":
                // The same number of output bytes, copied from the finished copy into a fresh
                // destination: what any stamping must at least cost.
                let copyCount = transmission.copies.count
                let source = output
                var sink = [UInt8](repeating: 0, count: source.count)
                let memcpyStart = clock.now
                for _ in 0..<copyCount {
                    sink.withUnsafeMutableBytes { destination in
                        source.withUnsafeBytes { bytes in
                            if let to = destination.baseAddress, let from = bytes.baseAddress { memcpy(to, from, bytes.count) }
                        }
                    }
                }
                elapsed += clock.now - memcpyStart
                result.outputBytes += 0
                blackHole(sink)
            default:
                elapsed += stamped - start
            }
        }
        result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return result
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
