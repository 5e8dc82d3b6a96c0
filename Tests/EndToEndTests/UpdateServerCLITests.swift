import Foundation
import CryptoEVP
import JSON
import OCI
import OCITools
import Testing

/// The operator's path through the real binaries: keys, a token, a running update server, then
/// groups, devices, a release and a deployment with `nanoedge devices|release|deploy`.
@Suite(.serialized, .timeLimit(.minutes(3))) struct UpdateServerCLITests {
    let directory: CLIFixture.TemporaryDirectory

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
    }

    static func freePort() -> Int {
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

    @Test func releaseAndDeployThroughTheCLI() async throws {
        let data = directory.path + "/data"
        try CLIFixture.succeed(["keys", "init", "--repo", data + "/repository"])
        let token = directory.path + "/ops.token"
        let created = try CLIFixture.succeed(["update-server", "token", "create", "ops", "--data", data, "--out", token])
        #expect(created.stdout.contains("admin token ops written to \(token)"))
        let list = try CLIFixture.succeed(["update-server", "token", "list", "--data", data, "--json"])
        #expect(try JSON.parse(list.stdout)[0]?["name"]?.stringValue == "ops")

        let port = Self.freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try CLIFixture.binary())
        server.arguments = ["update-server", "--data", data, "--http", "127.0.0.1:\(port)", "--no-push", "--admin-http", "off",
                            "--boards", CLIFixture.packageRoot.path + "/boards"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let remote = ["--server", "http://127.0.0.1:\(port)", "--token-file", token]
        var started = false
        for _ in 0..<100 where !started {
            started = (try? CLIFixture.run(["release", "list"] + remote))?.status == 0
            if !started { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(started, "the update server did not come up")

        try CLIFixture.succeed(["devices", "group", "add", "office"] + remote)
        let added = try CLIFixture.succeed(["devices", "add", "pi-1", "--board", "rpi4b", "--group", "office",
                                            "--out-dir", directory.path + "/creds"] + remote)
        #expect(added.stdout.contains("registered pi-1"))
        let tokenMode = try FileManager.default.attributesOfItem(atPath: directory.path + "/creds/pi-1.token")[.posixPermissions] as? Int
        #expect(tokenMode == 0o600)

        var elf = [UInt8](repeating: 7, count: 8192)
        elf[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        elf[4] = 2; elf[5] = 1; elf[16] = 3; elf[17] = 0; elf[18] = 183; elf[19] = 0
        let artifact = directory.path + "/nanoedge-agent"
        try Data(elf).write(to: URL(fileURLWithPath: artifact))
        let release = try CLIFixture.succeed(["release", "add", "--kind", "binary", "--version", "1.0.0", "--board", "rpi4b",
                                              artifact, "--json"] + remote)
        #expect(try JSON.parse(release.stdout)["target"]?.stringValue == "nanoedge-agent-1.0.0")
        let table = try CLIFixture.succeed(["release", "list"] + remote).stdout
        #expect(table.contains("nanoedge-agent-1.0.0  binary  1.0.0"))

        let deployment = try CLIFixture.succeed(["deploy", "create", "nanoedge-agent-1.0.0", "--group", "office",
                                                 "--waves", "50%", "--max-failures", "0", "--soak", "10m"] + remote)
        #expect(deployment.stdout.contains("deployment 1: nanoedge-agent-1.0.0 → group office"))
        let status = try JSON.parse(try CLIFixture.succeed(["deploy", "status", "1", "--json"] + remote).stdout)
        #expect(status["status"]?.stringValue == "active")
        #expect(status["plan"]?["soak_ms"]?.intValue == 600_000)
        let halted = try CLIFixture.succeed(["deploy", "halt", "1", "--reason", "checking"] + remote)
        #expect(halted.stdout.contains("halted   checking"))

        // Mistakes are errors with exit status 1 and a message, and change nothing.
        let unknownBoard = try CLIFixture.run(["release", "add", "--kind", "binary", "--version", "1.0.1", "--board", "rpi9",
                                               artifact] + remote)
        #expect(unknownBoard.status == 1)
        #expect(unknownBoard.stderr.contains("unknown board \"rpi9\""))
        let badToken = directory.path + "/bad.token"
        try "nea_nope\n".write(toFile: badToken, atomically: true, encoding: .utf8)
        let refused = try CLIFixture.run(["release", "list", "--server", "http://127.0.0.1:\(port)", "--token-file", badToken])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("401"))
        let releases = try JSON.parse(try CLIFixture.succeed(["release", "list", "--json"] + remote).stdout)
        #expect(releases.arrayValue?.count == 1)

        // An OCI image layout directory is packed into an oci-archive on the way.
        let layout = directory.path + "/presence-app"
        var writer = try OCILayoutWriter(path: layout)
        var layer = TarWriter()
        layer.addFile("app/run", Array("#!/bin/sh\necho presence\n".utf8), mode: 0o755)
        layer.finish()
        try writer.addImage(layers: [(bytes: layer.bytes, mediaType: OCIMediaType.layer,
                                      diffID: OCIDigest(sha256: Digest.sha256(layer.bytes)))],
                            config: ["Cmd": ["/app/run"]], platform: OCIPlatform(os: "linux", architecture: "arm64"))
        let oci = try CLIFixture.succeed(["release", "add", "--kind", "oci", "--version", "2.0.0", "--board", "rpi5", layout,
                                          "--json"] + remote)
        #expect(try JSON.parse(oci.stdout)["target"]?.stringValue == "presence-app-2.0.0")

        let download = directory.path + "/downloaded"
        try CLIFixture.succeed(["release", "download", "nanoedge-agent-1.0.0", "--out", download] + remote)
        #expect(FileManager.default.contents(atPath: download) == Data(elf))
    }
}
