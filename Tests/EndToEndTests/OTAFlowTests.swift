import Foundation
import JSON
import SiteSimulation
import Testing

/// Builds a simulated site that also runs an update server; its Pis run the factory release 0.1.0.
func makeUpdatingSite(_ name: String, agent: AgentBinary = .native) throws -> SimulatedSite {
    let site = try unprovisionedSite(name, agent: agent, port: UInt16.random(in: 41_000...45_000), scanWindow: 800)
    site.updates = UpdateServerSetup(httpPort: UInt16.random(in: 45_001...48_000),
                                     coapPort: UInt16.random(in: 48_001...50_000), pollIntervalSeconds: 2)
    try site.provision()
    return site
}

/// The whole OTA flow over real processes: update server, gateway and three supervised agents.
@Suite(.serialized, .timeLimit(.minutes(4))) struct OTAFlowTests {
    @Test(arguments: AgentBinary.all)
    func aReleaseRollsOutInWavesAndABrokenOneRollsBackAndHalts(agent: AgentBinary) throws {
        let site = try makeUpdatingSite("ota", agent: agent)
        defer { site.stopAll() }
        try site.start()
        let ids = SimulatedSite.pis.map(\.id).sorted()
        try site.waitFor("the factory release checked in", timeout: 30) {
            try site.updateServerDevices().values.allSatisfy { $0["version"]?.stringValue == "0.1.0" }
        }
        #expect(try site.registeredVersions() == Dictionary(uniqueKeysWithValues: ids.map { ($0, "0.1.0") }))

        if agent.kind == .aarch64 {
            #expect(site.boardName == "sim-aarch64")
            #expect(site.releaseBoards.contains("rpi4b"), "the release is also one for a Pi 4: \(site.releaseBoards)")
            // The server reads the ELF machine: the host's agent is no release for these boards.
            #expect(throws: SimulationError.self) {
                try site.publishAgent(Paths.binaries + "/nanoedge-agent", version: "0.1.9")
            }
        }

        // 0.2.0 to every Pi, one canary first.
        let good = try site.publishAgent(try site.makeAgentRelease(version: "0.2.0"), version: "0.2.0")
        let first = try site.deploy(good, waves: "1")
        try site.waitFor("deployment \(first) to complete", timeout: 90) {
            try site.deployment(first)["status"]?.stringValue == "completed"
        }
        let done = try site.deployment(first)
        #expect(done["succeeded"]?.intValue == 3 && done["failed"]?.intValue == 0 && done["waves"]?.intValue == 2)
        try site.waitFor("every Pi on 0.2.0 at the gateway and the update server", timeout: 30) {
            let checkedIn = try site.updateServerDevices()
            return try site.registeredVersions().values.allSatisfy { $0 == "0.2.0" }
                && ids.allSatisfy { checkedIn[$0]?["version"]?.stringValue == "0.2.0" }
        }
        for id in ids {
            #expect(try site.updaterState(id)["committed"]?["target"]?["custom"]?["version"]?.stringValue == "0.2.0")
        }

        // A broken 0.3.0: the canary rolls back on its own, the rollout halts, nobody else gets it.
        let broken = try site.publishAgent(try site.makeBrokenRelease(version: "0.3.0"), version: "0.3.0")
        let second = try site.deploy(broken, waves: "1", maxFailures: "0")
        try site.waitFor("deployment \(second) to halt", timeout: 90) {
            try site.deployment(second)["status"]?.stringValue == "halted"
        }
        let halted = try site.deployment(second)
        let devices = halted["devices"]?.arrayValue ?? []
        let canary = try #require(devices.first { $0["position"]?.intValue == 0 }?["device"]?.stringValue)
        for device in devices {
            let id = device["device"]?.stringValue ?? ""
            if id == canary {
                #expect(device["outcome"]?.stringValue == "failure")
                #expect(device["error"]?.stringValue?.isEmpty == false)
            } else {
                #expect(device["reached"]?.boolValue == false && device["outcome"]?.stringValue == "pending")
            }
        }
        try site.waitFor("every Pi back on 0.2.0", timeout: 30) {
            try site.registeredVersions().values.allSatisfy { $0 == "0.2.0" }
                && site.updateServerDevices().values.allSatisfy { $0["version"]?.stringValue == "0.2.0" }
        }
        let canaryState = try site.updaterState(canary)
        #expect(canaryState["last_outcome"]?["result"]?.stringValue == "rolled_back")
        #expect(canaryState["last_outcome"]?["version"]?.stringValue == "0.3.0")
        #expect(canaryState["committed"]?["target"]?["custom"]?["version"]?.stringValue == "0.2.0")
        for id in ids where id != canary {
            #expect(try site.updaterState(id)["last_outcome"]?["version"]?.stringValue == "0.2.0",
                    "\(id) never got the broken release")
        }
    }
}
