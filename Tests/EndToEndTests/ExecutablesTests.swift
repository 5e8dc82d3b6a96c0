import Foundation
import SiteSimulation
import Testing

/// The stand-in executables the simulated site makes for broken releases.
@Suite struct ExecutablesTests {
    static let qemuAArch64 = FileManager.default.fileExists(atPath: "/proc/sys/fs/binfmt_misc/qemu-aarch64")

    @Test(arguments: ["x86_64", "aarch64"])
    func exitingELFIsForItsArchitectureAndExitsOne(architecture: String) throws {
        let path = NSTemporaryDirectory() + "nanoedge-exit-\(architecture)-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(try Executables.exitingELF(architecture: architecture)),
                                               attributes: [.posixPermissions: 0o755]))
        #expect(try Executables.architecture(of: path) == architecture)
        guard architecture == Executables.hostArchitecture || (architecture == "aarch64" && Self.qemuAArch64) else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1)
    }

    @Test func anythingButELFHasNoArchitecture() throws {
        #expect(try Executables.architecture(of: Paths.boards + "/sim.toml") == nil)
    }
}
