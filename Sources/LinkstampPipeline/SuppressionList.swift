/// Addresses that must not receive a copy unless the message sets `skip_suppression`.
///
/// File format: one address per line, optionally followed by `transactional`,
/// `non_transactional` or `both` (the default): SparkPost keeps separate suppressions for the
/// two kinds of mail. `#` starts a comment. Addresses compare case-insensitively.
public struct SuppressionList: Sendable, Hashable {
    private var transactional: Set<String> = []
    private var nonTransactional: Set<String> = []

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
            case "both":
                transactional.insert(address)
                nonTransactional.insert(address)
            case "transactional": transactional.insert(address)
            case "non_transactional", "non-transactional": nonTransactional.insert(address)
            default:
                throw ConfigurationError(line: lineNumber, message: "unknown suppression type '\(kind)'")
            }
        }
    }

    /// Whether `address` is suppressed for mail of this kind.
    public func contains(_ address: String, transactional isTransactional: Bool) -> Bool {
        let key = address.lowercased()
        return isTransactional ? transactional.contains(key) : nonTransactional.contains(key)
    }
}
