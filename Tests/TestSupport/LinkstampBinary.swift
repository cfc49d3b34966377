import Foundation

/// The built `linkstamp` executable (the debug build beside the tests), and one way to run it:
/// every suite that tests the command as a process (exit status, stdout, stderr) goes through
/// here.
public enum LinkstampBinary {
    /// `.build/…/debug/linkstamp`, or nil when it is not built.
    public static let url: URL? = debugExecutable("linkstamp")

    /// `.build/…/debug/linkstamp-filter` (the lean filter beside `linkstamp`), or nil when it is
    /// not built.
    public static let filterURL: URL? = debugExecutable("linkstamp-filter")

    /// The debug build's executable `name`, or nil when it is not built.
    static func debugExecutable(_ name: String) -> URL? {
        let build = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TestSupport
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent(".build")
        for folder in ["debug/", "x86_64-unknown-linux-gnu/debug/", "aarch64-unknown-linux-gnu/debug/"] {
            let url = build.appendingPathComponent(folder + name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    /// What a finished run gave.
    public struct Result: Sendable {
        /// The exit status.
        public var status: Int32
        /// Standard output, as bytes.
        public var stdout: [UInt8]
        /// Standard error, as text.
        public var stderr: String

        /// A result (tests make one for a run that could not start).
        public init(status: Int32, stdout: [UInt8], stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// The executable could not be found.
    public struct NotBuilt: Error, CustomStringConvertible {
        /// Says so.
        public var description: String { "the linkstamp executable is not built (swift build first)" }
    }

    /// Runs `linkstamp arguments` (or `executable arguments`) with `stdin` on its standard input,
    /// the environment of the tests without `LINKSTAMP_CONFIG` plus `environment`, in `directory`
    /// when given, and waits.
    public static func run(
        _ arguments: [String], stdin: [UInt8] = [], environment extra: [String: String] = [:],
        directory: String? = nil, executable: URL? = nil
    ) throws -> Result {
        guard let url = executable ?? url else { throw NotBuilt() }
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "LINKSTAMP_CONFIG")
        environment.merge(extra) { $1 }
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let input = Pipe()
        let output = Pipe()
        let error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: Array(out), stderr: String(decoding: err, as: UTF8.self))
    }
}
