import MailBytes

/// Addresses that must not receive a copy unless the message sets `skip_suppression`.
///
/// File format: one address per line, optionally followed by `transactional`,
/// `non_transactional` or `both` (the default): SparkPost keeps separate suppressions for the
/// two kinds of mail. `#` starts a comment. Addresses compare case-insensitively.
public struct SuppressionList: Sendable, Hashable {
    /// The two sets behind one reference, nil while both are empty. Copying a struct with
    /// `Set<String>` fields makes `Set<String>`'s metadata at run time, and with it a conformance
    /// lookup (`String: Hashable`) that a filter process suppressing nobody paid at start-up;
    /// copying this is a retain, and an empty list never touches a set.
    private final class Storage: @unchecked Sendable {
        // Mutated only while uniquely referenced (copy on write), so sharing it is safe.
        var transactional: Set<String>
        var nonTransactional: Set<String>

        init(transactional: Set<String>, nonTransactional: Set<String>) {
            self.transactional = transactional
            self.nonTransactional = nonTransactional
        }
    }

    private var storage: Storage?

    private var transactional: Set<String> { storage?.transactional ?? [] }
    private var nonTransactional: Set<String> { storage?.nonTransactional ?? [] }

    /// Adds `key` (already lower-cased) to the sets `transactional` and `nonTransactional` say.
    private mutating func add(_ key: String, transactional toTransactional: Bool, nonTransactional toNon: Bool) {
        if storage == nil || !isKnownUniquelyReferenced(&storage) {
            storage = Storage(transactional: transactional, nonTransactional: nonTransactional)
        }
        guard let storage else { return }
        if toTransactional { storage.transactional.insert(key) }
        if toNon { storage.nonTransactional.insert(key) }
    }

    public static func == (lhs: SuppressionList, rhs: SuppressionList) -> Bool {
        lhs.transactional == rhs.transactional && lhs.nonTransactional == rhs.nonTransactional
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(transactional)
        hasher.combine(nonTransactional)
    }

    /// An empty list.
    public init() {}

    /// Parses a suppression list file's text.
    public init(parsing text: String) throws(ConfigurationError) {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = words.first else { continue }
            let address = first.lowercased()
            let kind = words.count > 1 ? words[1].lowercased() : "both"
            guard words.count <= 2 else {
                throw ConfigurationError(line: lineNumber, message: "suppression entry has more than two words")
            }
            switch kind {
            case "both": add(address, transactional: true, nonTransactional: true)
            case "transactional": add(address, transactional: true, nonTransactional: false)
            case "non_transactional", "non-transactional": add(address, transactional: false, nonTransactional: true)
            default:
                throw ConfigurationError(line: lineNumber, message: "unknown suppression type '\(kind)'")
            }
        }
    }

    /// Which mail a suppression applies to (SparkPost's `transactional`/`non_transactional`).
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Transactional mail only.
        case transactional
        /// Non-transactional (marketing) mail only: what an unsubscribe records.
        case nonTransactional = "non_transactional"
        /// Both kinds.
        case both
    }

    /// Adds `address` (compared case-insensitively) for mail of `kind`.
    public mutating func insert(_ address: String, kind: Kind) {
        add(address.lowercased(), transactional: kind != .nonTransactional, nonTransactional: kind != .transactional)
    }

    /// Whether `address` is suppressed for mail of this kind.
    public func contains(_ address: String, transactional isTransactional: Bool) -> Bool {
        // Most relays suppress nobody: no set and no lower-cased copy of every address then.
        guard let storage else { return false }
        let set = isTransactional ? storage.transactional : storage.nonTransactional
        guard !set.isEmpty else { return false }
        return set.contains(address.lowercased())
    }
}

/// A suppression list kept outside the process (a database shared by several nodes), asked once
/// per message about that message's recipients (``PendingTransmission/recipientAddresses``).
/// The library never calls it: the filter and the SMTP door do, between
/// ``Engine/begin(message:envelope:now:transmissionID:)`` and ``Engine/prepare(_:suppression:)``.
public protocol SuppressionLookup: Sendable {
    /// The entries among `addresses` (lower-cased). A store that cannot answer throws the
    /// temporary reply the relay should give (`451 4.3.0 …`).
    func suppression(for addresses: [String]) async throws(SMTPReply) -> SuppressionList
}
