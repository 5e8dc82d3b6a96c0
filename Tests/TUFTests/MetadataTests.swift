import CryptoEVP
import JSON
import Testing
import TUF

@Suite struct TUFTimeTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2030-01-01T00:00:00Z", Int64(1_893_456_000)),
        ("2024-02-29T23:59:59Z", Int64(1_709_251_199)),
        ("1969-12-31T23:59:59Z", Int64(-1)),
    ])
    func parsesAndFormats(text: String, seconds: Int64) throws {
        let time = try #require(TUFTime(text))
        #expect(time.secondsSinceEpoch == seconds)
        #expect(time.description == text)
    }

    @Test(arguments: ["2030-01-01T00:00:00+00:00", "2030-01-01T00:00:00.5Z", "2023-02-29T00:00:00Z",
                      "2030-13-01T00:00:00Z", "2030-01-01 00:00:00Z", "2030-1-01T00:00:00Z", ""])
    func refusesOtherForms(text: String) {
        #expect(TUFTime(text) == nil)
    }
}

@Suite struct PathPatternTests {
    private func role(_ paths: [String]) throws -> DelegatedRole {
        try DelegatedRole(name: "r", keyIDs: ["k"], threshold: 1, terminating: false, paths: paths)
    }

    // Expected values are python's fnmatch.fnmatchcase applied per segment.
    @Test(arguments: [
        ("releases/*", "releases/a.bin", true),
        ("releases/*", "releases/a/b.bin", false),
        ("*", "a.bin", true),
        ("*.bin", "dir/a.bin", false),
        ("agent-?.bin", "agent-1.bin", true),
        ("agent-?.bin", "agent-12.bin", false),
        ("agent-[0-9].bin", "agent-7.bin", true),
        ("agent-[!0-9].bin", "agent-7.bin", false),
        ("a[.bin", "a[.bin", true),
        ("*/*/c", "a/b/c", true),
        ("A*", "a", false),
    ])
    func matchesLikeFnmatch(pattern: String, path: String, expected: Bool) throws {
        #expect(try role([pattern]).isDelegated(path: path) == expected)
    }

    @Test func hashPrefixesUseTheSHA256OfThePath() throws {
        let digest = Hex.encode(Digest.sha256(Array("releases/a.bin".utf8)))
        let matching = try DelegatedRole(name: "bin", keyIDs: ["k"], threshold: 1, terminating: true,
                                         pathHashPrefixes: [String(digest.prefix(2))])
        #expect(matching.isDelegated(path: "releases/a.bin"))
        let other = try DelegatedRole(name: "bin", keyIDs: ["k"], threshold: 1, terminating: true,
                                      pathHashPrefixes: [digest.hasPrefix("00") ? "ff" : "00"])
        #expect(!other.isDelegated(path: "releases/a.bin"))
        #expect(throws: TUFError.self) {
            try DelegatedRole(name: "x", keyIDs: [], threshold: 1, terminating: false, paths: ["a"], pathHashPrefixes: ["b"])
        }
    }
}

@Suite struct SignatureThresholdTests {
    let keys: [SigningKey]
    let tufKeys: [TUFKey]

    init() throws {
        keys = try (0..<3).map { _ in try SigningKey.generate(.ed25519) }
        tufKeys = try keys.map { try TUFKey($0.publicKey) }
    }

    private func timestamp() -> Metadata<Timestamp> {
        Metadata(signed: Timestamp(common: SignedCommon(expires: TUFTime(secondsSinceEpoch: 2_000_000_000)),
                                   snapshotMeta: MetaFile(version: 1)))
    }

    private func root(threshold: Int64, listed: [Int]) throws(TUFError) -> Root {
        var all: [String: TUFKey] = [:]
        for key in tufKeys { all[key.keyID] = key }
        let role = RoleKeys(keyIDs: listed.map { tufKeys[$0].keyID }, threshold: threshold)
        return try Root(common: SignedCommon(expires: TUFTime(secondsSinceEpoch: 2_000_000_000)), keys: all,
                        roles: ["root": role, "timestamp": role, "snapshot": role, "targets": role])
    }

    @Test func distinctListedKeysReachTheThreshold() throws {
        var metadata = timestamp()
        try metadata.sign(with: keys[0])
        try metadata.sign(with: keys[1])
        try root(threshold: 2, listed: [0, 1]).verify(metadata, as: "timestamp")
        // Signing twice with one key replaces the signature: still one signer.
        var once = timestamp()
        try once.sign(with: keys[0])
        try once.sign(with: keys[0])
        #expect(once.signatures.count == 1)
        #expect(throws: TUFError.self) { try root(threshold: 2, listed: [0, 1]).verify(once, as: "timestamp") }
    }

    @Test func signaturesOfUnlistedKeysAreIgnored() throws {
        var metadata = timestamp()
        try metadata.sign(with: keys[0])
        try metadata.sign(with: keys[2])
        do {
            try root(threshold: 2, listed: [0, 1]).verify(metadata, as: "timestamp")
            Issue.record("a key the role does not list counted")
        } catch {
            #expect(error.code == .unsigned)
            #expect(error.message.contains("1/2"))
        }
    }

    @Test func aDuplicateSignatureEntryIsInvalidMetadata() throws {
        var metadata = timestamp()
        try metadata.sign(with: keys[0])
        var bytes = metadata.bytes()
        var document = try JSON.parse(bytes)
        if case .object(var members) = document, case .array(let signatures)? = members["signatures"] {
            members["signatures"] = .array(signatures + signatures)
            document = .object(members)
        }
        bytes = document.bytes()
        #expect(throws: TUFError.self) { try Metadata<Timestamp>(bytes: bytes) }
    }

    @Test func tamperingWithSignedBreaksTheSignature() throws {
        var metadata = timestamp()
        try metadata.sign(with: keys[0])
        let text = String(decoding: metadata.bytes(), as: UTF8.self).replacingOccurrences(of: "\"version\":1", with: "\"version\":2")
        let tampered = try Metadata<Timestamp>(bytes: Array(text.utf8))
        #expect(throws: TUFError.self) { try root(threshold: 1, listed: [0]).verify(tampered, as: "timestamp") }
    }

    @Test func floatsAndUnknownFieldsInSigned() throws {
        var metadata = timestamp()
        metadata.signed.common.unrecognized["x-note"] = ["kept": true]
        try metadata.sign(with: keys[0])
        let parsed = try Metadata<Timestamp>(bytes: metadata.bytes())
        #expect(parsed.signed.common.unrecognized["x-note"] == ["kept": true])
        try root(threshold: 1, listed: [0]).verify(parsed, as: "timestamp")
        let withFloat = String(decoding: metadata.bytes(), as: UTF8.self).replacingOccurrences(of: "\"kept\":true", with: "\"kept\":1.5")
        do {
            _ = try Metadata<Timestamp>(bytes: Array(withFloat.utf8))
            Issue.record("a float in signed was accepted")
        } catch {
            #expect(error.code == .invalidMetadata)
        }
    }
}

@Suite struct ReleaseDescriptionTests {
    private let valid: JSON = ["kind": "oci", "version": "2.0.0-rc.1", "boards": ["rpi5"], "security_counter": 3,
                               "health": ["window_seconds": 30, "attempts": 2], "x-vendor": "kept"]

    @Test func readsAndWritesBack() throws {
        let release = try ReleaseDescription(custom: valid)
        #expect(release.kind == .oci)
        #expect(release.health == .init(windowSeconds: 30, attempts: 2))
        #expect(release.supports(board: "rpi5") && !release.supports(board: "rpi4b"))
        #expect(release.json == valid)
    }

    @Test(arguments: [
        ("kind", JSON.string("deb"), "custom.kind"),
        ("version", JSON.string("1.2"), "custom.version"),
        ("boards", JSON.array([]), "custom.boards"),
        ("boards", JSON.array(["rpi 5"]), "custom.boards"),
        ("security_counter", JSON.int(-1), "custom.security_counter"),
        ("health", ["window_seconds": 0, "attempts": 2], "custom.health.window_seconds"),
        ("health", ["window_seconds": 30, "attempts": 101], "custom.health.attempts"),
        ("min_version", JSON.int(1), "custom.min_version"),
    ] as [(String, JSON, String)])
    func refusesInvalidFields(field: String, value: JSON, named: String) throws {
        guard case .object(var members) = valid else { return }
        members[field] = value
        do {
            _ = try ReleaseDescription(custom: .object(members))
            Issue.record("invalid \(field) accepted")
        } catch {
            #expect(error.message.contains(named), "\(error.message)")
        }
    }
}

/// The state machine alone, with a manual clock.
@Suite struct TrustedMetadataSetTests {
    let key: SigningKey
    let root: Metadata<Root>

    init() throws {
        key = try SigningKey.generate(.ed25519)
        let tufKey = try TUFKey(key.publicKey)
        let role = RoleKeys(keyIDs: [tufKey.keyID], threshold: 1)
        var root = Metadata(signed: try Root(common: SignedCommon(expires: TUFTime(secondsSinceEpoch: 1_000)),
                                             keys: [tufKey.keyID: tufKey],
                                             roles: ["root": role, "timestamp": role, "snapshot": role, "targets": role]))
        try root.sign(with: key)
        self.root = root
    }

    private func timestamp(version: Int64, snapshot: Int64, expires: Int64 = 1_000) throws(TUFError) -> [UInt8] {
        var metadata = Metadata(signed: Timestamp(common: SignedCommon(version: version, expires: TUFTime(secondsSinceEpoch: expires)),
                                                  snapshotMeta: MetaFile(version: snapshot)))
        try metadata.sign(with: key)
        return metadata.bytes()
    }

    @Test func expiryIsCheckedAgainstTheReferenceTime() throws {
        let early = try TrustedMetadataSet(rootBytes: root.bytes(), referenceTime: TUFTime(secondsSinceEpoch: 999))
        try early.updateTimestamp(try timestamp(version: 1, snapshot: 1))
        let late = try TrustedMetadataSet(rootBytes: root.bytes(), referenceTime: TUFTime(secondsSinceEpoch: 1_000))
        do {
            try late.updateTimestamp(try timestamp(version: 1, snapshot: 1))
            Issue.record("an expired root was used")
        } catch {
            #expect(error.code == .expired)
        }
    }

    @Test func timestampRollbacksAreRefused() throws {
        let set = try TrustedMetadataSet(rootBytes: root.bytes(), referenceTime: TUFTime(secondsSinceEpoch: 0))
        try set.updateTimestamp(try timestamp(version: 5, snapshot: 5))
        for (version, snapshot, code) in [(4, 5, TUFError.Code.badVersion), (5, 5, .equalVersion), (6, 4, .badVersion)] {
            do {
                try set.updateTimestamp(try timestamp(version: Int64(version), snapshot: Int64(snapshot)))
                Issue.record("timestamp v\(version) with snapshot v\(snapshot) was accepted")
            } catch {
                #expect(error.code == code)
            }
        }
        #expect(set.timestamp?.version == 5)
        #expect(throws: TUFError.self) { try set.updateRoot(root.bytes()) }
    }
}
