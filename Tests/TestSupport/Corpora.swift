import Foundation

/// Which corpus a test runs on: the messages this project wrote itself (`corpus/` in the
/// repository, always there) or the real-world corpus collected beside the checkout
/// (`../shared/corpus`, run on top when present).
public enum CorpusSource: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `<package root>/corpus`: written by `scripts/make-corpus`, committed.
    case own
    /// `$LINKSTAMP_SHARED_CORPUS`, else `$LINKSTAMP_CORPUS`, else `<package root>/../shared/corpus`.
    case shared

    public var description: String { rawValue }

    /// `own` for the project's corpus, `shared` for the real-world one: thresholds sized to each.
    public func pick<T>(own: T, shared: T) -> T { self == .own ? own : shared }
}

/// The folders a corpus holds. The shared corpus names its CSS cases `css-inline-cases`; the
/// project's own corpus calls them `css`.
public enum CorpusFolder: Sendable {
    /// Whole messages, `.eml`.
    case eml
    /// HTML documents, `.html`.
    case html
    /// CSS inlining cases: `NAME.html` in, `NAME.out` expected.
    case cssCases

    func name(in source: CorpusSource) -> String {
        switch self {
        case .eml: return "eml"
        case .html: return "html"
        case .cssCases: return source == .own ? "css" : "css-inline-cases"
        }
    }
}

/// The shared corpus is required (`CI` is set) but is not there: the test that asked fails.
public struct SharedCorpusMissing: Error, CustomStringConvertible {
    /// Where the shared corpus was looked for.
    public var location: String

    public var description: String {
        "the shared corpus is required because CI is set, but \(location) is missing or has no eml/ and html/"
            + " (put it there or set LINKSTAMP_SHARED_CORPUS)"
    }
}

/// Locates the test corpora. Every corpus test runs once per entry of `sources`: the project's
/// own corpus always, the shared one when it is present. When it is absent and the environment
/// variable `CI` is set, `.shared` is still listed and every folder lookup for it throws
/// `SharedCorpusMissing`, so CI fails loudly instead of skipping.
public enum Corpora {
    /// The package root, found from this file (`<root>/Tests/TestSupport/Corpora.swift`).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `<package root>/corpus`.
    public static let ownRoot: URL = packageRoot.appendingPathComponent("corpus")

    /// Where the shared corpus is looked for: `LINKSTAMP_SHARED_CORPUS`, else `LINKSTAMP_CORPUS`,
    /// else `<package root>/../shared/corpus`.
    public static let sharedRoot: URL = {
        let environment = ProcessInfo.processInfo.environment
        for name in ["LINKSTAMP_SHARED_CORPUS", "LINKSTAMP_CORPUS"] {
            if let value = environment[name], !value.isEmpty { return URL(fileURLWithPath: value) }
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
    }()

    /// True when the shared corpus has both its `eml/` and `html/` folders.
    public static let sharedIsPresent: Bool =
        isDirectory(sharedRoot.appendingPathComponent("eml"))
        && isDirectory(sharedRoot.appendingPathComponent("html"))

    /// True when the environment variable `CI` is set to anything but empty, `0`, `false` or `no`.
    public static let ciIsSet: Bool = {
        guard let value = ProcessInfo.processInfo.environment["CI"]?.lowercased() else { return false }
        return !["", "0", "false", "no"].contains(value)
    }()

    /// The corpora a corpus test runs on (see the type's documentation).
    public static let sources: [CorpusSource] = sharedIsPresent || ciIsSet ? [.own, .shared] : [.own]

    /// The root folder of `source`; throws `SharedCorpusMissing` for an absent shared corpus.
    public static func root(_ source: CorpusSource) throws -> URL {
        switch source {
        case .own: return ownRoot
        case .shared:
            guard sharedIsPresent else { throw SharedCorpusMissing(location: sharedRoot.path) }
            return sharedRoot
        }
    }

    /// `folder` of `source`.
    public static func directory(_ source: CorpusSource, _ folder: CorpusFolder) throws -> URL {
        try root(source).appendingPathComponent(folder.name(in: source))
    }

    /// The files of `folder` in `source` whose names end with `suffix`, sorted by name. A missing
    /// or empty folder throws: a corpus test must never pass on nothing.
    public static func files(_ source: CorpusSource, _ folder: CorpusFolder, suffix: String) throws -> [URL] {
        let directory = try directory(source, folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(suffix) }.sorted()
        guard !names.isEmpty else { throw EmptyCorpusFolder(path: directory.path, suffix: suffix) }
        return names.map { directory.appendingPathComponent($0) }
    }

    /// `files` with each file's bytes.
    public static func contents(_ source: CorpusSource, _ folder: CorpusFolder, suffix: String) throws
        -> [(name: String, bytes: [UInt8])]
    {
        try files(source, folder, suffix: suffix).map { ($0.lastPathComponent, Array(try Data(contentsOf: $0))) }
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

/// A corpus folder without a single file of the kind asked for.
public struct EmptyCorpusFolder: Error, CustomStringConvertible {
    /// The folder.
    public var path: String
    /// The file name ending looked for.
    public var suffix: String

    public var description: String { "no *\(suffix) file in \(path)" }
}
