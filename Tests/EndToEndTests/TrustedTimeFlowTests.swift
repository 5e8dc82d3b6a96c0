import Foundation
import JSON
import SiteSimulation
import Testing

/// A Pi has no real-time clock: until NTP answers, its clock is wherever it was left. TUF expiry is
/// checked against a time it can trust instead (docs/tuf.md, "Trustworthy time"). Each case runs one
/// Pi under libfaketime (the wall clock moved, the boot clock true) against a real update server.
@Suite(.serialized, .timeLimit(.minutes(4))) struct TrustedTimeFlowTests {
    /// libfaketime for the agents. libfaketime adds FAKETIME_SHARED to a process's environment when it
    /// is missing, which moves `environ` off the stack where Swift's runtime looks for argv: the agent
    /// would start without its arguments. So one `faketime` process holds the shared state, and every
    /// faked process is handed its FAKETIME_SHARED.
    final class FakeClocks {
        let holder = Process()
        let library: String
        let shared: String

        init() throws {
            library = try #require(try FileManager.default.contentsOfDirectory(atPath: "/usr/lib")
                .map { "/usr/lib/\($0)/faketime/libfaketime.so.1" }
                .first { FileManager.default.fileExists(atPath: $0) },
                "libfaketime is missing: apt-get install faketime (make deps)")
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/faketime")
            holder.arguments = ["-f", "+0", "/bin/sleep", "600"]
            try holder.run()
            var found: String?
            for _ in 0..<100 where found == nil {
                usleep(20_000)
                found = Self.sharedState(under: holder.processIdentifier)
            }
            shared = try #require(found, "faketime did not start its child")
        }

        /// Stops the holder and its child; the shared state goes with them.
        func stop() {
            let parent = holder.processIdentifier
            if let children = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8) {
                for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
            }
            holder.terminate()
            holder.waitUntilExit()
        }

        /// FAKETIME_SHARED from the environment of `parent`'s child.
        static func sharedState(under parent: Int32) -> String? {
            guard let children = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8),
                  let child = children.split(separator: " ").first,
                  let environment = FileManager.default.contents(atPath: "/proc/\(child)/environ") else { return nil }
            return environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                .first { $0.hasPrefix("FAKETIME_SHARED=") }.map { String($0.dropFirst("FAKETIME_SHARED=".count)) }
        }

        /// The environment that moves a process's wall clock by `offset` (`-3650d`, `+14610d`); the
        /// boot and monotonic clocks stay true.
        func environment(_ offset: String) -> [String: String] {
            ["LD_PRELOAD": library, "FAKETIME": offset, "FAKETIME_SHARED": shared, "FAKETIME_DONT_FAKE_MONOTONIC": "1"]
        }
    }

    /// Deploys 0.2.0 to the whole group in one wave; returns the deployment id.
    static func deployToAll(_ site: SimulatedSite) throws -> Int64 {
        try site.waitFor("the factory release checked in", timeout: 30) {
            try site.updateServerDevices().values.allSatisfy { $0["version"]?.stringValue == "0.1.0" }
        }
        let release = try site.publishAgent(try site.makeAgentRelease(version: "0.2.0"), version: "0.2.0")
        return try site.deploy(release, waves: "3", maxFailures: "3")
    }

    /// The version the Pi's updater has committed.
    static func committedVersion(_ site: SimulatedSite, _ id: String) throws -> String? {
        try site.updaterState(id)["committed"]?["target"]?["custom"]?["version"]?.stringValue
    }

    static func agentLog(_ site: SimulatedSite, _ id: String) -> String {
        (try? String(contentsOfFile: site.workDirectory + "/\(id).log", encoding: .utf8)) ?? ""
    }

    /// A freeze attack: the server (or whoever replays its files) hands out metadata that expired a
    /// day ago. The Pi's clock is ten years behind, so by its clock the metadata is fresh; it does not
    /// believe its clock, takes the gateway's time and refuses.
    @Test func aPiWhoseClockIsYearsBehindRefusesMetadataThatExpired() throws {
        let clocks = try FakeClocks()
        defer { clocks.stop() }
        let site = try makeUpdatingSite("time-behind") { updates, _ in
            // Signed two days ago: the one-day timestamp expired yesterday.
            updates.serverEnvironment = clocks.environment("-2d")
            updates.agentEnvironment["entrance-1"] = clocks.environment("-3650d")
            updates.agentConfig["entrance-1"] = "[time]\nsystem_clock = \"never\""
        }
        defer { site.stopAll() }
        try site.start()
        let id = try Self.deployToAll(site)
        try site.waitFor("every Pi to refuse the expired metadata", timeout: 90) {
            let devices = try site.deployment(id)["devices"]?.arrayValue ?? []
            return devices.count == 3 && devices.allSatisfy { $0["outcome"]?.stringValue == "failure" }
        }
        let devices = try site.deployment(id)["devices"]?.arrayValue ?? []
        let behind = try #require(devices.first { $0["device"]?.stringValue == "entrance-1" })
        let error = behind["error"]?.stringValue ?? ""
        #expect(error.contains("expired"), "entrance-1 reported: \(error)")
        #expect(try Self.committedVersion(site, "entrance-1") == "0.1.0")
        #expect(Self.agentLog(site, "entrance-1").contains("TUF expiry checked against the gateway's time"))
    }

    /// No time source at all: no gateway yet, and a clock the agent may not believe (`never` stands for
    /// an unsynchronised one on any host). The update waits and says why, at the Pi and in its check-in;
    /// once the gateway answers, it goes through without another deployment.
    @Test func withoutAnyTrustedTimeTheUpdateWaitsAndSaysWhy() throws {
        let clocks = try FakeClocks()
        defer { clocks.stop() }
        let site = try makeUpdatingSite("time-none") { updates, _ in
            updates.agentEnvironment["entrance-1"] = clocks.environment("-3650d")
            updates.agentConfig["entrance-1"] = "[time]\nsystem_clock = \"never\""
        }
        defer { site.stopAll() }
        try site.startAgent("entrance-1")
        try site.waitFor("the factory release checked in", timeout: 30) {
            try site.updateServerDevices()["entrance-1"]?["version"]?.stringValue == "0.1.0"
        }
        let release = try site.publishAgent(try site.makeAgentRelease(version: "0.2.0"), version: "0.2.0")
        _ = try site.deploy(release, waves: "3", maxFailures: "3")
        try site.waitFor("entrance-1 to report why it waits", timeout: 30) {
            try site.updateServerDevices()["entrance-1"]?["last_error"]?.stringValue?
                .contains("no trustworthy time yet") == true
        }
        let error = try site.updateServerDevices()["entrance-1"]?["last_error"]?.stringValue ?? ""
        #expect(error.contains("the system clock is not trusted ([time] system_clock = \"never\")"), "\(error)")
        #expect(error.contains("the gateway has not given its time"), "\(error)")
        #expect(Self.agentLog(site, "entrance-1").contains("not installing nanoedge-agent-0.2.0 yet"))
        #expect(try Self.committedVersion(site, "entrance-1") == "0.1.0")

        try site.startGateway()
        try site.waitFor("entrance-1 on 0.2.0 once the gateway gave its time", timeout: 90) {
            try Self.committedVersion(site, "entrance-1") == "0.2.0"
        }
        #expect(Self.agentLog(site, "entrance-1").contains("the gateway gave a trustworthy time; checking in again"))
    }

    /// The other way: a clock forty years ahead would find every release expired. The gateway's time
    /// overrules it and the update goes through; the wrong clock never reaches the time floor.
    @Test func aPiWhoseClockIsDecadesAheadStillUpdates() throws {
        let clocks = try FakeClocks()
        defer { clocks.stop() }
        let site = try makeUpdatingSite("time-ahead") { updates, _ in
            updates.agentEnvironment["entrance-1"] = clocks.environment("+14610d")
        }
        defer { site.stopAll() }
        try site.start()
        let id = try Self.deployToAll(site)
        try site.waitFor("deployment \(id) to complete", timeout: 90) {
            try site.deployment(id)["status"]?.stringValue == "completed"
        }
        let done = try site.deployment(id)
        #expect(done["succeeded"]?.intValue == 3 && done["failed"]?.intValue == 0, "\(done)")
        #expect(try Self.committedVersion(site, "entrance-1") == "0.2.0")
        let floor = try String(contentsOfFile: site.workDirectory + "/state/entrance-1/time-floor", encoding: .utf8)
        let floorSeconds = try #require(Int64(floor.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(abs(floorSeconds - Int64(Date().timeIntervalSince1970)) < 3600, "time floor \(floor)")
    }
}
