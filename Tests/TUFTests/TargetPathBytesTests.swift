import CryptoEVP
import Testing
import TUF
import TUFRepository

// Target paths are URL paths and file names: "/" is a separator even when a prepend scalar (U+0600)
// before it or a combining scalar (U+0301) after it makes it part of one Swift Character.
@Suite struct TargetPathBytesTests {
    @Test(arguments: [
        ("releases/*", "releases/x\u{0600}/agent.bin"),
        ("releases/*", "releases/x/\u{0301}agent.bin"),
        ("*.bin", "x\u{0600}/a.bin"),
    ])
    func starDoesNotCrossAHiddenSlash(pattern: String, path: String) throws {
        let role = try DelegatedRole(name: "r", keyIDs: ["k"], threshold: 1, terminating: false, paths: [pattern])
        #expect(!role.isDelegated(path: path))
    }

    @Test func hashPrefixGoesBeforeTheLastByteSegment() throws {
        let file = try TargetFile(path: "oci/x/\u{0301}app.tar", describing: [1])
        let bytes = Array(file.hashPrefixedPath.utf8)
        let slash = try #require(bytes.lastIndex(of: UInt8(ascii: "/")))
        #expect(Array(bytes[...slash]) == Array("oci/x/".utf8))
        #expect(bytes[(slash + 1)...].starts(with: Array(file.prefixHash.utf8)))
    }

    @Test(arguments: ["x\u{0600}/..", "x\u{0600}/../\u{0600}y", "x\u{0600}/."])
    func repositoryRefusesHiddenDotSegments(path: String) throws {
        let directory = temporaryDirectory("bytes")
        defer { removeTree(directory) }
        var keys: [String: SigningKey] = [:]
        for role in ["root", "targets", "snapshot", "timestamp"] { keys[role] = try SigningKey.generate(.ed25519) }
        let repository = try TUFRepository.create(directory: directory + "/repo", roleKeys: keys.mapValues { [$0.publicKey] },
                                                  thresholds: [:], signers: Array(keys.values))
        #expect(throws: TUFError.self) { try repository.addTarget(path: path, contents: [1]) }
    }
}
