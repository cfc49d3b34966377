import Foundation
import Testing

@testable import Tracking

@Suite struct KeyRingTests {
    private func mode(_ url: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        return try #require(attributes[.posixPermissions] as? Int)
    }

    @Test func fileRoundTripAndPermissions() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("keys")
        let ring = KeyRing.generate().rotated().rotated()
        try ring.write(to: path.path)
        #expect(try mode(path) == 0o600)
        let loaded = try KeyRing(contentsOf: path.path)
        #expect(loaded == ring)
        #expect(loaded.keys.map(\.id) == [1, 2, 3])
        #expect(try String(contentsOf: path, encoding: .utf8) == ring.serialized())
        // Overwriting keeps 0600 and leaves no temporary file behind.
        try ring.rotated().write(to: path.path)
        #expect(try mode(path) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["keys"])
        #expect(try KeyRing(contentsOf: path.path).keys.count == 4)
    }

    @Test func serializedFormat() throws {
        let ring = KeyRing(keys: [try Support.key(id: 1, seed: 0), try Support.key(id: 65535, seed: 0xE0)])
        let expected = """
            # Linkstamp tracking keys: <id> <base64 of 32 bytes>; the last key is active.
            1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
            65535 4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=

            """
        #expect(Array(ring.serialized().utf8) == Array(expected.utf8))
        #expect(try KeyRing(parsing: expected) == ring)
    }

    @Test func parsingIsTolerantOfLayout() throws {
        let text =
            "\r\n# comment\n   \n\t7\t AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8 \r\n  # another\n3 4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8="
        let ring = try KeyRing(parsing: text)
        #expect(ring.keys.map(\.id) == [7, 3])
        #expect(ring.activeKey?.id == 3)
        #expect(ring.keys[0] == (try Support.key(id: 7, seed: 0)))
    }

    @Test(arguments: [
        ("", "key ring holds no key"),
        ("# only a comment\n\n", "key ring holds no key"),
        ("1\n", "key ring line 1: expected '<id> <base64 of 32 bytes>', found 1 field(s)"),
        ("# c\n1 AAAA extra\n", "key ring line 2: expected '<id> <base64 of 32 bytes>', found 3 field(s)"),
        (
            "x AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "key ring line 1: key id must be a decimal number 0...65535"
        ),
        (
            "65536 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "key ring line 1: key id must be a decimal number 0...65535"
        ),
        (
            "-1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "key ring line 1: key id must be a decimal number 0...65535"
        ),
        ("1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8*", "key ring line 1: key is not valid base64"),
        ("1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYX", "key ring line 1: key must be 32 bytes, found 24"),
        (
            "1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n1 4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=\n",
            "key ring line 2: duplicate key id 1"
        ),
    ])
    func malformedRingsGiveClearErrors(text: String, message: String) {
        let error = Support.error { () throws(TrackingError) in _ = try KeyRing(parsing: text) }
        #expect(error?.description == message)
    }

    @Test func malformedRingErrorsCarryOffsets() {
        let text =
            "# c\n1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n  1 4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=\n"
        let error = Support.error { () throws(TrackingError) in _ = try KeyRing(parsing: text) }
        #expect(error?.offset == 4 + 47 + 2)
    }

    @Test func tooManyKeysIsRefused() throws {
        var limits = TrackingLimits()
        limits.maxKeys = 2
        let text = (1...3).map { "\($0) AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n" }.joined()
        let error = Support.error { () throws(TrackingError) in _ = try KeyRing(parsing: text, limits: limits) }
        #expect(error?.description == "key ring line 3: more than 2 keys")
    }

    @Test func fileErrorsAreClear() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("absent").path
        #expect(
            Support.error { () throws(TrackingError) in _ = try KeyRing(contentsOf: missing) }?.description
                == "cannot read key ring \(missing): No such file or directory")
        let empty = dir.appendingPathComponent("empty")
        try Data().write(to: empty)
        #expect(
            Support.error { () throws(TrackingError) in _ = try KeyRing(contentsOf: empty.path) }?.description
                == "cannot use key ring \(empty.path): the file holds no key")
        let bad = dir.appendingPathComponent("bad")
        try Data("1 no*pe\n".utf8).write(to: bad)
        #expect(
            Support.error { () throws(TrackingError) in _ = try KeyRing(contentsOf: bad.path) }?.description
                == "key ring line 1: key is not valid base64")
        let big = dir.appendingPathComponent("big")
        try Data(repeating: UInt8(ascii: "#"), count: (1 << 20) + 1).write(to: big)
        #expect(
            Support.error { () throws(TrackingError) in _ = try KeyRing(contentsOf: big.path) }?.description
                == "cannot read key ring \(big.path): file is larger than 1048576 bytes")
        let intoMissingDir = dir.appendingPathComponent("no/such/dir/keys").path
        #expect(
            Support.error { () throws(TrackingError) in try KeyRing.generate().write(to: intoMissingDir) }?.description
                == "cannot write key ring \(intoMissingDir): No such file or directory")
        // A regular file where a parent directory should be.
        let blocked = empty.appendingPathComponent("keys").path
        #expect(
            Support.error { () throws(TrackingError) in _ = try KeyRing.loadOrCreate(at: blocked) }?.description
                == "cannot read key ring \(blocked): Not a directory")
    }

    @Test func loadOrCreateCreatesOnceThenReloads() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a/b/keys.txt")
        let created = try KeyRing.loadOrCreate(at: path.path)
        #expect(created.keys.map(\.id) == [1])
        #expect(try mode(path) == 0o600)
        #expect(try mode(dir.appendingPathComponent("a")) == 0o700)
        #expect(try mode(dir.appendingPathComponent("a/b")) == 0o700)
        let reloaded = try KeyRing.loadOrCreate(at: path.path)
        #expect(reloaded == created)
        #expect(try KeyRing(contentsOf: path.path) == created)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("a/b").path) == ["keys.txt"])
        // A URL made with the created ring decodes with the reloaded one.
        let url = try TrackingURLBuilder(domain: "t", keyRing: created).clickURL(
            link: Support.link, recipient: Support.recipient)
        #expect(
            try TrackingDecoder.decode(url: url, keyRing: reloaded, now: Support.now).rcptTo == Support.recipient.rcptTo
        )
    }

    @Test func loadOrCreateLeavesExistingDirectoriesAlone() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
        _ = try KeyRing.loadOrCreate(at: dir.appendingPathComponent("keys").path)
        #expect(try mode(dir) == 0o755)
    }

    @Test func concurrentFirstRunsAgreeOnOneRing() async throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("keys").path
        let rings = try await withThrowingTaskGroup(of: KeyRing.self) { group in
            for _ in 0..<8 { group.addTask { try KeyRing.loadOrCreate(at: path) } }
            var all: [KeyRing] = []
            for try await ring in group { all.append(ring) }
            return all
        }
        let onDisk = try KeyRing(contentsOf: path)
        #expect(rings.count == 8)
        #expect(rings.allSatisfy { $0 == onDisk })
    }

    @Test func createRefusesToReplaceAndRotateAppends() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("new/keys").path
        let ring = KeyRing.generate()
        try ring.create(at: path)
        #expect(try mode(URL(fileURLWithPath: path)) == 0o600)
        #expect(try mode(dir.appendingPathComponent("new")) == 0o700)
        let error = Support.error { () throws(TrackingError) in try KeyRing.generate().create(at: path) }
        #expect(error?.description == "cannot create key ring \(path): a file already exists there")
        #expect(try KeyRing(contentsOf: path) == ring)

        let oldURL = try TrackingURLBuilder(domain: "t", keyRing: ring).clickURL(
            link: Support.link, recipient: Support.recipient)
        let rotated = try KeyRing.rotate(at: path)
        #expect(rotated.keys.map(\.id) == [1, 2])
        #expect(rotated.keys.first == ring.keys.first)
        #expect(try KeyRing(contentsOf: path) == rotated)
        #expect(try mode(URL(fileURLWithPath: path)) == 0o600)
        #expect(try TrackingDecoder.decode(url: oldURL, keyRing: rotated, now: Support.now).keyID == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("new").path) == ["keys"])
    }

    @Test func rotationIDs() throws {
        let a = try Support.key(id: 5, seed: 1)
        #expect(KeyRing(keys: []).rotated().keys.map(\.id) == [1])
        #expect(KeyRing(keys: [a]).rotated().keys.map(\.id) == [5, 6])
        let top = try Support.key(id: 65535, seed: 2)
        let zero = try Support.key(id: 0, seed: 3)
        #expect(KeyRing(keys: [zero, top]).rotated().keys.map(\.id) == [0, 65535, 1])
        #expect(KeyRing.generate().keys.map(\.id) == [1])
        #expect(KeyRing.generate() != KeyRing.generate())
    }

    @Test func keySecretMustBe32Bytes() {
        #expect(
            Support.error { () throws(TrackingError) in _ = try TrackingKey(id: 1, secret: [1, 2, 3]) }?.description
                == "key secret must be 32 bytes, got 3")
    }
}
