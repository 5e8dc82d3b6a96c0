import Foundation
import JSON
import Testing
@testable import Updater

/// Plays the service manager: `ExecStartPre=nanoedge-agent update boot`, then `ExecStart=current/app`,
/// restarted whenever it exits (systemd's Restart=always), for at most `starts` starts.
private struct Supervisor {
    let stateDir: String

    struct Start {
        var boot: JSON
        var output: String
        var status: Int32
    }

    func run(starts: Int, stopWhen: (JSON) -> Bool = { _ in false }) throws -> [Start] {
        var log: [Start] = []
        for _ in 0..<starts {
            let boot = try Agent.update(stateDir, ["boot"])
            guard boot.status == 0, let report = boot.json else {
                throw ToolFailure(description: "update boot failed: \(boot)")
            }
            let app = Process()
            app.executableURL = URL(fileURLWithPath: stateDir + "/current/app")
            let out = Pipe()
            app.standardOutput = out
            try app.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            app.waitUntilExit()
            log.append(Start(boot: report, output: output, status: app.terminationStatus))
            if stopWhen(report) { break }
        }
        return log
    }
}

struct ToolFailure: Error, CustomStringConvertible {
    var description: String
}

/// A device whose state directory has `version` committed from a script that exits 0 at once.
func provisionThroughCLI(_ dir: String, version: String = "1.0.0") throws {
    let first = try release(dir, version: version, artifact: script(version: version, body: "exit 0"))
    let install = try Agent.update(dir + "/state", ["install", "--target-info", first.info, "--artifact", first.artifact])
    #expect(install.status == 0, "\(install)")
    #expect(try Agent.update(dir + "/state", ["boot"]).status == 0)
    #expect(try Agent.update(dir + "/state", ["commit"]).status == 0)
}

@Suite(.serialized) struct BinaryServiceTests {
    @Test func crashLoopingBinaryIsRolledBackWithinTheAttemptLimit() throws {
        let dir = makeTemporaryDirectory("crashloop")
        defer { removeTree(dir) }
        try provisionThroughCLI(dir)
        let broken = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0", body: "exit 1"),
                                 health: ["window_ms": 200, "attempts": 3, "timeout_ms": 60_000])
        let install = try Agent.update(dir + "/state", ["install", "--target-info", broken.info, "--artifact", broken.artifact])
        #expect(install.status == 0, "\(install)")
        #expect(install.json?["restart"] == true)

        let starts = try Supervisor(stateDir: dir + "/state").run(starts: 6) { $0["outcome"] != nil }
        // Three starts of the new version crash; the fourth start rolls back and runs the old one.
        #expect(starts.count == 4)
        #expect(starts.prefix(3).allSatisfy { $0.output.contains("app 1.1.0 started") && $0.status == 1 })
        #expect(starts.prefix(3).map { $0.boot["trial_attempt"] } == [1, 2, 3])
        let last = try #require(starts.last)
        #expect(last.boot["outcome"]?["result"] == "rolled_back")
        #expect(last.output.contains("app 1.0.0 started"))
        #expect(linkDestination(dir + "/state/current") == "slots/a")
        let status = try Agent.update(dir + "/state", ["status"])
        #expect(status.json?["committed"]?["version"] == "1.0.0")
        #expect(status.json?["last_outcome"]?["result"] == "rolled_back")
    }

    @Test func healthyBinaryCommitsItselfAfterItsWindow() throws {
        let dir = makeTemporaryDirectory("healthy")
        defer { removeTree(dir) }
        try provisionThroughCLI(dir)
        // The new version reports its health twice, a window apart, as the agent does once registered.
        let health = "\"\(Agent.binary)\" update --state-dir \"\(dir)/state\" --board sim health --ok >/dev/null"
        let good = try release(dir, version: "1.1.0",
                               artifact: script(version: "1.1.0", body: "\(health)\nsleep 0.4\n\(health)\nexit 0"),
                               health: ["window_ms": 300, "attempts": 3, "timeout_ms": 60_000])
        #expect(try Agent.update(dir + "/state", ["install", "--target-info", good.info, "--artifact", good.artifact]).status == 0)
        let starts = try Supervisor(stateDir: dir + "/state").run(starts: 1)
        #expect(starts.first?.output.contains("app 1.1.0 started") == true)
        let status = try Agent.update(dir + "/state", ["status"])
        #expect(status.json?["committed"]?["version"] == "1.1.0", "\(status)")
        #expect(status.json?["phase"] == "idle")
        #expect(linkDestination(dir + "/state/current") == "slots/b")
    }

    @Test func failingHealthReportRollsBackAtOnce() throws {
        let dir = makeTemporaryDirectory("unhealthy")
        defer { removeTree(dir) }
        try provisionThroughCLI(dir)
        let next = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0", body: "exit 0"))
        #expect(try Agent.update(dir + "/state", ["install", "--target-info", next.info, "--artifact", next.artifact]).status == 0)
        #expect(try Agent.update(dir + "/state", ["boot"]).json?["running"] == "1.1.0")
        let report = try Agent.update(dir + "/state", ["health", "--failing", "gateway unreachable"])
        #expect(report.status == 3)
        #expect(report.json?["result"] == "rolled_back")
        #expect(linkDestination(dir + "/state/current") == "slots/a")
    }
}

@Suite struct SlotHandOverTests {
    /// The unit starts /usr/bin/nanoedge-agent; it must exec the slot's binary (same pid) so the
    /// release the updater made current is what runs.
    @Test func installedBinaryHandsOverToTheCurrentSlot() throws {
        let dir = makeTemporaryDirectory("handover")
        defer { removeTree(dir) }
        try writeFile(dir + "/psk", Array("00112233445566778899aabbccddeeff\n".utf8), mode: 0o600)
        try writeFile(dir + "/agent.toml", Array("""
            [device]
            id = "d1"
            psk_file = "psk"
            location = "entrance"
            roles = ["presence"]
            board = "sim"
            boards_dir = "\(Agent.packageRoot)/boards"
            state_dir = "state"
            [gateway]
            uri = "coaps://127.0.0.1:9"

            """.utf8))
        let release = try release(dir, version: "2.0.0",
                                  artifact: Array("#!/bin/sh\necho \"slot binary $NANOEDGE_SLOT_EXEC $*\"\n".utf8),
                                  extra: ["file": "nanoedge-agent"])
        let install = try Agent.run(["update", "--config", dir + "/agent.toml", "install",
                                     "--target-info", release.info, "--artifact", release.artifact])
        #expect(install.status == 0, "\(install)")
        let started = try Agent.run(["--config", dir + "/agent.toml", "--exit-when-registered"])
        #expect(started.status == 0, "\(started)")
        #expect(started.stdout == "slot binary \(dir)/state/current/nanoedge-agent --config \(dir)/agent.toml --exit-when-registered\n")
    }
}
