import CryptoEVP
import Foundation
import Gateway
import Hardware
import SimulatedBoard
import Site

/// A whole simulated site on one machine: a gateway and three agents (entrance, corridor, meeting
/// room), each a real process talking DTLS over loopback, with simulated boards driven through their
/// control sockets. `make demo` and the end-to-end tests both run it.
public final class SimulatedSite: @unchecked Sendable {
    public struct Pi: Sendable {
        public var id: String
        public var location: String
        public var roles: [DeviceRole]
    }

    public static let pis = [
        Pi(id: "entrance-1", location: "entrance", roles: [.presence, .scanner]),
        Pi(id: "corridor-1", location: "corridor", roles: [.guidance]),
        Pi(id: "room-1", location: "room-1", roles: [.presence, .scanner, .display]),
    ]

    /// Two invited persons with their BLE tags, and a stranger's tag.
    public static let visitors: [(person: String, name: String, address: String)] = [
        ("alice", "Alice Martin", "C0:FF:EE:00:00:01"),
        ("bob", "Bob Ito", "C0:FF:EE:00:00:02"),
    ]
    public static let strangerAddress = "DE:AD:BE:EF:00:99"
    public static let meetingID = "weekly-sync"

    public let workDirectory: String
    /// Where `nanoedge` is: the gateway, the update server and the operator's CLI.
    public let binDirectory: String
    /// The agent every Pi runs. It may be built for another architecture than the gateway's: binfmt_misc
    /// and qemu-user run it, and the Pis then take the simulated board of that architecture (`boardName`).
    public let agentBinary: String
    public let boardsDirectory: String
    public let port: UInt16
    public let scanWindowMilliseconds: Int
    /// When set, the gateway also serves its HTTP side (site page, /metrics, export) on this port.
    public var httpPort: UInt16?
    public var databasePath: String { workDirectory + "/site.db" }
    /// The Ed25519 key `nanoedge config push` signs with (its .pub is pinned by every agent).
    public var configSigningKeyPath: String { workDirectory + "/keys/config-signing.pem" }
    /// The board profile the Pis run, chosen by `provision()` from the agent's architecture.
    public private(set) var boardName = "sim"
    /// When set before `provision()`, the site also runs an update server and supervises its agents
    /// like systemd does on a Pi (see SimulatedSite+Updates.swift).
    public var updates: UpdateServerSetup?
    var updateServer: Process?
    var supervisors: [String: AgentSupervisor] = [:]
    /// Tripped by `terminate()`: nothing more starts, and the supervisors stop restarting agents.
    let shutdown = ShutdownLatch()
    private var gateway: Process?
    private var agents: [String: Process] = [:]

    /// `agentBinary` defaults to the `nanoedge-agent` in `binDirectory`.
    public init(workDirectory: String, binDirectory: String, agentBinary: String? = nil, boardsDirectory: String,
                port: UInt16, scanWindowMilliseconds: Int = 3000) {
        self.workDirectory = workDirectory
        self.binDirectory = binDirectory
        self.agentBinary = agentBinary ?? binDirectory + "/nanoedge-agent"
        self.boardsDirectory = boardsDirectory
        self.port = port
        self.scanWindowMilliseconds = scanWindowMilliseconds
    }

    deinit { stopAll() }

    public func socketPath(_ pi: String) -> String { workDirectory + "/\(pi).sock" }
    public func board(_ pi: String) -> SimulatorClient { SimulatorClient(socketPath: socketPath(pi)) }

    // MARK: Provisioning

    /// Creates keys, the registry and the agents' configs in a fresh work directory.
    public func provision(now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws {
        boardName = try simulatedBoard()
        let files = FileManager.default
        try? files.removeItem(atPath: workDirectory)
        try files.createDirectory(atPath: workDirectory + "/keys", withIntermediateDirectories: true,
                                  attributes: [.posixPermissions: 0o700])
        let siteKey = secureRandomBytes(32)
        try writeSecret(Hex.encode(siteKey), to: workDirectory + "/keys/site.key")
        // The operator's config signing key; every agent pins its public half.
        let configKey = try SigningKey.generate(.ed25519)
        try configKey.write(toFile: configSigningKeyPath)
        try writeSecret(Hex.encode(configKey.publicKey.ed25519Raw() ?? []), to: configSigningKeyPath + ".pub")
        let store = try SiteStore(path: databasePath)
        for pi in Self.pis {
            let key = secureRandomBytes(32)
            try store.provisionDevice(id: pi.id, key: key, roles: pi.roles.map(\.rawValue), location: pi.location)
            try writeSecret(Hex.encode(key), to: workDirectory + "/keys/\(pi.id).psk")
            try agentConfig(pi).write(toFile: workDirectory + "/\(pi.id).toml", atomically: true, encoding: .utf8)
        }
        if updates != nil { try provisionUpdates() }
        try store.addRoom(Room(id: "entrance", name: "Entrance", kind: .entrance))
        try store.addRoom(Room(id: "corridor", name: "Corridor", kind: .corridor))
        try store.addRoom(Room(id: "room-1", name: "Meeting room 1", kind: .meeting, guidance: .forward))
        let hasher = TagHasher(siteKey: siteKey)
        for visitor in Self.visitors {
            try store.addPerson(Person(id: visitor.person, name: visitor.name))
            try store.addTag(Tag(id: hasher.tagID(forAddress: visitor.address), person: visitor.person, label: "badge"))
        }
        // Content over 1 KiB, so the display fetches it block-wise.
        let agenda = (1...40).map { "\($0). Agenda item \($0): status, risks and next steps" }.joined(separator: "\n")
        try store.addMeeting(Meeting(id: Self.meetingID, title: "Weekly sync", room: "room-1",
                                     startsAt: now - 10 * 60_000, endsAt: now + 60 * 60_000,
                                     invitees: Self.visitors.map(\.person), content: "Weekly sync\n\n" + agenda))
    }

    /// `sim` for an agent the host runs natively. An agent for another architecture gets the simulated
    /// profile that declares that `arch`, so releases for its boards are checked against what it runs.
    func simulatedBoard() throws -> String {
        guard let architecture = try Executables.architecture(of: agentBinary) else {
            throw SimulationError("\(agentBinary) is not an ELF executable for aarch64, armv7 or x86_64")
        }
        if architecture == Executables.hostArchitecture { return "sim" }
        for name in BoardProfile.available(in: [boardsDirectory]) {
            let profile = try BoardProfile.load(name: name, searchPaths: [boardsDirectory])
            if profile.simulated && profile.architecture == architecture { return name }
        }
        throw SimulationError("\(agentBinary) is built for \(architecture), and \(boardsDirectory) has no simulated "
            + "board profile with arch = \"\(architecture)\"")
    }

    func agentConfig(_ pi: Pi) -> String {
        """
        # \(pi.id): generated by the simulated site
        [device]
        id = "\(pi.id)"
        psk_file = "keys/\(pi.id).psk"
        location = "\(pi.location)"
        roles = [\(pi.roles.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))]
        board = "\(boardName)"
        boards_dir = "\(boardsDirectory)"
        state_dir = "state/\(pi.id)"

        [gateway]
        uri = "coaps://127.0.0.1:\(port)"
        ack_timeout_ms = 500
        max_retransmit = 2
        heartbeat_ms = 1000

        [scanner]
        window_ms = \(scanWindowMilliseconds)
        site_key_file = "keys/site.key"

        [display]
        content_dir = "state/\(pi.id)/content"

        [simulator]
        socket = "\(socketPath(pi.id))"

        [remote_config]
        public_key_file = "keys/config-signing.pem.pub"

        """
    }

    private func writeSecret(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((text + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw SimulationError("cannot write \(path)")
        }
    }

    // MARK: Processes

    public func startGateway() throws {
        try refuseAfterShutdown()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/nanoedge")
        process.arguments = ["gateway", "--db", databasePath, "--listen", "127.0.0.1:\(port)",
                             "--scan-window-ms", "\(scanWindowMilliseconds)", "--quiet"]
            + (httpPort.map { ["--http", "127.0.0.1:\($0)", "--site-key", workDirectory + "/keys/site.key"] } ?? [])
        process.standardOutput = try logFile("gateway")
        process.standardError = process.standardOutput
        try process.run()
        gateway = process
    }

    public func stopGateway() {
        stop(gateway)
        gateway = nil
    }

    public func startAgent(_ id: String) throws {
        try refuseAfterShutdown()
        if updates != nil {
            let supervisor = AgentSupervisor(id: id, installedBinary: agentBinary,
                                             configPath: workDirectory + "/\(id).toml",
                                             stateDirectory: workDirectory + "/state/\(id)", log: try logFile(id),
                                             environment: updates?.agentEnvironment[id] ?? [:], shutdown: shutdown)
            supervisors[id] = supervisor
            supervisor.start()
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = ["--config", workDirectory + "/\(id).toml"]
        process.standardOutput = try logFile(id)
        process.standardError = process.standardOutput
        try process.run()
        agents[id] = process
    }

    /// The running agent's process id, to tell a live change from a restart.
    public func agentProcessID(_ id: String) -> Int32? {
        supervisors[id]?.processID ?? agents[id].map(\.processIdentifier)
    }

    public func stopAgent(_ id: String) {
        supervisors.removeValue(forKey: id)?.stop()
        stop(agents[id])
        agents[id] = nil
    }

    public func startAll() throws {
        try startGateway()
        for pi in Self.pis { try startAgent(pi.id) }
    }

    public func stopAll() {
        for id in Set(agents.keys).union(supervisors.keys).sorted() { stopAgent(id) }
        stopGateway()
        stopUpdateServer()
    }

    /// Ends every process this one started, from any thread (a signal handler's, while the main thread
    /// still drives the site): nothing starts after it, SIGTERM first, SIGKILL after `grace`. Unlike
    /// `stopAll()` it goes by /proc, not by the site's bookkeeping, so it also finds a tool mid-run.
    public func terminate(grace: TimeInterval = 3) {
        shutdown.trip()
        ChildProcesses.terminateAll(grace: grace)
    }

    func refuseAfterShutdown() throws {
        if shutdown.isSet { throw SimulationError("the site is shutting down") }
    }

    /// Waits until every agent registered with the gateway.
    public func waitUntilRegistered(timeout: TimeInterval = 20) throws {
        try waitFor("all agents registered", timeout: timeout) {
            let store = try SiteStore(path: databasePath, readOnly: true)
            let started = gatewayStartedAt
            return try Self.pis.allSatisfy { pi in (try store.device(id: pi.id)?.registeredAt ?? 0) >= started }
        }
    }

    private var gatewayStartedAt: Int64 = 0

    /// Starts everything and waits for the agents to register.
    public func start() throws {
        gatewayStartedAt = Int64(Date().timeIntervalSince1970 * 1000) - 1
        try startAll()
        try waitUntilRegistered()
    }

    func stop(_ process: Process?) {
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func logFile(_ name: String) throws -> FileHandle {
        let path = workDirectory + "/\(name).log"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        return handle
    }

    // MARK: Observing the site

    public func visitLog() throws -> [VisitLogEntry] {
        try SiteStore(path: databasePath, readOnly: true).visitLog(after: 0).map(\.entry)
    }

    public func statuses(ofVisit visit: Int64) throws -> [String] {
        try visitLog().filter { $0.visit == visit }.map(\.status.description)
    }

    public func waitFor(_ what: String, timeout: TimeInterval = 20, poll: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: Error?
        while Date() < deadline {
            do {
                if try poll() { return }
            } catch {
                lastError = error
            }
            usleep(50_000)
        }
        throw SimulationError("timed out after \(Int(timeout)) s waiting for \(what)"
            + (lastError.map { " (last error: \($0))" } ?? ""))
    }

    /// Waits until `visit` has a status in `statuses`; returns that status.
    @discardableResult
    public func waitForStatus(visit: Int64, _ statuses: Set<String>, timeout: TimeInterval = 30) throws -> String {
        var reached = ""
        try waitFor("visit \(visit) to reach \(statuses.sorted().joined(separator: " or "))", timeout: timeout) {
            if let hit = try self.statuses(ofVisit: visit).first(where: statuses.contains) {
                reached = hit
                return true
            }
            return false
        }
        return reached
    }

    public func nextVisitID() throws -> Int64 {
        (try visitLog().map(\.visit).max() ?? 0) + 1
    }

    // MARK: Visitors

    public struct VisitReport: Sendable {
        public var visit: Int64
        public var statuses: [String]
        /// Corridor LEDs while the visitor was being guided, and after they arrived.
        public var ledsWhileGuided: String
        public var ledsAfterArrival: String
        public var display: String
    }

    /// A visitor walks in with `address` in their pocket and, if guided, follows the LEDs to the room.
    public func runVisitor(address: String, timeout: TimeInterval = 30) throws -> VisitReport {
        let visit = try nextVisitID()
        let entrance = board("entrance-1")
        let corridor = board("corridor-1")
        let room = board("room-1")
        _ = try corridor.send("led-history clear")
        _ = try entrance.send("beacon add \(address) -58 badge")
        _ = try entrance.send("pir pulse 200")
        let outcome = try waitForStatus(visit: visit, ["GUIDED", "NOT AUTHENTICATED", "NOT SCANNED", "NOT GUIDED"],
                                        timeout: timeout)
        _ = try entrance.send("beacon remove \(address)")
        var report = VisitReport(visit: visit, statuses: [], ledsWhileGuided: try corridor.send("leds"),
                                 ledsAfterArrival: "", display: "")
        if outcome == "GUIDED" {
            // The visitor follows the chase and walks into the meeting room.
            usleep(300_000)
            _ = try room.send("beacon add \(address) -52 badge")
            _ = try room.send("pir pulse 200")
            try waitForStatus(visit: visit, ["PRESENTED", "NOT PRESENTED"], timeout: timeout)
            _ = try room.send("beacon remove \(address)")
            try waitFor("corridor LEDs off", timeout: 5) { try corridor.send("leds").contains("=1") == false }
        }
        report.ledsAfterArrival = try corridor.send("leds")
        report.display = try room.send("display")
        report.statuses = try statuses(ofVisit: visit)
        return report
    }
}

public struct SimulationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
