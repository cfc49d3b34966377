// A fixed, deterministic workload for the instruction-count gate (scripts/instruction-gate):
// one phase of the engine over every input of a corpus folder, once, under valgrind's callgrind.
// Instruction counts, unlike wall clock, repeat exactly for the same binary and inputs whatever
// else the machine does, so a rise is a real regression.
//
// usage: InstructionWorkload baseline|prepare|stamp|inline-css CORPUS_FOLDER
// `baseline` loads the corpus and builds the engine and stops: the gate subtracts its count
// (process start, Foundation, file reading) from each phase's.
import CSSInline
import Foundation
import Linkstamp
import Tracking

/// Every `.eml` and `.html` file under `folder` (recursively), sorted by path: `.html` files are
/// wrapped in a one-part tracked message.
func loadCorpus(_ folder: String) -> [CorpusLoader.Item] {
    guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
    var paths: [String] = []
    while let path = enumerator.nextObject() as? String {
        if path.hasSuffix(".eml") || path.hasSuffix(".html") { paths.append(path) }
    }
    return paths.sorted().compactMap { path in
        guard let data = FileManager.default.contents(atPath: folder + "/" + path) else { return nil }
        let bytes = Array(data)
        if path.hasSuffix(".html") {
            return CorpusLoader.Item(name: path, message: CorpusLoader.wrap(html: bytes), html: bytes)
        }
        return CorpusLoader.Item(name: path, message: bytes)
    }
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("InstructionWorkload: \(text)\n".utf8))
    exit(64)
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fail("usage: InstructionWorkload baseline|prepare|stamp|inline-css CORPUS_FOLDER") }
let phase = arguments[1]
let items = loadCorpus(arguments[2])
guard !items.isEmpty else { fail("no .eml or .html files under '\(arguments[2])'") }

// Fixed key, clock and transmission id: the same bytes every run.
var configuration = Configuration()
configuration.trackingDomain = "click.example.com"
configuration.openTracking = true
configuration.clickTracking = true
let secret = [UInt8](repeating: 7, count: TrackingKey.secretByteCount)
guard let key = try? TrackingKey(id: 1, secret: secret),
    let engine = try? Engine(configuration: configuration, keyRing: KeyRing(keys: [key]))
else { fail("cannot build the engine") }
let now = Date(timeIntervalSince1970: 1_790_000_000)
let envelope = Envelope(sender: "news@example.com", recipients: (0..<10).map { "reader\($0)@example.org" })

var checksum = 0
switch phase {
case "baseline":
    checksum = items.count
case "prepare":
    for item in items {
        if let transmission = try? engine.prepare(
            message: item.message, envelope: envelope, now: now, transmissionID: 0x1234_5678_9ABC)
        {
            checksum &+= transmission.copies.count
        }
    }
case "stamp":
    // Preparation is part of the count too; subtract the prepare phase's count to see stamping alone.
    var output: [UInt8] = []
    output.reserveCapacity(1 << 20)
    for item in items {
        guard
            let transmission = try? engine.prepare(
                message: item.message, envelope: envelope, now: now, transmissionID: 0x1234_5678_9ABC)
        else { continue }
        for copy in transmission.copies {
            output.removeAll(keepingCapacity: true)
            try? transmission.render(copy, into: &output)
            checksum &+= output.count
        }
    }
case "inline-css":
    let inliner = CSSInliner()
    for item in items {
        guard let html = CorpusLoader.htmlDocument(of: item) else { continue }
        if let result = try? inliner.inline(html) { checksum &+= result.count }
    }
default:
    fail("unknown phase '\(phase)'")
}
print("\(phase): \(items.count) inputs, checksum \(checksum)")
