import CryptoEVP
import Foundation
import JSON
import OCI
import OCITools
import Testing
@testable import Updater

private let canRunContainers: Bool = {
    geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
        && FileManager.default.isExecutableFile(atPath: "/bin/busybox")
}()

private func compress(_ tool: String, _ arguments: [String], _ bytes: [UInt8]) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    let handle = input.fileHandleForWriting
    let data = Data(bytes)
    Thread.detachNewThread { handle.write(data); try? handle.close() }
    let result = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Array(result)
}

/// Builds a tiny image from Debian's busybox-static: layer 1 (gzip) the shell, layer 2 (zstd) the
/// app script, as an oci-archive. The app writes a heartbeat into /data every 50 ms.
func buildImage(_ dir: String, version: String, app: String? = nil) throws -> String {
    var base = TarWriter()
    base.addDirectory("bin")
    base.addFile("bin/busybox", Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))), mode: 0o755)
    for tool in ["sh", "sleep", "mv", "cat", "test", "true"] { base.addSymlink("bin/" + tool, target: "busybox") }
    base.addDirectory("data")
    base.addDirectory("tmp", mode: 0o1777)
    base.finish()
    let heartbeat = """
        #!/bin/sh
        # PID 1 gets no default signal actions: stop on SIGTERM explicitly.
        trap 'exit 0' TERM
        echo "$VERSION" > /data/started-$VERSION
        while true; do
            read up idle < /proc/uptime
            echo "$VERSION $up" > /data/.hb-$VERSION && mv /data/.hb-$VERSION /data/heartbeat
            echo "$VERSION $up" >> /data/beats-$VERSION
            sleep 0.05
        done

        """
    var top = TarWriter()
    top.addFile("app/run.sh", Array((app ?? heartbeat).utf8), mode: 0o755)
    top.finish()
    let layout = dir + "/layout-\(version)"
    var writer = try OCILayoutWriter(path: layout)
    try writer.addImage(layers: [
        (try compress("/usr/bin/gzip", ["-c", "-n"], base.bytes), OCIMediaType.layerGzip, OCIDigest(sha256: Digest.sha256(base.bytes))),
        (try compress("/usr/bin/zstd", ["-c", "-q"], top.bytes), OCIMediaType.layerZstd, OCIDigest(sha256: Digest.sha256(top.bytes))),
    ], config: ["Entrypoint": ["/bin/sh"], "Cmd": ["/app/run.sh"], "Env": .array([.string("VERSION=\(version)")])],
       reference: version)
    let archive = dir + "/image-\(version).tar"
    let tar = Process()
    tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
    tar.arguments = ["-C", layout, "-cf", archive, "."]
    try tar.run()
    tar.waitUntilExit()
    return archive
}

/// A container release: the archive and its target description.
func containerRelease(_ dir: String, version: String, app: String? = nil, probe: [String] = [],
                      window: Int64 = 600) throws -> (info: String, artifact: String) {
    let archive = try buildImage(dir, version: version, app: app)
    let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: archive)))
    let info: JSON = [
        "name": .string("app-image-\(version).tar"), "length": .int(Int64(bytes.count)),
        "hashes": ["sha256": .string(Hex.encode(Digest.sha256(bytes)))],
        "custom": ["kind": "oci", "version": .string(version), "boards": ["sim"], "container": "app",
                   "health": ["window_ms": .int(window), "attempts": 2, "timeout_ms": 15_000,
                              "probe": .array(probe.map { .string($0) })]],
    ]
    let path = dir + "/target-\(version).json"
    try Data(info.bytes()).write(to: URL(fileURLWithPath: path))
    return (path, archive)
}

@Suite(.serialized, .enabled(if: canRunContainers, "needs root, runc and busybox-static (make deps)"))
struct ContainerUpdateTests {
    final class Device {
        let dir = makeTemporaryDirectory("container")
        var state: String { dir + "/state" }
        var runtimeRoot: String { dir + "/runc" }

        init() throws {
            try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
            // Containers run as nobody unless the release says otherwise: their data directory is theirs.
            chown(dir + "/data", 65534, 65534)
        }

        deinit {
            for id in ["app-a", "app-b"] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/sbin/runc")
                process.arguments = ["--root", runtimeRoot, "delete", "--force", id]
                process.standardError = FileHandle.nullDevice
                try? process.run()
                process.waitUntilExit()
            }
            removeTree(dir)
        }

        func update(_ arguments: [String]) throws -> Agent.Result {
            try Agent.update(state, ["--runtime-root", runtimeRoot, "--bind", dir + "/data:/data"] + arguments)
        }

        func install(_ release: (info: String, artifact: String)) throws -> Agent.Result {
            try update(["install", "--target-info", release.info, "--artifact", release.artifact])
        }

        func status(_ id: String) -> String? {
            ContainerRuntime(program: "runc", root: runtimeRoot).status(id: id)?.rawValue
        }

        var heartbeat: String? { readText(dir + "/data/heartbeat") }
    }

    @Test func newContainerReplacesTheOldOnlyAfterItsHealthCheck() throws {
        let device = try Device()
        let first = try device.install(try containerRelease(device.dir, version: "1.0.0"))
        #expect(first.status == 0, "\(first)")
        #expect(first.json?["result"] == "committed")
        #expect(device.status("app-a") == "running")
        #expect(FileManager.default.fileExists(atPath: device.state + "/slots/a/bundle/rootfs/bin/busybox"))

        let probe = ["/bin/sh", "-c", "test -e /data/started-1.1.0"]
        let second = try device.install(try containerRelease(device.dir, version: "1.1.0", probe: probe))
        #expect(second.status == 0, "\(second)")
        #expect(second.json?["result"] == "committed")
        #expect(device.status("app-b") == "running")
        #expect(device.status("app-a") == nil, "the old container is stopped and deleted after the commit")
        #expect(device.heartbeat?.hasPrefix("1.1.0") == true)
        #expect(linkDestination(device.state + "/current") == "slots/b")
        // The old one kept beating while the new one was on trial.
        func beats(_ version: String) -> [Double] {
            (readText(device.dir + "/data/beats-\(version)") ?? "").split(separator: "\n").compactMap {
                $0.split(separator: " ").last.flatMap { Double($0) }
            }
        }
        let oldBeats = beats("1.0.0")
        let newStart = beats("1.1.0").first
        let overlap = try #require(newStart)
        #expect(oldBeats.contains { $0 > overlap }, "the old container ran until the new one was committed")
    }

    @Test func containerThatExitsAtOnceIsRolledBackAndTheOldOneKeepsRunning() throws {
        let device = try Device()
        #expect(try device.install(try containerRelease(device.dir, version: "1.0.0")).status == 0)
        let broken = try device.install(try containerRelease(device.dir, version: "2.0.0", app: "#!/bin/sh\nexit 1\n"))
        #expect(broken.status == 3, "\(broken)")
        #expect(broken.json?["result"] == "rolled_back")
        #expect(broken.json?["reason"]?.stringValue?.contains("exited") == true)
        #expect(device.status("app-a") == "running")
        #expect(device.status("app-b") == nil)
        #expect(linkDestination(device.state + "/current") == "slots/a")
        let before = device.heartbeat
        usleep(200_000)
        #expect(device.heartbeat?.hasPrefix("1.0.0") == true)
        #expect(device.heartbeat != before, "the old container is still beating")
    }

    @Test func bootStartsTheCommittedContainerAndRollsBackAnInterruptedTrial() throws {
        let device = try Device()
        #expect(try device.install(try containerRelease(device.dir, version: "1.0.0")).status == 0)
        // A reboot: the runtime's containers are gone.
        ContainerRuntime(program: "runc", root: device.runtimeRoot).stop(id: "app-a", graceMilliseconds: 1_000)
        #expect(device.status("app-a") == nil)
        let boot = try device.update(["boot"])
        #expect(boot.status == 0, "\(boot)")
        #expect(device.status("app-a") == "running")

        // Stage and start a trial, then "lose power" in the middle of it.
        let next = try containerRelease(device.dir, version: "1.1.0", window: 60_000)
        #expect(try device.update(["stage", "--target-info", next.info, "--artifact", next.artifact]).status == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Agent.binary)
        process.arguments = ["update", "--state-dir", device.state, "--runtime-root", device.runtimeRoot,
                             "--bind", device.dir + "/data:/data", "activate"]
        try process.run()
        var waited = 0
        while device.status("app-b") != "running" && waited < 100 {
            usleep(100_000)
            waited += 1
        }
        #expect(device.status("app-b") == "running")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let after = try device.update(["boot"])
        #expect(after.json?["outcome"]?["result"] == "rolled_back", "\(after)")
        #expect(device.status("app-a") == "running")
        #expect(device.status("app-b") == nil)
        #expect(linkDestination(device.state + "/current") == "slots/a")
    }
}
