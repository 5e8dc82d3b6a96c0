import Foundation
import JSON
import Testing
import UpdateStore

/// A directory under the system temporary directory, removed when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nanoedge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A real PostgreSQL server for the tests, started once per test process in a temporary directory
/// on a free port and stopped when the process exits. As root, it runs as the `postgres` user
/// (initdb refuses root). Each test gets a database of its own.
final class PostgresServer: @unchecked Sendable {
    struct Unavailable: Error, CustomStringConvertible { var description: String }

    let directory: String
    let port: Int
    let binaries: String
    private static let started: Result<PostgresServer, Unavailable> = Result { try PostgresServer() }
        .mapError { $0 as? Unavailable ?? Unavailable(description: "\($0)") }
    private static let counter = NSLock()
    nonisolated(unsafe) private static var databases = 0

    static func shared() throws -> PostgresServer { try started.get() }

    private init() throws {
        guard let bin = PostgresServer.findBinaries() else {
            throw Unavailable(description: "PostgreSQL server binaries not found (initdb, pg_ctl); `make deps` installs postgresql")
        }
        binaries = bin
        directory = "/tmp/nanoedge-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = freeTCPPort()
        if getuid() == 0 {
            _ = try Self.run("/bin/chown", ["postgres:postgres", directory])
        }
        let data = directory + "/data"
        let initdb = try asOwner(bin + "/initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        guard initdb.status == 0 else { throw Unavailable(description: "initdb failed: \(initdb.output)") }
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        let start = try asOwner(bin + "/pg_ctl", ["-D", data, "-o", options, "-l", directory + "/log", "-w", "-t", "60", "start"])
        guard start.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
            throw Unavailable(description: "pg_ctl start failed: \(start.output)\n\(log)")
        }
        atexit { PostgresServer.stopShared() }
    }

    /// A new, empty database; its URL.
    func newDatabase() throws -> String {
        let name = PostgresServer.counter.withLock { () -> String in
            PostgresServer.databases += 1
            return "test_\(getpid())_\(PostgresServer.databases)"
        }
        let result = try Self.run(binaries + "/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres",
                                                      "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE \(name)"])
        guard result.status == 0 else { throw Unavailable(description: "CREATE DATABASE failed: \(result.output)") }
        return "postgres://postgres@127.0.0.1:\(port)/\(name)"
    }

    private static func stopShared() {
        guard case .success(let server) = started else { return }
        _ = try? server.asOwner(server.binaries + "/pg_ctl", ["-D", server.directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: server.directory)
    }

    private func asOwner(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        if getuid() == 0 {
            return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        }
        return try Self.run(tool, arguments)
    }

    /// posix_spawn and waitpid: Foundation's Process can miss the exit of a child that leaves a
    /// daemon behind (pg_ctl start).
    static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("nanoedge-run-\(UUID().uuidString)").path
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard rc == 0 else { throw Unavailable(description: "cannot run \(tool): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), text)
    }

    private static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }
}

/// A TCP port that is free right now.
func freeTCPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            _ = bind(fd, raw, length)
            _ = getsockname(fd, raw, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A UDP port that is free right now.
func freeUDPPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            _ = bind(fd, raw, length)
            _ = getsockname(fd, raw, &length)
        }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// The two databases the store runs on; store and server tests run against both.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A fresh database location: an SQLite file in `directory`, or a new PostgreSQL database.
    func location(in directory: TemporaryDirectory) throws -> String {
        switch self {
        case .sqlite: directory.file("state.db")
        case .postgres: try PostgresServer.shared().newDatabase()
        }
    }
}

/// Waits until `condition` holds or the time is up.
func eventually(timeout: TimeInterval = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try await condition()
}

/// Prometheus text exposition read by the Prometheus project's reference parser (prometheus_client,
/// installed by `make deps`); a format error fails the test with the parser's message.
func prometheusSamples(_ text: String) throws -> [(name: String, labels: [String: String], value: Double)] {
    let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        print(json.dumps([{"name": s.name, "labels": s.labels, "value": s.value}
                          for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script]
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure("the Prometheus parser refused /metrics: \(problem)\n\(text)")
    }
    return try JSON.parse(Array(data)).arrayValue?.map { item in
        var labels: [String: String] = [:]
        for (key, value) in item["labels"]?.objectValue ?? [:] { labels[key] = value.stringValue }
        return (item["name"]?.stringValue ?? "", labels, item["value"]?.doubleValue ?? .nan)
    } ?? []
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
