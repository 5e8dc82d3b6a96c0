import JSON
import Testing
@testable import Updater

@Suite struct TargetDescriptionTests {
    private let sha = String(repeating: "ab", count: 32)

    @Test func readsTheReleaseToolingsCustomFields() throws {
        let entry: JSON = [
            "length": 1234, "hashes": ["sha256": .string(sha.uppercased())],
            "custom": ["kind": "binary", "version": "1.4.2-rc.1", "boards": ["rpi4b", "rpi5"], "security_counter": 7,
                       "min_version": "1.2.0", "health": ["window_seconds": 120, "attempts": 5],
                       "file": "nanoedge-agent"],
        ]
        let target = try TargetDescription(json: entry, name: "agent/nanoedge-agent-1.4.2")
        #expect(target.sha256 == sha)
        #expect(target.version == Version("1.4.2-rc.1") && target.version < Version("1.4.2")!)
        #expect(target.boards == ["rpi4b", "rpi5"] && target.securityCounter == 7)
        #expect(target.minimumVersion == Version("1.2.0"))
        #expect(target.health.windowMilliseconds == 120_000 && target.health.maxAttempts == 5)
        #expect(target.fileName == "nanoedge-agent")
        #expect(try TargetDescription(json: target.json) == target)
    }

    @Test func theTUFSeamTakesTheTargetsParts() throws {
        let target = try TargetDescription(name: "apps/app.tar", length: 10, sha256: sha,
                                           custom: ["kind": "oci", "version": "2.0.0", "boards": ["sim"],
                                                    "container": "web", "health": ["probe": ["/bin/true"]]])
        #expect(target.kind == .oci && target.containerName == "web" && target.health.probe == ["/bin/true"])
        #expect(target.fileName == "app.tar")
    }

    /// The update server's `custom` names the release but has no `file`: the slot's file keeps the
    /// release's name, which is what the agent's hand-over and its supervisor start.
    @Test func anUpdateServerReleaseKeepsItsNameInTheSlot() throws {
        var custom: [String: JSON] = ["kind": "binary", "name": "nanoedge-agent", "version": "0.2.0", "boards": ["sim"],
                                      "security_counter": 0, "health": ["window_seconds": 1, "attempts": 2]]
        let target = try TargetDescription(name: "nanoedge-agent-0.2.0", length: 10, sha256: sha, custom: .object(custom))
        #expect(target.fileName == "nanoedge-agent")
        #expect(target.health.windowMilliseconds == 1000 && target.health.maxAttempts == 2)
        custom["name"] = "../agent"
        #expect {
            try TargetDescription(name: "x-1.0.0", length: 10, sha256: sha, custom: .object(custom))
        } throws: { "\($0)".contains("plain file name") }
    }

    @Test(arguments: [
        ("kind", JSON.string("deb"), "neither binary nor oci"),
        ("version", JSON.string("one"), "is not a version"),
        ("boards", JSON.array([1]), "must hold strings"),
        ("file", JSON.string("../escape"), "plain file name"),
        ("container", JSON.string("a b"), "letters, digits"),
    ])
    func badFieldsAreNamed(field: String, value: JSON, message: String) {
        var custom: [String: JSON] = ["kind": "binary", "version": "1.0.0", "boards": ["sim"]]
        custom[field] = value
        #expect {
            try TargetDescription(name: "t", length: 1, sha256: sha, custom: .object(custom))
        } throws: { error in
            (error as? UpdateError)?.code == .invalidTarget && "\(error)".contains(message)
        }
    }

    @Test func aShortDigestIsRefused() {
        #expect {
            try TargetDescription(name: "t", length: 1, sha256: "abc", custom: ["kind": "binary", "version": "1.0.0", "boards": ["sim"]])
        } throws: { ($0 as? UpdateError)?.code == .invalidTarget }
    }
}
