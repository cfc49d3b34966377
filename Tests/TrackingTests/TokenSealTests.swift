import Crypto
import MailBytes
import Testing

@testable import Tracking

/// The seal's own shortcuts: the token key from the prepared HMAC pads, and one random fill for
/// the whole nonce.
@Suite struct TokenSealTests {
    @Test func tokenKeyIsHMACOfThePrefix() throws {
        let key = try Support.key(id: 7, seed: 3)
        let sealed = try TokenFormat.sealToken([2, 0], key: key)
        let raw = try #require(Base64.decode(ArraySlice(sealed.token), alphabet: .url))
        let prefix = Array(raw.prefix(TokenFormat.prefixCount))
        let expected = HMAC<SHA256>.authenticationCode(for: prefix, using: key.secret.key)
        #expect(Array(sealed.tokenKey) == Array(expected))
        // And the key the decoder derives is the same one.
        #expect(
            key.secret.tokenKey(prefix: prefix[...]).withUnsafeBytes { Array($0) } == Array(sealed.tokenKey))
        let fromBytes = prefix.withUnsafeBytes { key.secret.tokenKey(prefixBytes: $0) }
        #expect(fromBytes.withUnsafeBytes { Array($0) } == Array(sealed.tokenKey))
    }

    @Test func everyNonceIsFreshInBothHalves() throws {
        let key = try Support.key(id: 7, seed: 3)
        var nonces = Set<[UInt8]>()
        var lowHalves = Set<[UInt8]>()
        for _ in 0..<64 {
            let token = try TokenFormat.seal([2, 0], key: key)
            let raw = try #require(Base64.decode(ArraySlice(token), alphabet: .url))
            let nonce = Array(raw[TokenFormat.headerCount..<TokenFormat.prefixCount])
            nonces.insert(nonce)
            lowHalves.insert(Array(nonce.suffix(8)))
        }
        #expect(nonces.count == 64)
        #expect(lowHalves.count == 64)
    }

    @Test func randomFillCoversTheWholeBuffer() {
        var seen = [Bool](repeating: false, count: 16)
        for _ in 0..<64 {
            var bytes = [UInt8](repeating: 0, count: 16)
            bytes.withUnsafeMutableBytes { TokenRandom.fill($0) }
            for (index, byte) in bytes.enumerated() where byte != 0 { seen[index] = true }
        }
        #expect(seen.allSatisfy { $0 })
    }
}

/// Nonces come from a pool filled 256 bytes at a time; no byte is handed out twice, and a fork
/// (its generation bump) makes the pool refill before the next nonce.
@Suite(.serialized) struct TokenRandomPoolTests {
    #if canImport(Glibc)
        @Test func poolHandsOutEveryByteOnceAndRefillsWhenEmpty() {
            var pool = TokenRandom.Pool()
            var seen = Set<[UInt8]>()
            for _ in 0..<64 {
                var nonce = [UInt8](repeating: 0, count: 16)
                #expect(nonce.withUnsafeMutableBytes { pool.take(into: $0) })
                seen.insert(nonce)
            }
            #expect(seen.count == 64)
            #expect(pool.fills == 4)  // 256 bytes = 16 nonces a fill
            // Handed-out bytes are zeroed in the pool.
            #expect(pool.bytes[0..<pool.next].allSatisfy { $0 == 0 })
        }

        @Test func aForkMakesThePoolRefill() {
            var pool = TokenRandom.Pool()
            var nonce = [UInt8](repeating: 0, count: 16)
            #expect(nonce.withUnsafeMutableBytes { pool.take(into: $0) })
            #expect(pool.fills == 1)
            #expect(nonce.withUnsafeMutableBytes { pool.take(into: $0) })
            #expect(pool.fills == 1)
            // What the child's fork handler does.
            _ = TokenRandom.forkGeneration.add(1, ordering: .releasing)
            #expect(nonce.withUnsafeMutableBytes { pool.take(into: $0) })
            #expect(pool.fills == 2)
            #expect(pool.next == 16)
        }
    #endif
}
