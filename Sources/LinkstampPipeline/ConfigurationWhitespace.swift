extension StringProtocol {
    /// The text without leading and trailing tabs, space separators (Unicode category Zs) and
    /// U+200B: the set Foundation's `CharacterSet.whitespaces` names, trimmed here with the standard
    /// library alone, so a `filter` process does not set up Foundation's character sets to read
    /// its configuration.
    func trimmingConfigurationWhitespace() -> String {
        func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
            if scalar.value < 0x80 { return scalar == " " || scalar == "\t" }
            return scalar.value == 0x200B || scalar.properties.generalCategory == .spaceSeparator
        }
        let scalars = Substring(self).unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, isWhitespace(scalars[start]) { start = scalars.index(after: start) }
        while end > start {
            let before = scalars.index(before: end)
            guard isWhitespace(scalars[before]) else { break }
            end = before
        }
        return String(scalars[start..<end])
    }
}
