import ArgumentParser
import Foundation
import Linkstamp
import LinkstampFilterCommand

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create the key ring, or add a new active key to it (--rotate).",
        discussion: """
            Old keys stay in the ring so links already sent keep working. --rotate and --force \
            cannot be used together (exit 64). A configuration that cannot be read exits 75, as \
            for filter.
            """
    )

    @OptionGroup var config: ConfigOptions

    @Option(name: .long, help: "Key ring path (overrides the configuration).")
    var output: String?

    @Flag(name: .long, help: "Append a new active key to the existing ring.")
    var rotate = false

    @Flag(name: .long, help: "Replace an existing ring (links signed with its keys stop working).")
    var force = false

    func run() throws {
        guard !(rotate && force) else {
            printError("linkstamp: --rotate and --force cannot be used together")
            throw ExitCode(SysExit.usage)
        }
        let configuration = try config.load()
        let path = output ?? configuration.keyRingPath
        let exists = FileManager.default.fileExists(atPath: path)
        do {
            let ring: KeyRing
            if rotate {
                guard exists else {
                    printError("linkstamp: no key ring at '\(path)' to rotate")
                    throw ExitCode(SysExit.noInput)
                }
                ring = try KeyRing(contentsOf: path).rotated()
            } else {
                guard !exists || force else {
                    printError("linkstamp: '\(path)' exists; use --rotate to add a key or --force to replace it")
                    throw ExitCode(SysExit.cantCreate)
                }
                ring = KeyRing.generate()
            }
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            try ring.write(to: path)
            print(
                "key ring \(path): \(ring.keys.count) key(s), active key id \(ring.keys.last.map { String($0.id) } ?? "-")"
            )
        } catch let error as TrackingError {
            printError("linkstamp: \(error)")
            throw ExitCode(SysExit.cantCreate)
        }
    }
}
