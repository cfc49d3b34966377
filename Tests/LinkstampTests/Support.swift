import Foundation
import TestSupport
import Testing
import Tracking

@testable import Linkstamp
@testable import LinkstampDeliver
@testable import LinkstampPipeline

/// The project's own sample messages. Corpus tests find their corpora through
/// `TestSupport.Corpora` (the project's `corpus/` folders, and `../shared/corpus` on top).
enum Corpus {
    static let packageRoot: URL = Corpora.packageRoot

    /// A message this project wrote itself, from `corpus/`.
    static func bundled(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: packageRoot.appendingPathComponent("corpus/\(name)")))
    }
}

/// A fixed key ring and time so tests are repeatable.
enum Fixture {
    static let keyRing = KeyRing.generate()
    static let now = Date(timeIntervalSince1970: 1_795_680_000)  // 2026-11-26

    static func engine(_ configure: (inout Configuration) -> Void = { _ in }) throws -> Engine {
        var configuration = Configuration()
        configuration.trackingDomain = "t.example.net"
        configure(&configuration)
        return try Engine(configuration: configuration, keyRing: keyRing)
    }

    static func message(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func crlf(_ text: String) -> [UInt8] {
        Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }

    func ranges(of needle: [UInt8]) -> [Range<Int>] {
        guard !needle.isEmpty, needle.count <= count else { return [] }
        var found: [Range<Int>] = []
        var index = 0
        while index + needle.count <= count {
            if self[index] == needle[0], Array(self[index..<(index + needle.count)]) == needle {
                found.append(index..<(index + needle.count))
                index += needle.count
            } else {
                index += 1
            }
        }
        return found
    }

    func contains(_ needle: String) -> Bool { !ranges(of: Array(needle.utf8)).isEmpty }
}

/// The input minus one header field, the expected bytes of an unchanged copy.
func removingField(_ name: String, from message: [UInt8]) -> [UInt8] {
    var output: [UInt8] = []
    var index = 0
    var inHeader = true
    var skipping = false
    while index < message.count {
        var end = index
        while end < message.count && message[end] != 0x0A { end += 1 }
        if end < message.count { end += 1 }
        let line = Array(message[index..<end])
        if inHeader {
            if line == [0x0A] || line == [0x0D, 0x0A] {
                inHeader = false
                skipping = false
            } else if line.first == 0x20 || line.first == 0x09 {
                if skipping {
                    index = end
                    continue
                }
            } else {
                skipping =
                    line.count > name.count
                    && String(decoding: line.prefix(name.count + 1), as: UTF8.self).lowercased() == name.lowercased()
                        + ":"
                if skipping {
                    index = end
                    continue
                }
            }
        }
        output += line
        index = end
    }
    return output
}
