import Foundation
import Testing

/// `ota/deb/build.sh` on this build's binaries, then a real `dpkg -i`, use, `dpkg -r` and `dpkg -P`.
/// It needs root and leaves the machine as it found it; it does not run where nanoedge is
/// already installed, so it never replaces a real installation.
@Suite(.serialized, .enabled(if: DebianHost.canRun)) struct DebianPackageTests {
    @Test func buildInstallUseRemoveAndPurge() throws {
        let buildDirectory = URL(fileURLWithPath: try CLIFixture.binary()).deletingLastPathComponent().path
        let root = CLIFixture.packageRoot.path
        let out = try CLIFixture.TemporaryDirectory()
        // Stripped copies: a debug build's symbols are most of its size, and dpkg would copy them twice.
        let bin = out.path + "/bin"
        let stripped = try DebianHost.sh("mkdir -p '\(bin)' && for b in nanoedge nanoedge-agent; do "
            + "cp '\(buildDirectory)'/$b '\(bin)'/ && strip '\(bin)'/$b; done")
        try #require(stripped.status == 0, "\(stripped.stdout)")
        let version = "0.0.1~test"
        // A debug build links the toolchain's Swift runtime, which no Debian package provides.
        let built = try DebianHost.sh("bash '\(root)/ota/deb/build.sh' '\(version)' '\(bin)' '\(out.path)'",
                                environment: ["ALLOW_UNPACKAGED_LIBS": "1", "DEB_COMPRESSION": "none"])
        try #require(built.status == 0, "\(built.stdout)")
        let arch = try DebianHost.sh("dpkg --print-architecture").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let agentDeb = "\(out.path)/nanoedge-agent_\(version)_\(arch).deb"
        let info = try DebianHost.sh("dpkg-deb -I '\(agentDeb)'")
        #expect(info.stdout.contains("Package: nanoedge-agent"))
        #expect(info.stdout.contains("nanoedge-common (= \(version))"))
        #expect(info.stdout.contains("libssl3 (>="))
        let contents = try DebianHost.sh("dpkg-deb -c '\(agentDeb)'").stdout
        for path in ["./usr/bin/nanoedge-agent", "./lib/systemd/system/nanoedge-agent.service",
                     "./lib/udev/rules.d/99-nanoedge-gpio.rules"] {
            #expect(contents.contains(path), "\(path) in the agent package")
        }

        let debs = ["nanoedge-common_\(version)_all.deb", "nanoedge-agent_\(version)_\(arch).deb",
                    "nanoedge_\(version)_\(arch).deb"].map { "'\(out.path)/\($0)'" }.joined(separator: " ")
        defer { _ = try? DebianHost.sh("dpkg -P nanoedge-agent nanoedge nanoedge-common") }
        let install = try DebianHost.sh("dpkg -i \(debs)")
        try #require(install.status == 0, "\(install.stdout)")
        #expect(install.stdout.contains("write /etc/nanoedge/agent.toml"))

        #expect(try DebianHost.sh("/usr/bin/nanoedge-agent --version").stdout.hasPrefix("nanoedge-agent "))
        let check = try DebianHost.sh("/usr/bin/nanoedge-agent --board rpi5 --check")
        #expect(check.stdout.contains("board rpi5 (Raspberry Pi 5) from /usr/share/nanoedge/boards/rpi5.toml"))
        #expect(try DebianHost.sh("id -nG nanoedge").stdout.contains("gpio"))
        #expect(FileManager.default.fileExists(atPath: "/etc/nanoedge/gateway.toml"))
        #expect(try DebianHost.sh("/usr/bin/nanoedge gateway --config /etc/nanoedge/gateway.toml --help").status == 0)
        #expect(FileManager.default.fileExists(atPath: "/lib/systemd/system/nanoedge-update-server.service"))
        let verify = try DebianHost.sh("systemd-analyze verify /lib/systemd/system/nanoedge-*.service")
        #expect(!verify.stdout.contains("Unknown key") && !verify.stdout.contains("Failed to parse"), "\(verify.stdout)")

        _ = FileManager.default.createFile(atPath: "/var/lib/nanoedge/keep-me", contents: Data("state".utf8))
        #expect(try DebianHost.sh("dpkg -r nanoedge-agent nanoedge").status == 0)
        #expect(!FileManager.default.fileExists(atPath: "/usr/bin/nanoedge-agent"))
        #expect(FileManager.default.fileExists(atPath: "/var/lib/nanoedge/keep-me"), "state survives a remove")
        #expect(try DebianHost.sh("dpkg -P nanoedge-agent nanoedge nanoedge-common").status == 0)
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/nanoedge"), "a purge removes the state")
        #expect(!FileManager.default.fileExists(atPath: "/usr/share/nanoedge/boards/rpi5.toml"))
    }
}

enum DebianHost {
    static var canRun: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg")
            && (try? DebianHost.sh("dpkg-query -W -f='${Status}' nanoedge-agent nanoedge nanoedge-common 2>/dev/null").stdout
                .contains("ok installed")) != true
    }

    @discardableResult
    static func sh(_ command: String, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command + " 2>&1"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

}
