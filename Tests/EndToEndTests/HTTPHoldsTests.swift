import Foundation
import Testing

/// Both HTTP servers against a site LAN that opens connections and never sends a request. Each server
/// runs as its own process with the 1,024-descriptor soft limit a service gets by default.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HTTPHoldsTests {
    let directory: CLIFixture.TemporaryDirectory

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
        // The test itself holds a few thousand sockets.
        var limits = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        limits.rlim_cur = limits.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
    }

    /// `nanoedge ARGS` with the soft limit of 1,024 descriptors systemd gives a unit without `LimitNOFILE=`.
    static func start(_ arguments: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\" 2>\"\(log)\"", try CLIFixture.binary()] + arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func curl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sS"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func waitUntilServing(_ url: String) async throws {
        for _ in 0..<150 {
            if (try? curl(["--max-time", "1", "-f", url]))?.status == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIFixture.SetupError(description: "\(url) did not come up")
    }

    /// Polls until the server has closed every connection, or `within` passes.
    static func allClosed(_ groups: [IdleConnections], within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if groups.allSatisfy({ $0.openCount() == 0 }) { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    @Test func updateServerChecksInDevicesUnder2000IdleConnectionsAndClosesThem() async throws {
        let data = directory.path + "/data"
        try CLIFixture.succeed(["keys", "init", "--repo", data + "/repository"])
        let adminToken = directory.path + "/ops.token"
        try CLIFixture.succeed(["update-server", "token", "create", "ops", "--data", data, "--out", adminToken])
        let port = UpdateServerCLITests.freePort()
        let base = "http://127.0.0.1:\(port)"
        let server = try Self.start(["update-server", "--data", data, "--http", "127.0.0.1:\(port)", "--no-push",
                                     "--admin-http", "off", "--idle-timeout-s", "20",
                                     "--boards", CLIFixture.packageRoot.path + "/boards"],
                                    log: directory.path + "/server.log")
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        try await Self.waitUntilServing(base + "/health")
        let remote = ["--server", base, "--token-file", adminToken]
        try CLIFixture.succeed(["devices", "group", "add", "office"] + remote)
        try CLIFixture.succeed(["devices", "add", "pi-1", "--board", "rpi4b", "--group", "office",
                                "--out-dir", directory.path + "/creds"] + remote)
        let deviceToken = try String(contentsOfFile: directory.path + "/creds/pi-1.token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        // 2,000 idle connections, 50 from each of 40 addresses: under the per-address cap, over 1,024.
        let idle = try IdleConnections(port: port, addresses: (2...41).map { "127.0.0.\($0)" }, perAddress: 50)
        defer { idle.closeAll() }
        try await Task.sleep(for: .milliseconds(500))
        #expect(idle.openCount() == 2000, "the server closed connections it should have held")

        let started = Date()
        let checkIn = try Self.curl(["--max-time", "5", "-f", "-H", "Authorization: Bearer \(deviceToken)",
                                     "-H", "Content-Type: application/json",
                                     "-d", #"{"version":"0.9.0","slot":"a","health":"ok"}"#,
                                     "-w", "\n%{time_total}", base + "/api/v1/device/checkin"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(checkIn.status == 0, "check-in under 2,000 idle connections: \(checkIn.output)")
        #expect(checkIn.output.hasPrefix("{"))
        print("check-in under 2,000 idle connections: \(checkIn.output.split(separator: "\n").last ?? "?") s (curl), "
              + "\(String(format: "%.3f", elapsed)) s with process start")

        // A 65th connection from one address is closed at once; the first 64 stay.
        let crowd = try IdleConnections(port: port, addresses: ["127.0.0.50"], perAddress: 80)
        defer { crowd.closeAll() }
        try await Task.sleep(for: .milliseconds(500))
        #expect(crowd.openCount() == 64, "the per-address cap is 64")

        // With no request in 20 s, every idle connection is closed.
        #expect(try await Self.allClosed([idle, crowd], within: .seconds(40)), "idle connections outlived the idle timeout")
    }

    @Test func gatewayHTTPSideHoldsAndClosesIdleConnections() async throws {
        let port = UpdateServerCLITests.freePort()
        let base = "http://127.0.0.1:\(port)"
        let gateway = try Self.start(["gateway", "--db", directory.path + "/site.db",
                                      "--listen", "127.0.0.1:\(UpdateServerCLITests.freePort())",
                                      "--http", "127.0.0.1:\(port)", "--http-idle-timeout-s", "20", "--quiet"],
                                     log: directory.path + "/gateway.log")
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        try await Self.waitUntilServing(base + "/api/devices")
        let idle = try IdleConnections(port: port, addresses: (2...41).map { "127.0.0.\($0)" }, perAddress: 50)
        defer { idle.closeAll() }
        try await Task.sleep(for: .milliseconds(500))
        #expect(idle.openCount() == 2000)
        let page = try Self.curl(["--max-time", "5", "-f", base + "/api/devices"])
        #expect(page.status == 0, "the site side under 2,000 idle connections: \(page.output)")
        let crowd = try IdleConnections(port: port, addresses: ["127.0.0.50"], perAddress: 80)
        defer { crowd.closeAll() }
        try await Task.sleep(for: .milliseconds(500))
        #expect(crowd.openCount() == 64)
        #expect(try await Self.allClosed([idle, crowd], within: .seconds(40)), "idle connections outlived the idle timeout")
    }
}

/// TCP connections that connect and then say nothing, from chosen loopback source addresses
/// (all of 127.0.0.0/8 is local on Linux, no setup needed).
final class IdleConnections {
    private var sockets: [Int32] = []

    init(port: Int, addresses: [String], perAddress: Int) throws {
        for address in addresses {
            for _ in 0..<perAddress {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                guard fd >= 0 else { throw CLIFixture.SetupError(description: "socket: errno \(errno)") }
                var source = sockaddr_in()
                source.sin_family = sa_family_t(AF_INET)
                source.sin_addr.s_addr = inet_addr(address)
                var target = sockaddr_in()
                target.sin_family = sa_family_t(AF_INET)
                target.sin_addr.s_addr = inet_addr("127.0.0.1")
                target.sin_port = in_port_t(UInt16(port).bigEndian)
                // A server that stops accepting fills its backlog, and a blocking connect would then
                // wait minutes; give up after 10 s and count the connection as refused.
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                let connected = withUnsafePointer(to: &source) { sourcePointer in
                    withUnsafePointer(to: &target) { targetPointer in
                        sourcePointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { rawSource in
                            targetPointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { rawTarget in
                                bind(fd, rawSource, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                                    && connect(fd, rawTarget, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                            }
                        }
                    }
                }
                if connected { sockets.append(fd) } else { close(fd) }
            }
        }
    }

    /// Connections the server has not closed: no end of file and no reset waiting.
    func openCount() -> Int {
        var count = 0
        for fd in sockets {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 0) == 0 { count += 1; continue }
            var byte: UInt8 = 0
            let read = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
            if read > 0 { count += 1 }
        }
        return count
    }

    func closeAll() {
        for fd in sockets { close(fd) }
        sockets = []
    }
}
