import ArgumentParser
import Foundation
import Gateway
import Site
import SiteSimulation

/// `nanoedge demo`: the embedded default site, end to end, with real processes over loopback DTLS.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a simulated site: a gateway and three Pis carry a known and an unknown visitor.")

    @Option(help: "Work directory for keys, configs, the site database and logs (recreated).")
    var work = ".demo"

    @Option(help: "UDP port for the gateway's DTLS endpoint.")
    var port: UInt16 = 55684

    @Option(name: .customLong("scan-window-ms"), help: "BLE scan window in milliseconds.")
    var scanWindowMilliseconds = 3000

    @Option(help: "Directory with the board profiles (default: ./boards, or next to the binaries).")
    var boards: String?

    func run() throws {
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().path
        let boardsDirectory = try boards ?? locateBoards(binaries: binaries)
        let work = URL(fileURLWithPath: self.work).standardizedFileURL.path
        let site = SimulatedSite(workDirectory: work, binDirectory: binaries, boardsDirectory: boardsDirectory,
                                 port: port, scanWindowMilliseconds: scanWindowMilliseconds)
        say("provisioning: site key, a DTLS PSK per device, registry with 2 invited persons and 1 meeting")
        try site.provision()
        say("starting the gateway on coaps://127.0.0.1:\(port) and 3 simulated Pis: "
            + SimulatedSite.pis.map { "\($0.id) (\($0.roles.map(\.rawValue).joined(separator: "+")))" }.joined(separator: ", "))
        defer { site.stopAll() }
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
        emit("demo: ok — \(visits.count) visits, \(presented) PRESENTED, \(refused) NOT AUTHENTICATED")
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
        FileHandle.standardError.write(Data("demo: FAILED — \(message)\n".utf8))
        return ExitCode.failure
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
