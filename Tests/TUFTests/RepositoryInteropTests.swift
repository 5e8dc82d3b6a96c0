import CryptoEVP
import Foundation
import JSON
import Testing
import TUF
import TUFRepository

private let release: JSON = [
    "kind": "binary", "version": "1.4.2", "boards": ["rpi4b", "rpi5"], "security_counter": 7,
    "health": ["window_seconds": 120, "attempts": 3],
]

/// A repository built by `TUFRepository` with one key per role, all of `algorithm`.
private func makeRepository(_ directory: String, _ algorithm: KeyAlgorithm) throws -> (TUFRepository, [String: SigningKey]) {
    var keys: [String: SigningKey] = [:]
    for role in ["root", "targets", "snapshot", "timestamp"] { keys[role] = try SigningKey.generate(algorithm) }
    let repository = try TUFRepository.create(
        directory: directory, roleKeys: keys.mapValues { [$0.publicKey] }, thresholds: [:],
        signers: Array(keys.values))
    return (repository, keys)
}

@Suite(.serialized) struct RepositoryInteropTests {
    /// Our repository, through a delegation, a root rotation and a targets key rotation, read by
    /// python-tuf's client pinned to our 1.root.json.
    @Test(arguments: KeyAlgorithm.allCases)
    func pythonClientReadsOurRepository(algorithm: KeyAlgorithm) throws {
        let directory = temporaryDirectory("repo")
        defer { removeTree(directory) }
        let (repository, _) = try makeRepository(directory + "/repo", algorithm)
        try repository.addTarget(path: "agent-1.4.2.bin", contents: Array("agent".utf8), custom: release)
        let delegateKey = try SigningKey.generate(algorithm)
        try repository.addSigner(delegateKey)
        try repository.delegate(try DelegatedRole(name: "oci", keyIDs: [], threshold: 1, terminating: true,
                                                  paths: ["oci/*"]), keys: [delegateKey.publicKey])
        try repository.addTarget(path: "oci/app.tar", contents: Array("image".utf8), role: "oci")
        try repository.publish()

        // Root rotation: root v2 signed by the old and the new root key.
        let newRoot = try SigningKey.generate(algorithm)
        try repository.addSigner(newRoot)
        #expect(try repository.rotate(role: "root", to: [newRoot.publicKey]) == 2)
        // Targets key rotation: root v3 lists the new key, targets is re-signed with it.
        let newTargets = try SigningKey.generate(algorithm)
        try repository.addSigner(newTargets)
        #expect(try repository.rotate(role: "targets", to: [newTargets.publicKey]) == 3)

        let result = try python(["client", "--repo", directory + "/repo", "--root", directory + "/repo/metadata/1.root.json",
                                 "--work", directory + "/py", "--target", "agent-1.4.2.bin", "--target", "oci/app.tar"])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(result.json)
        #expect(json["root_version"] == 3)
        #expect(json["targets_version"]?.intValue == repository.targets["targets"]?.signed.version)
        #expect(json["timestamp_version"]?.intValue == repository.timestamp.signed.version)
        #expect(json["targets"]?["agent-1.4.2.bin"]?["content_hex"]?.stringValue == Hex.encode(Array("agent".utf8)))
        #expect(json["targets"]?["agent-1.4.2.bin"]?["custom"] == release)
        #expect(json["targets"]?["oci/app.tar"]?["content_hex"]?.stringValue == Hex.encode(Array("image".utf8)))
    }

    /// python-tuf's repository with a delegation, a root rotation and a targets key rotation,
    /// read by our client pinned to its 1.root.json.
    @Test(arguments: KeyAlgorithm.allCases)
    func ourClientReadsPythonsRepository(algorithm: KeyAlgorithm) throws {
        let directory = temporaryDirectory("pyrepo")
        defer { removeTree(directory) }
        let made = try python(["make-repo", "--out", directory + "/repo", "--key-type", algorithm.rawValue, "--delegate",
                               "--rotate-root", "--rotate-targets", "--target", "targets:a.bin:hello",
                               "--target", "releases:releases/b.bin:world"])
        #expect(made.status == 0, "\(made.output)")
        let expected = try #require(made.json)

        let rootBytes = try #require(readBytes(directory + "/repo/metadata/1.root.json"))
        try TUFClient.initialize(metadataDirectory: directory + "/client", rootBytes: rootBytes)
        let client = try TUFClient(metadataDirectory: directory + "/client", metadataBaseURL: "http://repo/metadata",
                                   transport: DirectoryTransport(root: directory + "/repo"))
        try client.refresh()
        #expect(client.trusted.root.version == expected["root_version"]?.intValue)
        #expect(client.trusted.targets["targets"]?.version == expected["targets_version"]?.intValue)
        #expect(client.trusted.snapshot?.version == expected["snapshot_version"]?.intValue)

        let a = try #require(try client.targetInfo("a.bin"))
        #expect(try a.release().boards == ["rpi4b"])
        try client.download(a, targetBaseURL: "http://repo/targets", to: directory + "/a.staged")
        #expect(readBytes(directory + "/a.staged") == Array("hello".utf8))
        let b = try #require(try client.targetInfo("releases/b.bin"))
        try client.download(b, targetBaseURL: "http://repo/targets/", to: directory + "/b.staged")
        #expect(readBytes(directory + "/b.staged") == Array("world".utf8))
        #expect(try client.targetInfo("missing.bin") == nil)

        // The exact bytes python wrote are what the client keeps, under unversioned names.
        let repo = directory + "/repo/metadata/"
        #expect(readBytes(directory + "/client/root.json") == readBytes(repo + "3.root.json"))
        #expect(readBytes(directory + "/client/timestamp.json") == readBytes(repo + "timestamp.json"))
        #expect(readBytes(directory + "/client/targets.json") == readBytes(repo + "2.targets.json"))
        #expect(readBytes(directory + "/client/releases.json") == readBytes(repo + "1.releases.json"))
    }

    /// Python parses our files and re-serializes the signed part to the same canonical bytes
    /// (what its signature check hashes), and our parse of python's files does the same.
    @Test func signedPartsSurviveBothParsers() throws {
        let directory = temporaryDirectory("roundtrip")
        defer { removeTree(directory) }
        let made = try python(["make-repo", "--out", directory + "/py", "--delegate", "--target", "targets:x:y"])
        #expect(made.status == 0, "\(made.output)")
        let bytes = try #require(readBytes(directory + "/py/metadata/1.targets.json"))
        let parsed = try Metadata<Targets>(bytes: bytes)
        let original = try JSON.parse(bytes, limits: JSONLimits(maxDepth: 64, maxBytes: 1 << 20, maxStringBytes: 1 << 20))
        #expect(try parsed.signed.json.canonicalBytes() == original["signed"]!.canonicalBytes())
        #expect(try parsed.signedBytes() == original["signed"]!.canonicalBytes())
    }
}

@Suite struct RepositoryTests {
    @Test func rotationWithoutTheOldRootKeyIsRefusedAndChangesNothing() throws {
        let directory = temporaryDirectory("rotate")
        defer { removeTree(directory) }
        let (repository, keys) = try makeRepository(directory, .ed25519)
        let reopened = try TUFRepository(directory: directory, signers: [keys["snapshot"]!, keys["timestamp"]!])
        let newRoot = try SigningKey.generate(.ed25519)
        try reopened.addSigner(newRoot)
        do {
            try reopened.rotate(role: "root", to: [newRoot.publicKey])
            Issue.record("a root rotation without the old root key was written")
        } catch {
            #expect(error.code == .usage)
            #expect(error.message.contains("previous root"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/metadata/2.root.json"))
        #expect(reopened.root.signed.version == 1)
        _ = repository
    }

    @Test func thresholdsNeedEnoughKeys() throws {
        let directory = temporaryDirectory("threshold")
        defer { removeTree(directory) }
        let key = try SigningKey.generate(.ed25519)
        do {
            _ = try TUFRepository.create(
                directory: directory, roleKeys: ["root": [key.publicKey], "targets": [key.publicKey],
                                                 "snapshot": [key.publicKey], "timestamp": [key.publicKey]],
                thresholds: ["root": 2], signers: [key])
            Issue.record("a threshold above the number of keys was accepted")
        } catch {
            #expect(error.message.contains("threshold must be between 1 and 1"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/metadata/1.root.json"))
    }

    @Test func invalidReleaseDescriptionsAreRefused() throws {
        let directory = temporaryDirectory("custom")
        defer { removeTree(directory) }
        let (repository, _) = try makeRepository(directory, .ed25519)
        var bad = release
        if case .object(var members) = bad {
            members["kind"] = "tarball"
            bad = .object(members)
        }
        #expect(throws: TUFError.self) { try repository.addTarget(path: "x.bin", contents: [1], custom: bad) }
        #expect(throws: TUFError.self) { try repository.addTarget(path: "../x.bin", contents: [1]) }
        #expect(repository.targets["targets"]?.signed.targets.isEmpty == true)
    }
}
