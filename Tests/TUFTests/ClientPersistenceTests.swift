import Foundation
import Testing
import TUF

/// Role names and target paths as URL and file names, compared with what python-tuf (and urllib3
/// under it) makes of them.
@Suite struct NameQuotingTests {
    // python: urllib.parse.quote(name, "")
    @Test(arguments: [
        ("?", "%3F"), ("#", "%23"), ("/delegatedrole", "%2Fdelegatedrole"), ("../x", "..%2Fx"), ("a b", "a%20b"),
        ("r\u{00F4}le", "r%C3%B4le"), ("\u{4E2D}", "%E4%B8%AD"), ("..", ".."), ("%2F", "%252F"), ("a_b.c-d~", "a_b.c-d~"),
    ])
    func roleNamesArePercentEncoded(name: String, quoted: String) {
        #expect(quoteRoleName(name) == quoted)
    }

    // python-tuf puts the path in the URL as is; urllib3 then encodes what a path cannot hold.
    // `?` and `#` are ours: a target path is a path, not a query or a fragment.
    @Test(arguments: [
        ("releases/app.bin", "releases/app.bin"), ("a b.bin", "a%20b.bin"), ("caf\u{00E9}/x.bin", "caf%C3%A9/x.bin"),
        ("a%2fb", "a%2Fb"), ("100%", "100%25"), ("50% %41", "50%25%20%2541"), ("a?b#c", "a%3Fb%23c"),
        ("../x.bin", "../x.bin"), ("k=v;(x)!*'@:+,$&", "k=v;(x)!*'@:+,$&"), ("<>\"\\^`{|}", "%3C%3E%22%5C%5E%60%7B%7C%7D"),
    ])
    func targetPathsKeepSlashesAndEncodeTheRest(path: String, quoted: String) {
        #expect(quoteTargetPath(path) == quoted)
    }
}

/// The library client on python-tuf repositories read from disk: each verified file is written
/// at its step, and a later failure keeps it.
@Suite struct ClientPersistenceTests {
    final class Repositories {
        let directory = temporaryDirectory("persist")
        var metadata: String { directory + "/client" }

        init(attack: String, roleName: String = "releases") throws {
            let made = try python(["attack", "--out", directory + "/repo", "--attack", attack, "--role-name", roleName])
            guard made.status == 0 else { throw RepositoryServer.ServerError(description: made.output) }
            try TUFClient.initialize(metadataDirectory: metadata,
                                     rootBytes: try #require(readBytes(directory + "/repo/before/metadata/1.root.json")))
            try client("before").refresh()
        }

        deinit { removeTree(directory) }

        func client(_ state: String) throws -> TUFClient {
            try TUFClient(metadataDirectory: metadata, metadataBaseURL: "http://repo/metadata",
                          transport: DirectoryTransport(root: directory + "/repo/" + state))
        }

        func served(_ state: String, _ name: String) -> [UInt8]? {
            readBytes(directory + "/repo/\(state)/metadata/" + name)
        }
    }

    @Test func aRefusedSnapshotKeepsTheNewerTimestamp() throws {
        let repositories = try Repositories(attack: "unsigned-snapshot")
        let snapshot = readBytes(repositories.metadata + "/snapshot.json")
        #expect(throws: TUFError.self) { try repositories.client("after").refresh() }
        #expect(readBytes(repositories.metadata + "/timestamp.json") == repositories.served("after", "timestamp.json"))
        #expect(readBytes(repositories.metadata + "/snapshot.json") == snapshot)
    }

    @Test func aMissingTargetsFileKeepsTimestampAndSnapshot() throws {
        let repositories = try Repositories(attack: "targets-404")
        let targets = readBytes(repositories.metadata + "/targets.json")
        do {
            try repositories.client("after").refresh()
            Issue.record("a snapshot naming a missing targets file was accepted")
        } catch let error as TUFError {
            #expect(error.isNotFound)
        }
        #expect(readBytes(repositories.metadata + "/timestamp.json") == repositories.served("after", "timestamp.json"))
        #expect(readBytes(repositories.metadata + "/snapshot.json") == repositories.served("after", "2.snapshot.json"))
        #expect(readBytes(repositories.metadata + "/targets.json") == targets)
    }

    @Test func anExpiredRotatedRootIsKeptAndBlocksTimestamp() throws {
        let repositories = try Repositories(attack: "rotated-root-expired")
        let timestamp = readBytes(repositories.metadata + "/timestamp.json")
        do {
            try repositories.client("after").refresh()
            Issue.record("an expired root was used")
        } catch let error as TUFError {
            #expect(error.code == .expired)
        }
        #expect(readBytes(repositories.metadata + "/root.json") == repositories.served("after", "2.root.json"))
        #expect(readBytes(repositories.metadata + "/timestamp.json") == timestamp)
    }

    /// 5.3.11: after a timestamp key rotation the fast-forwarded local timestamp (v1000) no
    /// longer verifies, so the repository's reset one (v2) is accepted and replaces it.
    @Test func fastForwardRecoveryReplacesTheTimestamp() throws {
        let repositories = try Repositories(attack: "ff-recovery-timestamp")
        let client = try repositories.client("after")
        try client.refresh()
        #expect(client.trusted.timestamp?.version == 2)
        #expect(readBytes(repositories.metadata + "/timestamp.json") == repositories.served("after", "timestamp.json"))
    }

    /// Earlier versions staged partial downloads in the metadata directory; a client removes them.
    @Test func partialDownloadsOfEarlierVersionsLeaveTheMetadataDirectory() throws {
        let repositories = try Repositories(attack: "none")
        try FileManager.default.createDirectory(atPath: repositories.metadata + "/staging", withIntermediateDirectories: true)
        try writeBytes([1, 2, 3], repositories.metadata + "/staging/agent.bin.part")
        try writeBytes([4], repositories.metadata + "/staging/agent.bin.part.info")
        _ = try repositories.client("after")
        #expect(try FileManager.default.contentsOfDirectory(atPath: repositories.metadata).sorted()
            == ["root.json", "snapshot.json", "targets.json", "timestamp.json"])
    }

    @Test(arguments: ["../x", "/delegatedrole", "a b", "?#"])
    func aDelegatedRoleNeverLeavesTheMetadataDirectory(name: String) throws {
        let repositories = try Repositories(attack: "none", roleName: name)
        let transport = DirectoryTransport(root: repositories.directory + "/repo/after")
        let client = try TUFClient(metadataDirectory: repositories.metadata, metadataBaseURL: "http://repo/metadata",
                                   transport: transport)
        #expect(try client.targetInfo("releases/app.bin")?.length == 13)
        let quoted = quoteRoleName(name)
        #expect(transport.fetched.contains("http://repo/metadata/1.\(quoted).json"), "\(transport.fetched)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: repositories.metadata).sorted()
            == ["\(quoted).json", "root.json", "snapshot.json", "targets.json", "timestamp.json"].sorted())
        #expect(try FileManager.default.contentsOfDirectory(atPath: repositories.directory).sorted() == ["client", "repo"])
    }

    @Test func aTargetPathWithDotSegmentsStaysAURLPath() throws {
        let repositories = try Repositories(attack: "target-dotdot")
        let client = try repositories.client("after")
        let target = try #require(try client.targetInfo("../escape.bin"))
        #expect(client.targetURL(target, base: "http://repo/targets") == "http://repo/targets/../\(target.prefixHash).escape.bin")
        #expect(TUFClient.localName(for: target) == "..%2Fescape.bin")
    }
}
