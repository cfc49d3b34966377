import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opened link and message tokens, by their text, for a server that decodes the same ones over
/// and over: every click on one link of a campaign carries the same link token and message token
/// (only the recipient segment differs per copy), so each is opened once instead of once per click.
///
/// Only tokens that opened (authenticated) go in, keyed by their exact text, so a hit is what
/// opening them again would give; recipient tokens (expiry, kind tags, one per copy) are never
/// cached. A cache belongs to one key ring: use a cache only with the ring its tokens were opened
/// with. Fixed size (direct-mapped slots, a newer token replaces an older one): a miss just opens
/// the token.
public final class TokenCache: Sendable {
    enum Value: Sendable {
        case link(TrackingDecoder.DecodedLink)
        case message(MessageInfo)
    }

    private struct Slot {
        var token: [UInt8]
        var value: Value
    }

    /// Slots (a power of two).
    static let slotCount = 1024
    /// Longer tokens are not kept (a message token with 1000 bytes of metadata is about 1,400).
    static let maximumTokenCharacters = 4096

    private let slots = Mutex([Slot?](repeating: nil, count: TokenCache.slotCount))

    /// An empty cache.
    public init() {}

    func value(_ token: ArraySlice<UInt8>) -> Value? {
        let index = Self.slot(token)
        return slots.withLock { slots -> Value? in
            guard let slot = slots[index], Self.same(slot.token, token) else { return nil }
            return slot.value
        }
    }

    func store(_ token: ArraySlice<UInt8>, _ value: Value) {
        guard token.count <= Self.maximumTokenCharacters else { return }
        let index = Self.slot(token)
        let slot = Slot(token: Array(token), value: value)
        slots.withLock { $0[index] = slot }
    }

    /// FNV-1a over the first 32 characters (version, key id and the token's random nonce) and
    /// the length.
    static func slot(_ token: ArraySlice<UInt8>) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in token.prefix(32) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash = (hash ^ UInt64(token.count)) &* 0x100_0000_01b3
        return Int(truncatingIfNeeded: hash >> 32) & (slotCount - 1)
    }

    private static func same(_ stored: [UInt8], _ token: ArraySlice<UInt8>) -> Bool {
        guard stored.count == token.count else { return false }
        return stored.withUnsafeBytes { a in
            token.withUnsafeBytes { b in
                guard let left = a.baseAddress, let right = b.baseAddress else { return a.count == b.count }
                return memcmp(left, right, a.count) == 0
            }
        }
    }
}
