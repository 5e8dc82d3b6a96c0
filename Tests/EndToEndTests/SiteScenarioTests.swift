import Foundation
import Gateway
import Site
import SiteSimulation
import Testing

/// Where the built binaries and the board profiles are.
enum Paths {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static var binaries: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        if FileManager.default.isExecutableFile(atPath: besideTests + "/nanoedge-agent") { return besideTests }
        return repository + "/.build/debug"
    }
    static let boards = repository + "/boards"
}

func makeSite(_ name: String, agent: AgentBinary = .native, scanWindow: Int = 800) throws -> SimulatedSite {
    let site = try unprovisionedSite(name, agent: agent, port: UInt16.random(in: 41_000...50_000), scanWindow: scanWindow)
    try site.provision()
    return site
}

/// A site in a work directory of its own, with the gateway's binaries checked to be built.
func unprovisionedSite(_ name: String, agent: AgentBinary, port: UInt16, scanWindow: Int) throws -> SimulatedSite {
    let work = NSTemporaryDirectory() + "nanoedge-e2e-\(name)-\(agent.name)-\(getpid())"
    let site = SimulatedSite(workDirectory: work, binDirectory: Paths.binaries, agentBinary: try agent.path(),
                             boardsDirectory: Paths.boards, port: port, scanWindowMilliseconds: scanWindow)
    for binary in [site.binDirectory + "/nanoedge", site.agentBinary] where !FileManager.default.isExecutableFile(atPath: binary) {
        throw SimulationError("\(binary) is not built: run `swift build` first")
    }
    return site
}

/// Real gateway and agent processes over loopback DTLS, driven through the simulated boards.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SiteScenarioTests {
    @Test(arguments: AgentBinary.all)
    func knownVisitorIsGuidedAndPresentedUnknownVisitorIsNot(agent: AgentBinary) throws {
        let site = try makeSite("scenario", agent: agent)
        defer { site.stopAll() }
        try site.start()

        let known = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        #expect(known.statuses == ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED", "GUIDED", "PRESENTED"])
        #expect(known.ledsWhileGuided.contains("=1"), "corridor LEDs are on while guiding: \(known.ledsWhileGuided)")
        #expect(!known.ledsAfterArrival.contains("=1"), "corridor LEDs are off after arrival: \(known.ledsAfterArrival)")
        #expect(known.display == "presented Weekly sync")
        let content = try site.board("room-1").send("display content")
        #expect(content.hasPrefix("Weekly sync"))
        #expect(content.utf8.count > 1024, "content large enough to need block-wise transfer")

        let unknown = try site.runVisitor(address: SimulatedSite.strangerAddress)
        #expect(unknown.statuses == ["INIT", "DETECTED", "SCANNED", "NOT AUTHENTICATED"])
        let history = try site.board("corridor-1").send("led-history")
        #expect(history.isEmpty, "no LED lights for an unknown visitor: \(history)")
    }

    @Test(arguments: AgentBinary.all)
    func eventsRaisedDuringAGatewayOutageAreRecordedOnceInOrder(agent: AgentBinary) throws {
        let site = try makeSite("outage", agent: agent)
        defer { site.stopAll() }
        try site.start()
        let store = try SiteStore(path: site.databasePath, readOnly: true)
        let before = try store.deviceEvents(device: "entrance-1", kind: "motion").count

        site.stopGateway()
        let entrance = site.board("entrance-1")
        for _ in 0..<100 {
            _ = try entrance.send("pir pulse 5")
            usleep(15_000)
        }
        try site.startGateway()

        try site.waitFor("200 motion events at the gateway", timeout: 60) {
            try store.deviceEvents(device: "entrance-1", kind: "motion").count >= before + 200
        }
        usleep(500_000)  // anything counted twice would arrive now
        let motion = try store.deviceEvents(device: "entrance-1", kind: "motion").dropFirst(before)
        #expect(motion.count == 200)
        let starts = motion.filter { $0.body.contains("\"state\":\"start\"") }
        #expect(starts.count == 100)
        let all = try store.deviceEvents(device: "entrance-1")
        let seqs = all.map(\.seq)
        #expect(seqs == Array(1...Int64(seqs.count)), "every event once, in the agent's order")
        #expect(Set(all.map(\.epoch)).count == 1)
    }

    @Test(arguments: AgentBinary.all)
    func agentWithAMissingBoardProfileSaysWhichAndExits(agent: AgentBinary) throws {
        let site = try makeSite("badboard", agent: agent)
        let config = site.workDirectory + "/entrance-1.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "board = \"\(site.boardName)\"", with: "board = \"rpi9\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: site.agentBinary)
        process.arguments = ["--config", config]
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 78, "EX_CONFIG: \(output)")
        #expect(output.contains("rpi9"))
        #expect(output.contains("sim"), "lists the profiles that exist: \(output)")
    }
}
