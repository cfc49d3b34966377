import Foundation
import Testing

@testable import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

/// The journal file kept open between appends (Stores.swift `LineFile`): what opening the file
/// for every append guaranteed still holds.
@Suite struct LineFileTests {
    /// Appends `text` as another process would (its own descriptor, no lock).
    static func appendRaw(_ path: String, _ text: String) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o640)
        guard descriptor >= 0 else { return }
        _ = Array(text.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    static func text(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Another writer killed in the middle of its line: the next append ends that line first.
    @Test func endsAnotherWritersHalfLine() throws {
        let path = try Support.temporaryDirectory() + "/events.jsonl"
        let journal = FileEventJournal(path: path)
        try journal.append(["{\"a\":1}"])
        Self.appendRaw(path, "{\"half")
        try journal.append(["{\"b\":2}"])
        try journal.append(["{\"c\":3}"])
        #expect(Self.text(path) == "{\"a\":1}\n{\"half\n{\"b\":2}\n{\"c\":3}\n")
        // A whole line from someone else needs nothing.
        Self.appendRaw(path, "{\"other\":1}\n")
        try journal.append(["{\"d\":4}"])
        #expect(Support.lines(path).suffix(2) == ["{\"other\":1}", "{\"d\":4}"])
    }

    /// Rotation by rename: the next append starts the new file under the journal's name; the
    /// rotated file keeps what was written before. A deleted journal is created again.
    @Test func noticesRotationAndDeletion() throws {
        let path = try Support.temporaryDirectory() + "/events.jsonl"
        let journal = FileEventJournal(path: path)
        try journal.append(["{\"a\":1}"])
        #expect(rename(path, path + ".1") == 0)
        try journal.append(["{\"b\":2}"])
        #expect(Support.lines(path + ".1") == ["{\"a\":1}"])
        #expect(Support.lines(path) == ["{\"b\":2}"])
        #expect(unlink(path) == 0)
        try journal.append(["{\"c\":3}"])
        #expect(Support.lines(path) == ["{\"c\":3}"])
        // Emptied in place (as the benchmark does between runs): appends go on at its new end.
        #expect(truncate(path, 0) == 0)
        try journal.append(["{\"d\":4}"])
        #expect(Self.text(path) == "{\"d\":4}\n")
    }

    /// Many threads appending through one journal: every line whole, none lost.
    @Test func concurrentAppendsStayWhole() throws {
        let path = try Support.temporaryDirectory() + "/events.jsonl"
        let journal = FileEventJournal(path: path)
        let other = FileEventJournal(path: path)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<200 {
                let line = "{\"worker\":\(worker),\"index\":\(index),\"pad\":\"\(String(repeating: "x", count: 300))\"}"
                try? (worker % 2 == 0 ? journal : other).append([line, line])
            }
        }
        let lines = Support.lines(path)
        #expect(lines.count == 8 * 200 * 2)
        #expect(lines.allSatisfy { $0.hasPrefix("{\"worker\":") && $0.hasSuffix("\"}") })
    }
}
