import Foundation
import JSON
import Testing

/// `nanoedge keys init` / `keys rotate`, checked by python-tuf's client.
@Suite(.serialized) struct ReleaseKeysCLITests {
    let directory: CLIFixture.TemporaryDirectory

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
    }

    /// python-tuf's client pinned to 1.root.json reads the repository; returns its summary.
    private func pythonClient(_ repo: String) throws -> JSON {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", CLIFixture.packageRoot.path + "/Tests/TUFTests/python/tuf_helper.py", "client",
                             "--repo", repo, "--root", repo + "/metadata/1.root.json", "--work", directory.path + "/py"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(String(decoding: data, as: UTF8.self))")
        return try JSON.parse(Array(data))
    }

    @Test func keyCeremonyAndRotationsVerifyInPythonTUF() throws {
        let repo = directory.path + "/repo"
        setenv("NANOEDGE_TEST_KEY_PASSPHRASE", "ceremony passphrase", 1)
        let passphrase = ["--passphrase-env", "NANOEDGE_TEST_KEY_PASSPHRASE"]
        let created = try CLIFixture.succeed(["keys", "init", "--repo", repo, "--threshold", "root=2",
                                              "--key-type", "ecdsa"] + passphrase)
        #expect(created.stdout.contains("root: threshold 2 of 2"))
        let keyFiles = try FileManager.default.contentsOfDirectory(atPath: repo + "/keys").filter { $0.hasSuffix(".pem") }
        #expect(keyFiles.count == 5)
        for file in keyFiles {
            let path = repo + "/keys/" + file
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
            #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        }
        #expect(try pythonClient(repo)["root_version"] == 1)

        try CLIFixture.succeed(["keys", "rotate", "--repo", repo, "--role", "targets"] + passphrase)
        try CLIFixture.succeed(["keys", "rotate", "--repo", repo, "--role", "root"] + passphrase)
        let summary = try pythonClient(repo)
        #expect(summary["root_version"] == 3)
        #expect(summary["targets_version"] == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/keys/retired").count == 3)

        // Without the passphrase nothing changes.
        let refused = try CLIFixture.run(["keys", "rotate", "--repo", repo, "--role", "root"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("encrypted: give its passphrase"))
        #expect(!FileManager.default.fileExists(atPath: repo + "/metadata/4.root.json"))
        // A second init on the same repository is refused.
        let again = try CLIFixture.run(["keys", "init", "--repo", repo])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds a repository"))
    }
}
