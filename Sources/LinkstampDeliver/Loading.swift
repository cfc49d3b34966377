import Foundation
import LinkstampPipeline
import SMTPAPI
import Tracking

// Reading what the pipeline is built from: the configuration file, the key ring and the
// suppression list. The pipeline itself only parses text it is given.

extension Engine {
    /// Loads the configuration file (when given), the key ring (created on first use) and the
    /// suppression list it names. Failures are temporary (`451 4.3.5`): the relay should keep
    /// the message queued while the operator fixes the configuration.
    public static func load(configurationPath: String?, limits: Limits = Limits()) throws(SMTPReply) -> Engine {
        var configuration = Configuration()
        if let configurationPath {
            do { configuration = try Configuration(contentsOf: configurationPath) } catch {
                throw error.smtpReply
            }
        }
        return try load(configuration: configuration, limits: limits)
    }

    /// Loads the key ring (created on first use) and the suppression list that an already-read
    /// configuration names; failures are `451 4.3.5`, as for ``load(configurationPath:limits:)``.
    public static func load(configuration: Configuration, limits: Limits = Limits()) throws(SMTPReply) -> Engine {
        let keyRing: KeyRing
        do { keyRing = try KeyRing.loadOrCreate(at: configuration.keyRingPath) } catch {
            throw SMTPReply(code: 451, enhancedStatus: "4.3.5", text: "linkstamp key ring: \(error)")
        }
        var suppression = SuppressionList()
        if let path = configuration.suppressionListPath {
            do { suppression = try SuppressionList(contentsOf: path) } catch {
                throw error.smtpReply
            }
        }
        return try Engine(configuration: configuration, keyRing: keyRing, suppressionList: suppression, limits: limits)
    }
}

extension Configuration {
    /// Reads and parses a configuration file.
    public init(contentsOf path: String) throws(ConfigurationError) {
        // open/read rather than FileManager, which a filter process would make for this file alone.
        guard let data = readWholeFile(path) else {
            throw ConfigurationError(line: 0, message: "cannot read configuration file '\(path)'")
        }
        let base = (path as NSString).deletingLastPathComponent
        try self.init(parsing: String(decoding: data, as: UTF8.self), baseDirectory: base.isEmpty ? nil : base)
    }
}

extension SuppressionList {
    /// Reads a suppression list file.
    public init(contentsOf path: String) throws(ConfigurationError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(line: 0, message: "cannot read suppression list '\(path)'")
        }
        try self.init(parsing: String(decoding: data, as: UTF8.self))
    }
}

/// All bytes of the file at `path`, or nil when it cannot be opened or read (as
/// `FileManager.contents(atPath:)` answers).
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<count])
    }
}
