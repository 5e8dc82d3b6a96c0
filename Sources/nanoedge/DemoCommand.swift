import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Gateway
import JSON
import Site
import SiteSimulation

/// `nanoedge demo`: the embedded default site, end to end, with real processes over loopback DTLS.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a simulated site: a gateway and three Pis carry a known and an unknown visitor, then take an OTA update and survive a broken one.")

    @Option(help: "Work directory for keys, configs, the site database and logs (recreated).")
    var work = ".demo"

    @Option(help: "UDP port for the gateway's DTLS endpoint.")
    var port: UInt16 = 55684

    @Option(name: .customLong("scan-window-ms"), help: "BLE scan window in milliseconds.")
    var scanWindowMilliseconds = 3000

    @Option(name: .customLong("update-port"), help: "TCP port for the update server's HTTP side.")
    var updatePort: UInt16 = 58080

    @Option(name: .customLong("update-coap-port"), help: "UDP port for the update server's CoAP/DTLS push.")
    var updateCoAPPort: UInt16 = 55685

    @Flag(help: "Run the update server on plain HTTP (agents get insecure_http = true) instead of HTTPS with a CA made for the demo.")
    var insecureHTTP = false

    @Option(help: "Directory with the board profiles (default: ./boards, or next to the binaries).")
    var boards: String?

    @Option(help: ArgumentHelp("The agent the simulated Pis run (default: nanoedge-agent next to this binary). "
        + "An agent for another architecture, such as dist/arm64/nanoedge-agent, runs under qemu-user through "
        + "binfmt_misc; the Pis then use the simulated board of that architecture.", valueName: "path"))
    var agent: String?

    func run() throws {
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().path
        let boardsDirectory = try boards ?? locateBoards(binaries: binaries)
        let work = URL(fileURLWithPath: self.work).standardizedFileURL.path
        let agentBinary = agent.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let site = SimulatedSite(workDirectory: work, binDirectory: binaries, agentBinary: agentBinary,
                                 boardsDirectory: boardsDirectory, port: port, scanWindowMilliseconds: scanWindowMilliseconds)
        var updates = UpdateServerSetup(httpPort: updatePort, coapPort: updateCoAPPort, pollIntervalSeconds: 2)
        updates.tls = !insecureHTTP
        site.updates = updates
        // Provisioning already starts the update server. `terminate()` also takes what the site's
        // bookkeeping no longer holds (an agent's `update boot` mid-run): the demo leaves nothing running.
        stopOnSignals(site)
        defer {
            site.stopAll()
            site.terminate()
        }
        do {
            try run(site, agentBinary: agentBinary)
        } catch {
            // Interrupted: what failed for that reason is no error of the demo's; the signal's thread
            // stops the site and exits with the signal's status.
            if demoInterrupted.isSet { while true { pause() } }
            throw error
        }
    }

    private func run(_ site: SimulatedSite, agentBinary: String?) throws {
        let work = site.workDirectory
        say("provisioning: site key, a DTLS PSK per device, registry with 2 invited persons and 1 meeting; "
            + "update server with TUF keys" + (insecureHTTP ? " on plain HTTP" : " on HTTPS (a CA made for the demo)")
            + ", each Pi enrolled with its root pinned and the factory release 0.1.0 committed")
        try site.provision()
        if let agentBinary {
            say("the Pis run \(agentBinary) on board \(site.boardName)")
        }
        say("starting the gateway on coaps://127.0.0.1:\(port) and 3 simulated Pis: "
            + SimulatedSite.pis.map { "\($0.id) (\($0.roles.map(\.rawValue).joined(separator: "+")))" }.joined(separator: ", "))
        do {
            try site.start()
        } catch {
            throw failure("the site did not come up: \(error) (logs in \(work))")
        }
        let tail = VisitLogTail(path: site.databasePath)
        tail.start()

        say("a known visitor (Alice) walks in")
        let known = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        tail.flush()
        say("corridor LEDs while guiding: \(known.ledsWhileGuided); after arrival: \(known.ledsAfterArrival); room display: \(known.display)")
        say("an unknown visitor walks in")
        let unknown = try site.runVisitor(address: SimulatedSite.strangerAddress)
        tail.flush()
        tail.stop()
        let ota = try runOTA(site)
        site.stopAll()

        let expected = ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED", "GUIDED", "PRESENTED"]
        guard known.statuses == expected else {
            throw failure("the known visitor's log is \(known.statuses.joined(separator: " → "))")
        }
        guard unknown.statuses.last == "NOT AUTHENTICATED" else {
            throw failure("the unknown visitor's log is \(unknown.statuses.joined(separator: " → "))")
        }
        let visits = try SiteStore(path: site.databasePath, readOnly: true).visits()
        let presented = visits.filter { $0.statuses.contains(VisitStatus(.presented)) }.count
        let refused = visits.filter { $0.statuses.contains(.not(.authenticated)) }.count
        emit("demo: ok — \(visits.count) visits, \(presented) PRESENTED, \(refused) NOT AUTHENTICATED; \(ota)")
    }

    // MARK: The OTA act

    /// 0.2.0 in two waves to every Pi, then a broken 0.3.0 that the first wave's Pi rolls back on its
    /// own, halting the rollout before it reaches anyone else. Returns the summary.
    private func runOTA(_ site: SimulatedSite) throws -> String {
        let ids = SimulatedSite.pis.map(\.id).sorted()
        try site.waitFor("the Pis' first check-in", timeout: 30) {
            try site.updateServerDevices().count == ids.count
                && site.updateServerDevices().values.allSatisfy { $0["version"]?.stringValue != nil }
        }
        let watcher = VersionWatcher(site: site)
        say("OTA: every Pi runs \(watcher.describe())")

        let good = try site.publishAgent(try site.makeAgentRelease(version: "0.2.0"), version: "0.2.0")
        say("OTA: released \(good) for \(site.releaseBoards.joined(separator: ", ")) (signed TUF target); "
            + "deploying to group site in waves 1 + rest, max failures 0")
        let first = try site.deploy(good, waves: "1")
        let firstEnd = try follow(site, first, watcher, until: ["completed", "halted"])
        guard firstEnd["status"]?.stringValue == "completed" else {
            throw failure("the 0.2.0 rollout ended \(firstEnd["status"]?.stringValue ?? "?") (logs in \(site.workDirectory))")
        }
        try site.waitFor("every Pi registered with 0.2.0", timeout: 30) {
            try site.registeredVersions().values.allSatisfy { $0 == "0.2.0" }
        }
        watcher.poll()
        say("OTA: rollout \(first) completed — \(watcher.describe())")

        let broken = try site.publishAgent(try site.makeBrokenRelease(version: "0.3.0"), version: "0.3.0")
        say("OTA: released \(broken), a binary that exits 1 at once; deploying in waves 1 + rest, max failures 0")
        let second = try site.deploy(broken, waves: "1", maxFailures: "0")
        let secondEnd = try follow(site, second, watcher, until: ["completed", "halted"])
        guard secondEnd["status"]?.stringValue == "halted" else {
            throw failure("the broken rollout was not halted (\(secondEnd["status"]?.stringValue ?? "?"))")
        }
        let devices = secondEnd["devices"]?.arrayValue ?? []
        let canary = devices.first { $0["outcome"]?.stringValue == "failure" }
        let canaryID = canary?["device"]?.stringValue ?? "?"
        say("OTA: \(canaryID) rolled back on its own: \(canary?["error"]?.stringValue ?? "")")
        say("OTA: rollout halted — \(secondEnd["halt_reason"]?.stringValue ?? "")")
        try site.waitFor("every Pi back on 0.2.0", timeout: 30) {
            try site.registeredVersions().values.allSatisfy { $0 == "0.2.0" }
        }
        watcher.poll()
        let untouched = devices.filter { $0["reached"]?.boolValue == false }.count
        say("OTA: \(watcher.describe()); \(untouched) Pi(s) never received 0.3.0")
        return "OTA: 0.2.0 on \(ids.count)/\(ids.count) Pis in 2 waves, broken 0.3.0 rolled back on \(canaryID), "
            + "rollout halted, \(untouched) Pis never got it"
    }

    /// Prints a deployment's progress and the Pis' versions as they change, until its status is one of `until`.
    private func follow(_ site: SimulatedSite, _ id: Int64, _ watcher: VersionWatcher, until: Set<String>,
                        timeout: TimeInterval = 90) throws -> JSON {
        var last = ""
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let deployment = try site.deployment(id)
            let status = deployment["status"]?.stringValue ?? "?"
            let line = "deployment \(id): \(status), wave \(deployment["wave"]?.intValue ?? 0) of "
                + "\(deployment["waves"]?.intValue ?? 0), \(deployment["reached"]?.intValue ?? 0) reached, "
                + "\(deployment["succeeded"]?.intValue ?? 0) succeeded, \(deployment["failed"]?.intValue ?? 0) failed"
            if line != last {
                say("OTA: " + line)
                last = line
            }
            for change in watcher.poll() { say("OTA:   " + change) }
            if until.contains(status) { return deployment }
            usleep(200_000)
        }
        throw failure("deployment \(id) did not finish within \(Int(timeout)) s (logs in \(site.workDirectory))")
    }

    /// Ctrl-C, a closed terminal or a SIGTERM end the site's processes before the demo: Foundation
    /// starts each in a process group of its own, where the terminal's signal does not reach. A
    /// handler, not SIG_IGN and a dispatch source: the children would inherit SIG_IGN and ignore the
    /// SIGTERM that stops them; a handler is reset at their exec.
    private func stopOnSignals(_ site: SimulatedSite) {
        let pipe = demoSignalPipe
        guard pipe.read >= 0 else { return }
        Thread {
            var number: UInt8 = 0
            while read(pipe.read, &number, 1) != 1 {}
            demoInterrupted.set()
            FileHandle.standardError.write(Data("demo: interrupted — stopping the site's processes\n".utf8))
            site.terminate()
            Glibc.exit(128 + Int32(number))
        }.start()
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(demoSignalPipe.write, &byte, 1)
            }
        }
    }

    private func locateBoards(binaries: String) throws -> String {
        let candidates = [FileManager.default.currentDirectoryPath + "/boards", binaries + "/../../boards",
                          "/usr/share/nanoedge/boards"]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/sim.toml") }) else {
            throw failure("no boards/sim.toml found in \(candidates.joined(separator: ", ")); pass --boards DIR")
        }
        return URL(fileURLWithPath: found).standardizedFileURL.path
    }

    private func say(_ line: String) { emit("demo: \(line)") }

    private func failure(_ message: String) -> Error {
        if !demoInterrupted.isSet {
            FileHandle.standardError.write(Data("demo: FAILED — \(message)\n".utf8))
        }
        return ExitCode.failure
    }
}

/// The demo's signal handler writes the signal's number here (write is async-signal-safe); a thread
/// reads it and stops the site. Close-on-exec: the site's processes do not hold it.
private let demoSignalPipe: (read: Int32, write: Int32) = {
    var fds: [Int32] = [-1, -1]
    // pipe2 is a GNU extension Glibc's module map leaves out.
    guard pipe(&fds) == 0 else { return (-1, -1) }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}()

/// Set once a signal asked the demo to stop.
private let demoInterrupted = InterruptFlag()

final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    func set() { lock.withLock { value = true } }
}

/// The version each Pi registered with at the gateway, and what changed since the last look.
final class VersionWatcher {
    let site: SimulatedSite
    private var versions: [String: String] = [:]

    init(site: SimulatedSite) {
        self.site = site
        _ = poll()
    }

    @discardableResult
    func poll() -> [String] {
        guard let now = try? site.registeredVersions() else { return [] }
        var changes: [String] = []
        for (id, version) in now.sorted(by: { $0.key < $1.key }) where versions[id] != version {
            if versions[id] != nil { changes.append("\(id) registered with the gateway as \(version)") }
            versions[id] = version
        }
        return changes
    }

    func describe() -> String {
        versions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
}

/// Prints the visit log as the gateway writes it.
final class VisitLogTail: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var lastID: Int64 = 0
    private var running = false
    private var thread: Thread?

    init(path: String) { self.path = path }

    func start() {
        running = true
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                flush()
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        self.thread = thread
        thread.start()
    }

    func stop() { lock.withLock { running = false } }

    func flush() {
        lock.lock()
        defer { lock.unlock() }
        guard let store = try? SiteStore(path: path, readOnly: true),
              let entries = try? store.visitLog(after: lastID) else { return }
        for (id, entry) in entries {
            lastID = id
            let detail = entry.detail.isEmpty ? "" : "  \(entry.detail)"
            emit("  \(Timestamp.iso8601(entry.at))  visit \(entry.visit)  \(entry.status)\(detail)")
        }
    }
}

/// Unbuffered, so the log appears as it happens, also through a pipe.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
