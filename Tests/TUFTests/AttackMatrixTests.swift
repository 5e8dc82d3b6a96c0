import Foundation
import JSON
import Testing
import TUF

/// `nanoedge-agent tuf` and python-tuf's ngclient (behind the same command line,
/// `tuf_helper.py cli`) run the same steps against repositories python-tuf generates, served over
/// HTTP: init, refresh against a good state ("before"), then download against "after" (an attack
/// or a legitimate change). After every step both give the same verdict and hold the same trusted
/// files, byte for byte: python's unversioned files (root.json resolved, root_history/ ignored)
/// against ours, which must be nothing but unversioned metadata.
@Suite(.serialized, .timeLimit(.minutes(10))) struct AttackMatrixTests {
    struct Scenario: CustomTestStringConvertible, Sendable {
        var attack: String
        var targets = ["agent.bin"]
        /// The kind of failure on stderr; nil when the download succeeds.
        var failure: String?
        /// The trusted files that differ from "before" once the download ran: what a failure
        /// must still keep (spec 5.3.8, 5.4.5, 5.5.7, 5.6.6).
        var changed: Set<String> = []
        var testDescription: String { attack + (targets == ["agent.bin"] ? "" : " \(targets)") }
    }

    static let verification = "verification"

    static let scenarios: [Scenario] = [
        // Refused before anything new verifies: nothing changes.
        Scenario(attack: "expired-timestamp", failure: verification),
        Scenario(attack: "snapshot-rollback", failure: verification),
        Scenario(attack: "too-few-signatures", failure: verification),
        Scenario(attack: "foreign-signature", failure: verification),
        Scenario(attack: "root-without-old-keys", failure: verification),
        Scenario(attack: "root-version-mismatch", failure: verification),
        Scenario(attack: "oversized-timestamp", failure: verification),
        Scenario(attack: "target-hash-mismatch", failure: verification),
        // Refused after a newer timestamp (and snapshot) verified: those stay trusted.
        Scenario(attack: "targets-rollback", failure: verification, changed: ["timestamp.json"]),
        Scenario(attack: "snapshot-drops-role", failure: verification, changed: ["timestamp.json"]),
        Scenario(attack: "mix-and-match", failure: verification, changed: ["timestamp.json", "snapshot.json"]),
        Scenario(attack: "unsigned-snapshot", failure: verification, changed: ["timestamp.json"]),
        Scenario(attack: "badly-signed-snapshot", failure: verification, changed: ["timestamp.json"]),
        Scenario(attack: "unsigned-targets", failure: verification, changed: ["timestamp.json", "snapshot.json"]),
        Scenario(attack: "badly-signed-targets", failure: verification, changed: ["timestamp.json", "snapshot.json"]),
        Scenario(attack: "snapshot-404", failure: "network", changed: ["timestamp.json"]),
        Scenario(attack: "targets-404", failure: "network", changed: ["timestamp.json", "snapshot.json"]),
        Scenario(attack: "snapshot-hash-mismatch", failure: verification, changed: ["timestamp.json"]),
        Scenario(attack: "targets-hash-mismatch", failure: verification, changed: ["timestamp.json", "snapshot.json"]),
        Scenario(attack: "snapshot-version-mismatch", failure: verification, changed: ["timestamp.json"]),
        Scenario(attack: "unknown-hash", failure: verification,
                 changed: ["timestamp.json", "snapshot.json", "targets.json"]),
        Scenario(attack: "missing-target", targets: ["nope.bin"], failure: "unknown target",
                 changed: ["timestamp.json", "snapshot.json", "targets.json"]),
        // Expiry after a good root rotation: the new root stays trusted (the whole chain first).
        Scenario(attack: "rotated-root-expired", failure: verification, changed: ["root.json"]),
        Scenario(attack: "expired-final-root", failure: verification, changed: ["root.json"]),
        Scenario(attack: "rotated-root-expired-snapshot", failure: verification,
                 changed: ["root.json", "timestamp.json"]),
        Scenario(attack: "rotated-root-expired-targets", failure: verification,
                 changed: ["root.json", "timestamp.json", "snapshot.json"]),
        // Fast-forward recovery (5.3.11): the old files fail under the new keys and are replaced.
        Scenario(attack: "ff-recovery-timestamp", changed: ["root.json", "timestamp.json"]),
        Scenario(attack: "ff-recovery-snapshot", changed: ["root.json", "timestamp.json", "snapshot.json"]),
        Scenario(attack: "ff-snapshot-key-only", failure: verification, changed: ["root.json"]),
        // Legitimate changes and requests.
        Scenario(attack: "rotated-root", changed: ["root.json", "timestamp.json"]),
        Scenario(attack: "none", targets: ["agent.bin", "releases/app.bin"], changed: ["releases.json"]),
        Scenario(attack: "none", targets: ["agent.bin", "nope.bin", "releases/app.bin"], failure: "unknown target"),
        Scenario(attack: "target-dotdot", targets: ["../escape.bin"],
                 changed: ["timestamp.json", "snapshot.json", "targets.json"]),
    ]

    /// A served repository pair, our client and python's, and helpers.
    final class Setup {
        let directory: String
        let server: RepositoryServer
        let targets: JSON
        var metadata: String { directory + "/client" }
        var targetDirectory: String { directory + "/targets-out" }
        var pythonMetadata: String { directory + "/python-client" }
        var pythonTargetDirectory: String { directory + "/python-targets" }
        var pinnedRoot: String { directory + "/repo/before/metadata/1.root.json" }

        init(attack: String, roleName: String = "releases") throws {
            directory = temporaryDirectory("attack")
            let made = try python(["attack", "--out", directory + "/repo", "--attack", attack, "--role-name", roleName])
            guard made.status == 0, let json = made.json else {
                throw RepositoryServer.ServerError(description: "python could not build \(attack): \(made.output)")
            }
            targets = json["targets"] ?? .null
            try FileManager.default.createSymbolicLink(atPath: directory + "/served", withDestinationPath: directory + "/repo/before")
            server = try RepositoryServer(root: directory + "/served", scratch: directory)
        }

        deinit { removeTree(directory) }

        func switchToAfter() throws {
            try FileManager.default.removeItem(atPath: directory + "/served")
            try FileManager.default.createSymbolicLink(atPath: directory + "/served", withDestinationPath: directory + "/repo/after")
        }

        /// The protocol's arguments for `words` (init ROOT, refresh or download).
        func arguments(_ words: [String], metadata: String, targetDirectory: String, names: [String]) -> [String] {
            var arguments = ["--metadata-dir", metadata]
            if words.first != "init" { arguments += ["--metadata-url", server.base + "/metadata/"] }
            if words == ["download"] {
                for name in names { arguments += ["--target-name", name] }
                arguments += ["--target-dir", targetDirectory, "--target-base-url", server.base + "/targets/"]
            }
            return arguments + words
        }

        func agent(_ words: [String], targets names: [String] = ["agent.bin"], prefix: [String] = []) throws -> (status: Int32, output: String) {
            try runAgent(["tuf"] + arguments(words, metadata: metadata, targetDirectory: targetDirectory, names: names),
                         prefix: prefix)
        }

        func pythonClient(_ words: [String], targets names: [String] = ["agent.bin"]) throws -> PythonResult {
            try python(["cli"] + arguments(words, metadata: pythonMetadata, targetDirectory: pythonTargetDirectory, names: names))
        }

        /// Runs one step with both clients; both must reach the same verdict and keep the same
        /// trusted files. Returns our result.
        @discardableResult
        func both(_ words: [String], targets names: [String] = ["agent.bin"],
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, output: String) {
            let ours = try agent(words, targets: names)
            let theirs = try pythonClient(words, targets: names)
            #expect(ours.status == theirs.status, "\(words): ours \(ours.output) python \(theirs.output)",
                    sourceLocation: sourceLocation)
            expectSameTrustedFiles(after: words, sourceLocation: sourceLocation)
            return ours
        }

        func expectSameTrustedFiles(after words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            let ours = AttackMatrixTests.trustedFiles(metadata)
            let theirs = AttackMatrixTests.pythonTrustedFiles(pythonMetadata)
            #expect(ours.keys.sorted() == theirs.keys.sorted(), "after \(words)", sourceLocation: sourceLocation)
            for (name, bytes) in ours where theirs[name] != bytes {
                Issue.record("after \(words): \(name) differs from python-tuf's", sourceLocation: sourceLocation)
            }
            #expect(AttackMatrixTests.downloaded(targetDirectory) == AttackMatrixTests.downloaded(pythonTargetDirectory),
                    "after \(words)",
                    sourceLocation: sourceLocation)
        }

        /// Pins before's 1.root.json and refreshes against "before", with both clients.
        func trustBefore() throws {
            let pinned = try both(["init", pinnedRoot])
            #expect(pinned.status == 0, "\(pinned.output)")
            #expect(server.requests.isEmpty, "init made requests")
            let refreshed = try both(["refresh"])
            #expect(refreshed.status == 0, "\(refreshed.output)")
        }
    }

    /// Our metadata directory, which must hold only unversioned metadata files.
    static func trustedFiles(_ directory: String) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory)
            // A role name may start with "." ("..%2Fx.json"); temporaries end in ".tmp".
            #expect(!isDirectory.boolValue && name.hasSuffix(".json"),
                    "\(name) in the metadata directory is not unversioned metadata")
            #expect(!(name.first?.isNumber ?? false), "\(name) is a versioned file")
            files[name] = readBytes(directory + "/" + name)
        }
        return files
    }

    /// python-tuf's: the unversioned files, root.json (a symlink into root_history/) resolved.
    static func pythonTrustedFiles(_ directory: String) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name != "root_history" {
            files[name] = readBytes(directory + "/" + name)
        }
        return files
    }

    /// Visible files in a target directory (hidden ones are our partial downloads).
    static func downloaded(_ directory: String) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
            files[name] = readBytes(directory + "/" + name)
        }
        return files
    }

    @Test(arguments: scenarios)
    func bothClientsAgreeAfterEveryStep(scenario: Scenario) throws {
        let setup = try Setup(attack: scenario.attack)
        try setup.trustBefore()
        let before = Self.trustedFiles(setup.metadata)
        #expect(before.keys.sorted() == ["root.json", "snapshot.json", "targets.json", "timestamp.json"])
        try setup.switchToAfter()

        let result = try setup.both(["download"], targets: scenario.targets)
        if let failure = scenario.failure {
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains("nanoedge-agent tuf: \(failure): "), "\(result.output)")
        } else {
            #expect(result.status == 0, "\(result.output)")
        }
        let after = Self.trustedFiles(setup.metadata)
        let changed = Set(after.keys.filter { after[$0] != before[$0] })
        #expect(changed == scenario.changed, "\(result.output)")
        // Whatever changed is the repository's "after" state, as served.
        for name in changed where name != "releases.json" {
            let served = try FileManager.default.contentsOfDirectory(atPath: setup.directory + "/repo/after/metadata")
                .filter { $0 == name || $0.hasSuffix("." + name) }
                .compactMap { readBytes(setup.directory + "/repo/after/metadata/" + $0) }
            #expect(served.contains(after[name] ?? []), "\(name) is not a file the repository served")
        }
        if scenario.failure != nil && scenario.targets.count == 1 {
            #expect(Self.downloaded(setup.targetDirectory).isEmpty)
        }
        // Nothing was written beside the clients' directories (a `..` in a target path included).
        let entries = Set(try FileManager.default.contentsOfDirectory(atPath: setup.directory))
        #expect(entries.isSubset(of: ["client", "python-client", "python-targets", "targets-out", "repo", "requests.log",
                                      "served"]), "\(entries)")
    }

    /// Delegated role names are data: percent-encoded in URLs and file names (python's
    /// `quote(name, "")`), never a path, whatever they hold.
    @Test(arguments: ["?", "#", "/delegatedrole", "../delegatedrole", "../x", "a b", "r\u{00F4}le-\u{4E2D}", "..", "%2F"])
    func delegatedRoleNamesAreData(name: String) throws {
        let setup = try Setup(attack: "none", roleName: name)
        try setup.trustBefore()
        let result = try setup.both(["download"], targets: ["releases/app.bin"])
        #expect(result.status == 0, "\(result.output)")
        let quoted = quoteRoleName(name)
        #expect(readBytes(setup.metadata + "/" + quoted + ".json") == readBytes(setup.directory + "/repo/before/metadata/1.\(quoted).json"))
        #expect(setup.server.requests.contains("/metadata/1.\(quoted).json -"), "\(setup.server.requests)")
        // Nothing was written beside the client's directories.
        let entries = Set(try FileManager.default.contentsOfDirectory(atPath: setup.directory))
        #expect(entries == ["client", "python-client", "python-targets", "repo", "requests.log", "served", "targets-out"])
        #expect(Self.downloaded(setup.targetDirectory).keys.sorted() == ["releases%2Fapp.bin"])
    }

    @Test func truncatedTargetIsANetworkFailureAndResumesFromTheTargetDirectory() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let urlPath = try #require(setup.targets["agent.bin"]?["url_path"]?.stringValue)
        try setup.server.setFaults(["/targets/" + urlPath: ["truncate_at": 1000]])
        let trusted = Self.trustedFiles(setup.metadata)
        let result = try setup.agent(["download"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("tuf: network: "), "\(result.output)")
        #expect(result.output.contains("ended early") || result.output.contains("ended after"), "\(result.output)")
        // The partial download waits, hidden, in the target directory; the metadata directory
        // holds only metadata, unchanged.
        #expect(Self.downloaded(setup.targetDirectory).isEmpty)
        let hidden = try FileManager.default.contentsOfDirectory(atPath: setup.targetDirectory)
        #expect(hidden.contains(".agent.bin%partial.part"), "\(hidden)")
        #expect(Self.trustedFiles(setup.metadata) == trusted)
        // The next run resumes and completes.
        try setup.server.setFaults([:])
        let resumed = try setup.agent(["download"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(setup.server.requests.contains { $0.hasPrefix("/targets/" + urlPath + " bytes=") })
        #expect(readBytes(setup.targetDirectory + "/agent.bin")?.count == 12000)
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.targetDirectory) == ["agent.bin"])
    }

    @Test func verifiedTargetsAreKeptAndNotDownloadedAgain() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let names = ["agent.bin", "releases/app.bin"]
        let result = try setup.both(["download"], targets: names)
        #expect(result.status == 0, "\(result.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.targetDirectory).sorted()
            == ["agent.bin", "releases%2Fapp.bin"])
        #expect(readBytes(setup.targetDirectory + "/releases%2Fapp.bin") == Array("delegated app".utf8))
        #expect(readBytes(setup.targetDirectory + "/agent.bin") == Array(String(repeating: "agent-1.0.0 ", count: 1000).utf8))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: setup.targetDirectory + "/agent.bin")[.posixPermissions] as? Int)
        #expect(mode & 0o111 == 0)
        #expect(readBytes(setup.metadata + "/releases.json") == readBytes(setup.directory + "/repo/before/metadata/1.releases.json"))
        // A second run finds the files up to date and downloads nothing.
        let before = setup.server.requests.filter { $0.hasPrefix("/targets/") }.count
        let again = try setup.agent(["download"], targets: names)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("up to date"), "\(again.output)")
        #expect(setup.server.requests.filter { $0.hasPrefix("/targets/") }.count == before)
        // A file that is not the target any more is fetched again.
        try writeBytes(Array("tampered".utf8), setup.targetDirectory + "/agent.bin")
        let repaired = try setup.agent(["download"], targets: names)
        #expect(repaired.status == 0, "\(repaired.output)")
        #expect(readBytes(setup.targetDirectory + "/agent.bin")?.count == 12000)
        #expect(setup.server.requests.filter { $0.hasPrefix("/targets/") }.count == before + 1)
    }

    @Test func everyFailureExitsOneWithItsKindAndUsageSixtyFour() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let missing = try setup.agent(["download"], targets: ["nope.bin"])
        #expect(missing.status == 1, "\(missing.output)")
        #expect(missing.output.contains("tuf: unknown target: "), "\(missing.output)")
        let usage = try runAgent(["tuf", "--metadata-dir", setup.metadata, "refresh"])
        #expect(usage.status == 64, "\(usage.output)")
        #expect(usage.output.contains("tuf: usage: "), "\(usage.output)")
        let unreachable = try runAgent(["tuf", "--metadata-url", "http://127.0.0.1:1/metadata/", "--metadata-dir",
                                        setup.metadata, "refresh"])
        #expect(unreachable.status == 1, "\(unreachable.output)")
        #expect(unreachable.output.contains("tuf: network: "), "\(unreachable.output)")
        let unpinned = try runAgent(["tuf", "--metadata-url", setup.server.base + "/metadata/", "--metadata-dir",
                                     setup.directory + "/nothing-pinned", "refresh"])
        #expect(unpinned.status == 1, "\(unpinned.output)")
        #expect(unpinned.output.contains("tuf: storage: "), "\(unpinned.output)")
        // Pinning something that is not a self-signed root over the trusted one is refused.
        try writeBytes(Array("{}".utf8), setup.directory + "/other-root.json")
        let repin = try runAgent(["tuf", "--metadata-dir", setup.metadata, "init", setup.directory + "/other-root.json"])
        #expect(repin.status == 1, "\(repin.output)")
        #expect(repin.output.contains("tuf: verification: "), "\(repin.output)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime"), "needs faketime"))
    func expiryFollowsTheSystemClock() throws {
        let setup = try Setup(attack: "none")
        try setup.trustBefore()
        let trusted = Self.trustedFiles(setup.metadata)
        // The repository's metadata expires in 30 days; 400 days on, root itself has expired.
        let late = try setup.agent(["refresh"], prefix: ["faketime", "-f", "+400d"])
        #expect(late.status == 1, "\(late.output)")
        #expect(late.output.contains("expired"), "\(late.output)")
        #expect(Self.trustedFiles(setup.metadata) == trusted)
        let now = try setup.agent(["refresh"])
        #expect(now.status == 0, "\(now.output)")
    }
}
