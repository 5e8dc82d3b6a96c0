import Foundation
import JSON
import Testing

/// `nanoedge-agent tuf` against repositories python-tuf generates, served over HTTP: the client
/// first trusts a good state ("before"), then the server switches to "after". Every attack must
/// be refused with the verification exit status, leave the trusted metadata byte for byte as it
/// was, and leave nothing in the target directory; python-tuf's ngclient must agree.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AttackMatrixTests {
    struct Scenario: CustomTestStringConvertible, Sendable {
        var attack: String
        var exitStatus: Int32
        var pythonRefuses: Bool
        var testDescription: String { attack }
    }

    static let attacks: [Scenario] = [
        Scenario(attack: "expired-timestamp", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "snapshot-rollback", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "targets-rollback", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "mix-and-match", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "too-few-signatures", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "foreign-signature", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "root-without-old-keys", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "oversized-timestamp", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "unknown-hash", exitStatus: 1, pythonRefuses: true),
        Scenario(attack: "target-hash-mismatch", exitStatus: 1, pythonRefuses: true),
    ]

    /// A served repository pair, a client that trusts "before", and helpers.
    final class Setup {
        let directory: String
        let server: RepositoryServer
        let targets: JSON
        var metadata: String { directory + "/client" }
        var targetDirectory: String { directory + "/targets-out" }

        init(attack: String) throws {
            directory = temporaryDirectory("attack")
            let made = try python(["attack", "--out", directory + "/repo", "--attack", attack])
            guard made.status == 0, let json = made.json else {
                throw RepositoryServer.ServerError(description: "python could not build \(attack): \(made.output)")
            }
            targets = json["targets"] ?? .null
            try FileManager.default.createSymbolicLink(atPath: directory + "/served", withDestinationPath: directory + "/repo/before")
            server = try RepositoryServer(root: directory + "/served", scratch: directory)
            try FileManager.default.createDirectory(atPath: targetDirectory, withIntermediateDirectories: true)
        }

        deinit { removeTree(directory) }

        func switchToAfter() throws {
            try FileManager.default.removeItem(atPath: directory + "/served")
            try FileManager.default.createSymbolicLink(atPath: directory + "/served", withDestinationPath: directory + "/repo/after")
        }

        func agent(_ words: [String], targets names: [String] = ["agent.bin"], prefix: [String] = []) throws -> (status: Int32, output: String) {
            var arguments = ["tuf", "--metadata-url", server.base + "/metadata/", "--metadata-dir", metadata]
            if words == ["download"] {
                for name in names { arguments += ["--target-name", name] }
                arguments += ["--target-dir", targetDirectory, "--target-base-url", server.base + "/targets/"]
            }
            return try runAgent(arguments + words, prefix: prefix)
        }

        /// Pins before's 1.root.json and refreshes against "before".
        func trustBefore() throws {
            let pinned = try runAgent(["tuf", "--metadata-dir", metadata, "init", directory + "/repo/before/metadata/1.root.json"])
            #expect(pinned.status == 0, "\(pinned.output)")
            let refreshed = try agent(["refresh"])
            #expect(refreshed.status == 0, "\(refreshed.output)")
        }

        /// python-tuf's verdict on "after" for a client that trusted "before".
        func pythonRefusesAfter() throws -> Bool {
            let work = directory + "/python-client"
            let root = directory + "/repo/before/metadata/1.root.json"
            let first = try python(["client", "--repo", directory + "/repo/before", "--root", root, "--work", work])
            #expect(first.status == 0, "\(first.output)")
            let second = try python(["client", "--repo", directory + "/repo/after", "--root", root, "--work", work,
                                     "--target", "agent.bin"])
            return second.status != 0
        }
    }

    @Test(arguments: attacks)
    func attackIsRefusedAndChangesNothing(scenario: Scenario) throws {
        let setup = try Setup(attack: scenario.attack)
        try setup.trustBefore()
        let trustedBefore = snapshotTree(setup.metadata).filter { !$0.key.hasPrefix("staging") }
        #expect(trustedBefore.keys.sorted() == ["root.json", "snapshot.json", "targets.json", "timestamp.json"])
        try setup.switchToAfter()

        let result = try setup.agent(["download"])
        #expect(result.status == scenario.exitStatus, "\(result.output)")
        #expect(result.output.contains("verification failed"), "\(result.output)")
        let trustedAfter = snapshotTree(setup.metadata).filter { !$0.key.hasPrefix("staging") }
        #expect(trustedAfter == trustedBefore, "trusted metadata changed: \(result.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.targetDirectory).isEmpty)
        #expect(try setup.pythonRefusesAfter() == scenario.pythonRefuses)
    }

    @Test func truncatedTargetIsRefusedAsANetworkFailure() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let urlPath = try #require(setup.targets["agent.bin"]?["url_path"]?.stringValue)
        try setup.server.setFaults(["/targets/" + urlPath: ["truncate_at": 1000]])
        let trusted = snapshotTree(setup.metadata).filter { !$0.key.hasPrefix("staging") }
        let result = try setup.agent(["download"])
        #expect(result.status == 3, "\(result.output)")
        #expect(result.output.contains("ended early") || result.output.contains("ended after"), "\(result.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.targetDirectory).isEmpty)
        // Refresh found nothing new: the trusted files are as they were.
        #expect(snapshotTree(setup.metadata).filter { !$0.key.hasPrefix("staging") } == trusted)
        // The next run resumes and completes.
        try setup.server.setFaults([:])
        let resumed = try setup.agent(["download"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(setup.server.requests.contains { $0.hasPrefix("/targets/" + urlPath + " bytes=") })
        #expect(readBytes(setup.targetDirectory + "/agent.bin")?.count == 12000)
    }

    @Test func correctlyChainedRootRotationIsAccepted() throws {
        let setup = try Setup(attack: "rotated-root")
        try setup.trustBefore()
        try setup.switchToAfter()
        let result = try setup.agent(["download"])
        #expect(result.status == 0, "\(result.output)")
        #expect(readBytes(setup.metadata + "/root.json") == readBytes(setup.directory + "/repo/after/metadata/2.root.json"))
        #expect(readBytes(setup.metadata + "/timestamp.json") == readBytes(setup.directory + "/repo/after/metadata/timestamp.json"))
        #expect(try setup.pythonRefusesAfter() == false)
    }

    @Test func happyPathWithDelegationLeavesOnlyVerifiedTargets() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let result = try setup.agent(["download"], targets: ["agent.bin", "releases/app.bin"])
        #expect(result.status == 0, "\(result.output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: setup.targetDirectory).sorted()
        #expect(files == ["agent.bin", "releases%2Fapp.bin"])
        #expect(readBytes(setup.targetDirectory + "/releases%2Fapp.bin") == Array("delegated app".utf8))
        #expect(readBytes(setup.targetDirectory + "/agent.bin") == Array(String(repeating: "agent-1.0.0 ", count: 1000).utf8))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: setup.targetDirectory + "/agent.bin")[.posixPermissions] as? Int)
        #expect(mode & 0o111 == 0)
        // The delegated role's metadata is kept under its own name, exactly as served.
        #expect(readBytes(setup.metadata + "/releases.json") == readBytes(setup.directory + "/repo/before/metadata/1.releases.json"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.metadata + "/staging").isEmpty)
        // A second run finds the files up to date and downloads nothing.
        let before = setup.server.requests.filter { $0.hasPrefix("/targets/") }.count
        let again = try setup.agent(["download"], targets: ["agent.bin", "releases/app.bin"])
        #expect(again.status == 0, "\(again.output)")
        #expect(setup.server.requests.filter { $0.hasPrefix("/targets/") }.count == before)
    }

    @Test func unknownTargetAndUsageErrorsHaveTheirOwnStatus() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let missing = try setup.agent(["download"], targets: ["nope.bin"])
        #expect(missing.status == 5, "\(missing.output)")
        let usage = try runAgent(["tuf", "--metadata-dir", setup.metadata, "refresh"])
        #expect(usage.status == 2, "\(usage.output)")
        let unreachable = try runAgent(["tuf", "--metadata-url", "http://127.0.0.1:1/metadata/", "--metadata-dir",
                                        setup.metadata, "refresh"])
        #expect(unreachable.status == 3, "\(unreachable.output)")
        // Pinning another root over the trusted one is refused.
        try writeBytes(Array("{}".utf8), setup.directory + "/other-root.json")
        let repin = try runAgent(["tuf", "--metadata-dir", setup.metadata, "init", setup.directory + "/other-root.json"])
        #expect(repin.status == 1, "\(repin.output)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime"), "needs faketime"))
    func expiryFollowsTheSystemClock() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let trusted = snapshotTree(setup.metadata).filter { !$0.key.hasPrefix("staging") }
        // The repository's metadata expires in 30 days; 400 days on, root itself has expired.
        let late = try setup.agent(["refresh"], prefix: ["faketime", "-f", "+400d"])
        #expect(late.status == 1, "\(late.output)")
        #expect(late.output.contains("expired"), "\(late.output)")
        #expect(snapshotTree(setup.metadata).filter { !$0.key.hasPrefix("staging") } == trusted)
        let now = try setup.agent(["refresh"])
        #expect(now.status == 0, "\(now.output)")
    }
}
