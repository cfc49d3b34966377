/// A set of strings compared with `==` (canonical equivalence, like `Set<String>`): a plain array
/// searched in order while it holds at most `linearLimit` strings, a `Set` beyond. Making the
/// first `Set<String>` costs a process a runtime conformance lookup (`String: Hashable`), a
/// noticeable part of a one-message filter process's start-up; small sets never pay it. Used for
/// the duplicate-key check of the X-MSYS-API JSON and the recipients' dedupe.
package struct SmallStringSet {
    /// The most strings kept in the array.
    package static let linearLimit = 16
    private var few: [String] = []
    /// Used once `few` is full. Not an optional: copying a `Set<String>?` makes its metadata.
    private var many: Set<String> = []
    private var usesMany = false
    private let expectedCount: Int

    /// `expectedCount`: how many strings may come (the `Set`, if one is needed, is made that
    /// large at once).
    package init(expectedCount: Int = 0) {
        self.expectedCount = expectedCount
    }

    /// Adds `string`; false when an equal string is already in the set.
    package mutating func insert(_ string: String) -> Bool {
        if usesMany { return many.insert(string).inserted }
        for member in few where member == string { return false }
        if few.count < Self.linearLimit {
            few.append(string)
        } else {
            many = Set(minimumCapacity: max(expectedCount, few.count + 1))
            for member in few { many.insert(member) }
            many.insert(string)
            usesMany = true
            few = []
        }
        return true
    }
}
