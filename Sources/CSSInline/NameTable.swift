import MailBytes

/// Interned byte strings (tag, class, id, attribute and property names) with dense `Int32` ids.
/// Lookups by pointer and length allocate nothing, so the element hot path can ask "is this
/// class used by any selector?" for free.
struct NameTable: Sendable {
    private var storage: [UInt8] = []
    private var starts: [Int] = [0]
    private var hashes: [UInt32] = []
    private var slots: [Int32] = Array(repeating: -1, count: 64)

    /// Number of interned names; ids are `0..<count`.
    var count: Int { hashes.count }

    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return hash
    }

    private func equals(_ id: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let lower = starts[Int(id)]
        let upper = starts[Int(id) + 1]
        guard upper - lower == bytes.count else { return false }
        var index = 0
        while index < bytes.count {
            if storage[lower + index] != bytes[index] { return false }
            index += 1
        }
        return true
    }

    /// The id of `bytes`, or -1 when it was never interned.
    func lookup(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        let hash = Self.hash(bytes)
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while true {
            let id = slots[slot]
            if id < 0 { return -1 }
            if hashes[Int(id)] == hash && equals(id, bytes) { return id }
            slot = (slot + 1) & mask
        }
    }

    /// The id of `bytes[range]`, lower-cased first when `lowercase`, or -1. Allocates nothing.
    func lookup(_ bytes: [UInt8], _ range: Range<Int>, lowercase: Bool) -> Int32 {
        bytes.withUnsafeBufferPointer { lookup($0, range, lowercase: lowercase) }
    }

    /// The id of `bytes[range]`, lower-cased first when `lowercase`, or -1. Allocates nothing.
    func lookup(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, lowercase: Bool) -> Int32 {
        let slice = UnsafeBufferPointer(rebasing: buffer[range])
        guard lowercase else { return lookup(slice) }
        var hash: UInt32 = 2_166_136_261
        for byte in slice {
            hash = (hash ^ UInt32(ASCII.lower(byte))) &* 16_777_619
        }
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while true {
            let id = slots[slot]
            if id < 0 { return -1 }
            if hashes[Int(id)] == hash {
                let lower = starts[Int(id)]
                if starts[Int(id) + 1] - lower == slice.count {
                    var index = 0
                    while index < slice.count && storage[lower + index] == ASCII.lower(slice[index]) { index += 1 }
                    if index == slice.count { return id }
                }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The id of `bytes`, or -1 when it was never interned.
    func lookup(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBufferPointer { lookup($0) }
    }

    /// The id of `bytes[range]` (lower-cased first when `lowercase`), interning it if needed.
    /// Allocates nothing when the name is already known.
    mutating func intern(_ bytes: [UInt8], _ range: Range<Int>, lowercase: Bool) -> Int32 {
        let found = lookup(bytes, range, lowercase: lowercase)
        if found >= 0 { return found }
        if lowercase { return intern(ASCII.lowercased(bytes[range])) }
        return bytes.withUnsafeBufferPointer { intern(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// The id of `bytes`, interning it if needed.
    mutating func intern(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBufferPointer { intern($0) }
    }

    /// As ``intern(_:)-([UInt8])``, from a buffer: nothing is allocated but the table's own storage.
    mutating func intern(_ buffer: UnsafeBufferPointer<UInt8>) -> Int32 {
        let existing = lookup(buffer)
        if existing >= 0 { return existing }
        let id = Int32(hashes.count)
        let hash = Self.hash(buffer)
        storage.append(contentsOf: buffer)
        starts.append(storage.count)
        hashes.append(hash)
        if hashes.count * 2 > slots.count {
            rehash(capacity: slots.count * 2)
        } else {
            insert(id: id, hash: hash)
        }
        return id
    }

    private mutating func insert(id: Int32, hash: UInt32) {
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = id
    }

    private mutating func rehash(capacity: Int) {
        slots = Array(repeating: -1, count: capacity)
        for id in 0..<hashes.count {
            insert(id: Int32(id), hash: hashes[id])
        }
    }

    /// The bytes of an interned name.
    func name(_ id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < hashes.count else { return [] }
        return storage[starts[Int(id)]..<starts[Int(id) + 1]]
    }
}
