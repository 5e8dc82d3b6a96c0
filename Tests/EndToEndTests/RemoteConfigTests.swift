import Foundation
import Gateway
import JSON
import Site
import SiteSimulation
import Testing

/// `nanoedge config push` against a running site: the gateway relays, agents verify and apply live.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RemoteConfigTests {
    private func reports(_ site: SimulatedSite) throws -> [DeviceConfigReport] {
        try SiteStore(path: site.databasePath, readOnly: true).deviceConfigReports()
    }

    /// The typical gap between LED changes in `led-history` output (`<ms> <name>=<0|1>` lines).
    private func chaseStep(_ history: String) -> Int64? {
        let times = Set(history.split(separator: "\n").compactMap { Int64($0.split(separator: " ").first ?? "") }).sorted()
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }.sorted()
        return gaps.isEmpty ? nil : gaps[gaps.count / 2]
    }

    @Test(arguments: AgentBinary.all)
    func aSignedPushIsAppliedWithoutRestartAndAForgedOneIsRefused(agent: AgentBinary) throws {
        let site = try makeSite("config", agent: agent)
        defer { site.stopAll() }
        try site.start()
        let corridorPID = site.agentProcessID("corridor-1")

        // The default chase steps every 150 ms; slow it to 400 ms.
        let push = try CLIFixture.succeed(["config", "push", "--role", "guidance", "--set", "guidance.chase_step_ms=400",
                                           "--signing-key", site.configSigningKeyPath, "--db", site.databasePath])
        #expect(push.stdout.contains("config guidance v1 stored"))
        try site.waitFor("corridor-1 applies guidance v1") {
            try reports(site).contains { $0.device == "corridor-1" && $0.role == "guidance" && $0.version == 1 && $0.applied }
        }
        #expect(site.agentProcessID("corridor-1") == corridorPID, "applied without a restart")
        #expect(try reports(site).allSatisfy { $0.device == "corridor-1" }, "only guidance devices get it")

        _ = try site.board("corridor-1").send("led-history clear")
        let known = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        #expect(known.statuses.last == "PRESENTED")
        let step = chaseStep(try site.board("corridor-1").send("led-history"))
        #expect(step.map { $0 >= 350 && $0 <= 450 } == true, "chase step after the push: \(String(describing: step)) ms")

        // A key the agents do not pin signs v2: the gateway relays it, the corridor refuses it.
        let forged = site.workDirectory + "/keys/forged.pem"
        try CLIFixture.succeed(["keys", "config-key", "--out", forged])
        try CLIFixture.succeed(["config", "push", "--role", "guidance", "--set", "guidance.chase_step_ms=20",
                                "--signing-key", forged, "--db", site.databasePath])
        try site.waitFor("corridor-1 refuses guidance v2") {
            try reports(site).contains { $0.device == "corridor-1" && $0.version == 2 && !$0.applied }
        }
        let refusal = try #require(try reports(site).first { $0.device == "corridor-1" })
        #expect(refusal.error.contains("signature does not verify"))

        // A presence push reaches both PIR devices, and `config show` reports it.
        try CLIFixture.succeed(["config", "push", "--role", "presence", "--set", "presence.hold_ms=500",
                                "--signing-key", site.configSigningKeyPath, "--db", site.databasePath])
        try site.waitFor("presence devices apply v1") {
            Set(try reports(site).filter { $0.role == "presence" && $0.applied }.map(\.device)) == ["entrance-1", "room-1"]
        }
        let shown = try CLIFixture.succeed(["config", "show", "--db", site.databasePath]).stdout
        #expect(shown.contains("presence v1  presence.hold_ms=500"))
        #expect(shown.contains("corridor-1  guidance v2  REFUSED"))

        // After a restart the corridor keeps the applied v1 pace (re-verified from its state file).
        site.stopAgent("corridor-1")
        try site.startAgent("corridor-1")
        try site.waitFor("corridor-1 back with its board") { (try? site.board("corridor-1").send("leds")) != nil }
        try site.waitUntilRegistered()
        _ = try site.board("corridor-1").send("led-history clear")
        _ = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        let after = chaseStep(try site.board("corridor-1").send("led-history"))
        #expect(after.map { $0 >= 350 && $0 <= 450 } == true, "chase step after a restart: \(String(describing: after)) ms")
    }

    @Test func badPushesAreRefusedByTheToolAndStoreNothing() throws {
        let site = try makeSite("config-bad")
        let db = ["--db", site.databasePath, "--signing-key", site.configSigningKeyPath]
        let outOfRange = try CLIFixture.run(["config", "push", "--role", "guidance", "--set", "guidance.chase_step_ms=5"] + db)
        #expect(outOfRange.status != 0)
        #expect(outOfRange.stderr.contains("guidance.chase_step_ms = 5 is outside 20…10000"))
        let wrongRole = try CLIFixture.run(["config", "push", "--role", "guidance", "--set", "presence.hold_ms=100"] + db)
        #expect(wrongRole.stderr.contains("presence.hold_ms is a presence setting, not a guidance one"))
        let unknown = try CLIFixture.run(["config", "push", "--role", "guidance", "--set", "guidance.speed=3"] + db)
        #expect(unknown.stderr.contains("expected KEY=VALUE with KEY one of"))
        #expect(try SiteStore(path: site.databasePath, readOnly: true).remoteConfigs().isEmpty)
    }
}
