import Foundation
import JSON
import SiteSimulation
import Testing

/// Builds a simulated site that also runs an update server; its Pis run the factory release 0.1.0.
func makeUpdatingSite(_ name: String, agent: AgentBinary = .native,
                      configure: (inout UpdateServerSetup, String) throws -> Void = { _, _ in }) throws -> SimulatedSite {
    let site = try unprovisionedSite(name, agent: agent, port: UInt16.random(in: 41_000...45_000), scanWindow: 800)
    var updates = UpdateServerSetup(httpPort: UInt16.random(in: 45_001...48_000),
                                    coapPort: UInt16.random(in: 48_001...50_000), pollIntervalSeconds: 2)
    try configure(&updates, site.workDirectory)
    site.updates = updates
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

    /// The update server speaks HTTPS with a certificate from the site's own CA; the agents trust
    /// that CA (`[updates] ca`) and take a release over it: check-in, TUF metadata and the target.
    @Test func anAgentUpdatesOverHTTPSWithThePinnedSiteCA() throws {
        let site = try makeUpdatingSite("ota-tls") { updates, _ in updates.tls = true }
        defer { site.stopAll() }
        try site.start()
        let base = site.updateServerURL
        #expect(base.hasPrefix("https://"))
        #expect(try Self.curl(["--cacert", site.updateCAFile, base + "/health"]) == (0, "ok\n"))
        #expect(try Self.curl([base + "/health"]).status == 60, "curl without the site CA refuses the certificate")
        #expect(try Self.curl([base.replacingOccurrences(of: "https://", with: "http://") + "/health"]).status != 0,
                "the port speaks no plain HTTP")
        try site.waitFor("the factory release checked in over HTTPS", timeout: 30) {
            try site.updateServerDevices().values.allSatisfy { $0["version"]?.stringValue == "0.1.0" }
        }
        let release = try site.publishAgent(try site.makeAgentRelease(version: "0.2.0"), version: "0.2.0")
        let deployment = try site.deploy(release, waves: "1")
        try site.waitFor("deployment \(deployment) to complete over HTTPS", timeout: 90) {
            try site.deployment(deployment)["status"]?.stringValue == "completed"
        }
        try site.waitFor("every Pi on 0.2.0", timeout: 30) {
            try site.registeredVersions().values.allSatisfy { $0 == "0.2.0" }
        }
        for id in SimulatedSite.pis.map(\.id) {
            #expect(try site.updaterState(id)["committed"]?["target"]?["custom"]?["version"]?.stringValue == "0.2.0")
        }
    }

    /// An agent whose configured CA did not sign the server's certificate never sends its token and
    /// says why in its log.
    @Test func anAgentRefusesAServerItsCADoesNotSign() throws {
        // Outside the site's directory, which provisioning starts afresh.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nanoedge-other-ca-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let site = try makeUpdatingSite("ota-wrong-ca") { updates, _ in
            updates.tls = true
            let other = directory + "/other-ca.pem"
            let made = try Self.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                                         "-nodes", "-days", "30", "-subj", "/CN=some other CA",
                                                         "-keyout", directory + "/other-ca.key", "-out", other])
            try #require(made.status == 0, "\(made.output)")
            updates.agentCAFile = other
        }
        defer { site.stopAll() }
        let id = try #require(SimulatedSite.pis.first?.id)
        let log = site.workDirectory + "/\(id).log"
        do {
            try site.start()
        } catch {
            Issue.record("\(error)\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            throw error
        }
        try site.waitFor("the agent to refuse the server's certificate", timeout: 30) {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("the server's certificate is not trusted") == true
        }
        #expect(try site.updateServerDevices().values.allSatisfy { $0["last_seen"]?.intValue == nil }, "no device got through")
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func curl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try run("/usr/bin/curl", ["-s", "--max-time", "5"] + arguments)
        return result
    }
}
