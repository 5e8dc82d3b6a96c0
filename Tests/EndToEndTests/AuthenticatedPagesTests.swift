import Foundation
import Testing

/// Who can open the pages that name devices and people, checked with curl against the real binaries.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AuthenticatedPagesTests {
    let directory: CLIFixture.TemporaryDirectory

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
    }

    static func status(_ arguments: [String]) throws -> String {
        try HTTPHoldsTests.curl(["--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}"] + arguments).output
    }

    @Test func theGatewaysPageOffLoopbackNeedsItsToken() async throws {
        let refused = try CLIFixture.run(["gateway", "--db", directory.path + "/site.db", "--http", "0.0.0.0:1"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--http-token-file"), "\(refused.stderr)")

        let token = String(repeating: "5a", count: 32)
        try (token + "\n").write(toFile: directory.path + "/web.token", atomically: true, encoding: .utf8)
        let port = UpdateServerCLITests.freePort()
        let gateway = try HTTPHoldsTests.start(["gateway", "--db", directory.path + "/site.db",
                                                "--listen", "127.0.0.1:\(UpdateServerCLITests.freePort())",
                                                "--http", "0.0.0.0:\(port)", "--http-token-file", directory.path + "/web.token",
                                                "--quiet"], log: directory.path + "/gateway.log")
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<100 where try Self.status([base + "/metrics"]) == "000" { try await Task.sleep(for: .milliseconds(100)) }
        for path in ["/", "/metrics", "/api/devices", "/export/visits"] {
            #expect(try Self.status([base + path]) == "401", "\(path) without the token")
            #expect(try Self.status(["-u", "ops:wrong-token-0123456789", base + path]) == "401", "\(path) with a wrong token")
            #expect(try Self.status(["-u", "ops:\(token)", base + path]) == "200", "\(path) with basic auth")
            #expect(try Self.status(["-H", "Authorization: Bearer \(token)", base + path]) == "200", "\(path) with Bearer")
        }
    }

    @Test func theUpdateServersDevicePortServesNoFleetPage() async throws {
        let data = directory.path + "/data"
        try CLIFixture.succeed(["keys", "init", "--repo", data + "/repository"])
        let port = UpdateServerCLITests.freePort()
        let admin = UpdateServerCLITests.freePort()
        let server = try HTTPHoldsTests.start(["update-server", "--data", data, "--http", "127.0.0.1:\(port)", "--no-push",
                                               "--admin-http", "127.0.0.1:\(admin)",
                                               "--boards", CLIFixture.packageRoot.path + "/boards"],
                                              log: directory.path + "/server.log")
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        try await HTTPHoldsTests.waitUntilServing("http://127.0.0.1:\(admin)/health")
        for path in ["/", "/metrics"] {
            #expect(try Self.status(["http://127.0.0.1:\(port)" + path]) == "404", "the device port serves \(path)")
            #expect(try Self.status(["http://127.0.0.1:\(admin)" + path]) == "200", "the admin listener serves \(path)")
        }
    }
}
