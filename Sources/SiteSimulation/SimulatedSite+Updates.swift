import CryptoEVP
import Foundation
import Gateway
import Hardware
import JSON

/// The update server of a simulated site, and what each Pi needs to take releases from it.
public struct UpdateServerSetup: Sendable {
    public var httpPort: UInt16
    /// The CoAP/DTLS push endpoint; nil runs the server with `--no-push` and the agents poll only.
    public var coapPort: UInt16?
    /// How often the agents check in (no jitter in the simulation, so runs are repeatable).
    public var pollIntervalSeconds: Int
    /// The factory release every Pi runs at first (the built agent, committed in its slot).
    public var factoryVersion: String
    /// Serve HTTPS with a certificate from a CA made for the site (openssl); the agents and the
    /// operator's CLI trust that CA. Off, everything speaks plain HTTP on loopback, and the agents
    /// say so with `insecure_http = true`.
    public var tls = false
    /// With `tls`: a CA file the agents trust instead of the site's (a wrong one, to see them refuse).
    public var agentCAFile: String?
    /// Environment added to the update server's process (e.g. libfaketime, to sign with a wrong clock).
    public var serverEnvironment: [String: String] = [:]
    /// Per Pi: environment added to its agent's processes, and TOML appended to its config.
    public var agentEnvironment: [String: [String: String]] = [:]
    public var agentConfig: [String: String] = [:]

    public init(httpPort: UInt16, coapPort: UInt16? = nil, pollIntervalSeconds: Int = 2, factoryVersion: String = "0.1.0") {
        self.httpPort = httpPort
        self.coapPort = coapPort
        self.pollIntervalSeconds = pollIntervalSeconds
        self.factoryVersion = factoryVersion
    }
}

/// The device group every simulated Pi belongs to on the update server.
public let simulatedUpdateGroup = "site"

extension SimulatedSite {
    public var updateDataDirectory: String { workDirectory + "/updates" }
    public var operatorTokenPath: String { workDirectory + "/keys/ops.token" }
    public var updateServerURL: String { "\(updates?.tls == true ? "https" : "http")://127.0.0.1:\(updates?.httpPort ?? 0)" }
    private var credentialsDirectory: String { workDirectory + "/keys/updates" }
    /// The site's update CA and the server's certificate and key, with `tls`.
    public var updateCAFile: String { workDirectory + "/keys/tls/update-ca.pem" }
    private var tlsDirectory: String { workDirectory + "/keys/tls" }

    /// A CA and a server certificate for 127.0.0.1 signed by it, as docs/update-server.md makes them.
    func makeUpdateServerCertificate() throws {
        try FileManager.default.createDirectory(atPath: tlsDirectory, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        let dir = tlsDirectory
        try run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                          "-subj", "/CN=nanoedge simulated update CA", "-keyout", dir + "/update-ca.key", "-out", dir + "/update-ca.pem"])
        try run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                          "-keyout", dir + "/update-server.key", "-out", dir + "/update-server.csr"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: dir + "/server.ext", atomically: true, encoding: .utf8)
        try run(openssl, ["x509", "-req", "-in", dir + "/update-server.csr", "-CA", dir + "/update-ca.pem",
                          "-CAkey", dir + "/update-ca.key", "-CAcreateserial", "-days", "30",
                          "-extfile", dir + "/server.ext", "-out", dir + "/update-server.crt"])
    }

    /// Keys, the server, the Pis' enrolment, their pinned TUF root and their factory release.
    func provisionUpdates() throws {
        guard let updates else { return }
        try tool("keys", "init", "--repo", updateDataDirectory + "/repository")
        try tool("update-server", "token", "create", "ops", "--data", updateDataDirectory, "--out", operatorTokenPath)
        if updates.tls { try makeUpdateServerCertificate() }
        try startUpdateServer()
        try admin("devices", "group", "add", simulatedUpdateGroup)
        let factory = try factoryTargetInfo(version: updates.factoryVersion)
        for pi in Self.pis {
            try admin("devices", "add", pi.id, "--board", boardName, "--group", simulatedUpdateGroup,
                      "--out-dir", credentialsDirectory)
            let state = workDirectory + "/state/\(pi.id)"
            try run(agentBinary, ["tuf", "--metadata-dir", state + "/tuf", "init",
                                  updateDataDirectory + "/repository/metadata/root.json"])
            // The factory image: the packaged agent installed and committed once at provisioning.
            let slots = ["update", "--state-dir", state, "--board", boardName]
            try run(agentBinary, slots + ["install", "--target-info", factory, "--artifact", agentBinary])
            try run(agentBinary, slots + ["commit"])
            var config = agentConfig(pi)
            config += """

                [updates]
                server = "\(updateServerURL)"
                token_file = "keys/updates/\(pi.id).token"
                poll_interval_s = \(updates.pollIntervalSeconds)
                poll_jitter_s = 0
                \(updates.tls ? "ca = \"\(updates.agentCAFile ?? updateCAFile)\"" : "insecure_http = true  # plain HTTP on loopback")

                """
            if let coap = updates.coapPort {
                config += "push_uri = \"coaps://127.0.0.1:\(coap)\"\npush_psk_file = \"keys/updates/\(pi.id).psk\"\n"
            }
            config += updates.agentConfig[pi.id].map { "\n" + $0 + "\n" } ?? ""
            try config.write(toFile: workDirectory + "/\(pi.id).toml", atomically: true, encoding: .utf8)
        }
    }

    /// The TUF-style target description of the packaged agent, for the updater's `install`.
    private func factoryTargetInfo(version: String) throws -> String {
        guard let bytes = FileManager.default.contents(atPath: agentBinary) else {
            throw SimulationError("cannot read \(agentBinary)")
        }
        let info: JSON = [
            "name": .string("nanoedge-agent-\(version)"), "length": .int(Int64(bytes.count)),
            "hashes": ["sha256": .string(Hex.encode(Digest.hash(.sha256, [UInt8](bytes))))],
            "custom": ["kind": "binary", "name": "nanoedge-agent", "version": .string(version),
                       "boards": .array(releaseBoards.map { .string($0) }),
                       "security_counter": 0, "health": ["window_seconds": 1, "attempts": 2]],
        ]
        let path = workDirectory + "/factory-target.json"
        try info.serialized().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    public func startUpdateServer() throws {
        guard let updates, updateServer == nil else { return }
        try refuseAfterShutdown()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/nanoedge")
        process.arguments = ["update-server", "--data", updateDataDirectory, "--http", "127.0.0.1:\(updates.httpPort)",
                             "--admin-http", "off", "--boards", boardsDirectory]
            + (updates.coapPort.map { ["--coap", "127.0.0.1:\($0)"] } ?? ["--no-push"])
            + (updates.tls ? ["--tls-cert", tlsDirectory + "/update-server.crt", "--tls-key", tlsDirectory + "/update-server.key"] : [])
        if !updates.serverEnvironment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(updates.serverEnvironment) { $1 }
        }
        process.standardOutput = try logFile("update-server")
        process.standardError = process.standardOutput
        try process.run()
        updateServer = process
        try waitFor("the update server", timeout: 20) { (try? self.admin("release", "list")) != nil }
    }

    public func stopUpdateServer() {
        stop(updateServer)
        updateServer = nil
    }

    // MARK: Releases and rollouts (through the operator's CLI)

    /// The boards a release of the Pis' agent names: the simulated board, and the real boards of the
    /// same architecture (every 64-bit Pi for an aarch64 agent; none for the host's), so the update
    /// server checks the artifact against them too and the release is the one a Pi would take.
    public var releaseBoards: [String] {
        guard let architecture = try? BoardProfile.load(name: boardName, searchPaths: [boardsDirectory]).architecture else {
            return [boardName]
        }
        let real = BoardProfile.available(in: [boardsDirectory]).filter { name in
            guard let profile = try? BoardProfile.load(name: name, searchPaths: [boardsDirectory]) else { return false }
            return !profile.simulated && profile.architecture == architecture
        }
        return [boardName] + real
    }

    /// Uploads `artifact` as release `nanoedge-agent` `version` for `releaseBoards`; returns the target name.
    @discardableResult
    public func publishAgent(_ artifact: String, version: String, healthWindowSeconds: Int = 1,
                             healthAttempts: Int = 2) throws -> String {
        let answer = try admin(["release", "add", "--kind", "binary", "--name", "nanoedge-agent", "--version", version]
                               + releaseBoards.flatMap { ["--board", $0] }
                               + ["--health-window", "\(healthWindowSeconds)", "--health-attempts", "\(healthAttempts)",
                                  artifact, "--json"])
        guard let target = try JSON.parse(answer)["target"]?.stringValue else {
            throw SimulationError("release add answered without a target: \(answer)")
        }
        return target
    }

    /// Deploys `target` to the site's group; returns the deployment id.
    public func deploy(_ target: String, waves: String, maxFailures: String = "0") throws -> Int64 {
        let answer = try admin("deploy", "create", target, "--group", simulatedUpdateGroup, "--waves", waves,
                               "--max-failures", maxFailures, "--json")
        guard let id = try JSON.parse(answer)["id"]?.intValue else {
            throw SimulationError("deploy create answered without an id: \(answer)")
        }
        return id
    }

    /// One deployment with its devices (`nanoedge deploy status ID --json`).
    public func deployment(_ id: Int64) throws -> JSON {
        try JSON.parse(try admin("deploy", "status", "\(id)", "--json"))
    }

    /// The update server's devices: id → what they last checked in with.
    public func updateServerDevices() throws -> [String: JSON] {
        var devices: [String: JSON] = [:]
        for device in try JSON.parse(try admin("devices", "--json")).arrayValue ?? [] {
            if let id = device["id"]?.stringValue { devices[id] = device }
        }
        return devices
    }

    /// The version each Pi last registered with at the gateway.
    public func registeredVersions() throws -> [String: String] {
        let store = try SiteStore(path: databasePath, readOnly: true)
        var versions: [String: String] = [:]
        for pi in Self.pis { versions[pi.id] = try store.device(id: pi.id)?.version }
        return versions
    }

    /// The updater's state of one Pi (`state.json`), read without taking the updater's lock.
    public func updaterState(_ id: String) throws -> JSON {
        let path = workDirectory + "/state/\(id)/updater/state.json"
        guard let bytes = FileManager.default.contents(atPath: path) else { throw SimulationError("cannot read \(path)") }
        return try JSON.parse([UInt8](bytes))
    }

    /// The Pis' agent with bytes appended (ELF ignores trailing bytes), so the release's hash
    /// differs from the factory one; its version comes from the signed target, not the binary.
    public func makeAgentRelease(version: String) throws -> String {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: agentBinary))
        bytes.append(Data("\nnanoedge-agent release \(version)\n".utf8))
        let path = workDirectory + "/releases/nanoedge-agent-\(version)"
        try FileManager.default.createDirectory(atPath: workDirectory + "/releases", withIntermediateDirectories: true)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A release that cannot run: an ELF executable for the agent's architecture that exits 1 at once.
    public func makeBrokenRelease(version: String) throws -> String {
        guard let architecture = try Executables.architecture(of: agentBinary) else {
            throw SimulationError("\(agentBinary) is not an ELF executable")
        }
        let path = workDirectory + "/releases/broken-\(version)"
        try FileManager.default.createDirectory(atPath: workDirectory + "/releases", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data(try Executables.exitingELF(architecture: architecture)),
                                             attributes: [.posixPermissions: 0o755]) else {
            throw SimulationError("cannot write \(path)")
        }
        return path
    }

    // MARK: Running the tools

    @discardableResult
    func admin(_ arguments: String...) throws -> String { try admin(arguments) }

    @discardableResult
    func admin(_ arguments: [String]) throws -> String {
        // NANOEDGE_CA, not --ca: `devices` (the listing) takes the server options one by one.
        try run(binDirectory + "/nanoedge", arguments + ["--server", updateServerURL, "--token-file", operatorTokenPath],
                environment: updates?.tls == true ? ["NANOEDGE_CA": updateCAFile] : [:])
    }

    @discardableResult
    func tool(_ arguments: String...) throws -> String {
        try run(binDirectory + "/nanoedge", arguments)
    }

    /// Runs a tool to its end; its output, or an error with its stderr.
    @discardableResult
    func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        try refuseAfterShutdown()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SimulationError("\((executable as NSString).lastPathComponent) \(arguments.prefix(3).joined(separator: " ")) "
                + "exited \(process.terminationStatus): \(String(decoding: err, as: UTF8.self))")
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Runs one Pi's agent the way `ota/nanoedge-agent.service` does: `update boot` (the installed
/// binary's bookkeeping), then the slot's binary, restarted after a short delay whenever it exits.
final class AgentSupervisor: @unchecked Sendable {
    let id: String
    let installedBinary: String
    let configPath: String
    let stateDirectory: String
    let log: FileHandle
    /// The whole environment of the agent's processes; nil inherits this process's.
    let environment: [String: String]?
    /// The site's: once tripped, no agent is started or restarted.
    let shutdown: ShutdownLatch
    private let lock = NSLock()
    private var process: Process?
    /// `update boot` while it runs, so that `stop()` does not leave it behind.
    private var boot: Process?
    private var stopping = false

    init(id: String, installedBinary: String, configPath: String, stateDirectory: String, log: FileHandle,
         environment: [String: String] = [:], shutdown: ShutdownLatch = ShutdownLatch()) {
        self.id = id
        self.shutdown = shutdown
        self.environment = environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.installedBinary = installedBinary
        self.configPath = configPath
        self.stateDirectory = stateDirectory
        self.log = log
    }

    var processID: Int32? { lock.withLock { process?.processIdentifier } }

    func start() { launch() }

    func stop() {
        let (running, booting): (Process?, Process?) = lock.withLock {
            stopping = true
            return (process, boot)
        }
        for running in [booting, running].compactMap({ $0 }) where running.isRunning {
            running.terminate()
            let deadline = Date().addingTimeInterval(5)
            while running.isRunning && Date() < deadline { usleep(10_000) }
            if running.isRunning { kill(running.processIdentifier, SIGKILL) }
            running.waitUntilExit()
        }
    }

    private var halted: Bool { lock.withLock { stopping } || shutdown.isSet }

    private func launch() {
        guard !halted else { return }
        // ExecStartPre: count a trial start, roll back after too many.
        let boot = Process()
        boot.executableURL = URL(fileURLWithPath: installedBinary)
        boot.arguments = ["update", "--config", configPath, "boot"]
        boot.environment = environment
        boot.standardOutput = log
        boot.standardError = log
        let started: Bool = lock.withLock {
            guard !stopping, !shutdown.isSet, (try? boot.run()) != nil else { return false }
            self.boot = boot
            return true
        }
        if started {
            boot.waitUntilExit()
            lock.withLock { self.boot = nil }
        }
        let slotBinary = stateDirectory + "/current/nanoedge-agent"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: slotBinary)
                                  ? slotBinary : installedBinary)
        agent.arguments = ["--config", configPath]
        agent.environment = environment
        agent.standardOutput = log
        agent.standardError = log
        agent.terminationHandler = { [weak self] _ in
            guard let self else { return }
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) { self.launch() }
        }
        lock.lock()
        defer { lock.unlock() }
        guard !stopping, !shutdown.isSet else { return }
        do {
            try agent.run()
            process = agent
        } catch {
            log.write(Data("supervisor: cannot start \(agent.executableURL?.path ?? "?"): \(error)\n".utf8))
        }
    }
}
