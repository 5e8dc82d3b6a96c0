import Foundation
import SiteSimulation
import Testing

/// The agent the simulated Pis run in an end-to-end test: the native debug build beside the
/// gateway, or the static aarch64 release run through binfmt_misc and qemu-user.
struct AgentBinary: Sendable, CustomTestStringConvertible {
    enum Kind: Sendable { case native, aarch64 }
    var kind: Kind

    static let native = AgentBinary(kind: .native)
    static let aarch64 = AgentBinary(kind: .aarch64)

    /// Set by `make test` when it has built the aarch64 agent (a path, relative to the package root
    /// or absolute). Unset, the aarch64 variants are not run; set, a missing binary fails them.
    static let arm64Variable = "NANOEDGE_E2E_ARM64"

    /// The variants to run: native always, aarch64 when `make test` built it.
    static let all: [AgentBinary] = {
        guard ProcessInfo.processInfo.environment[arm64Variable] != nil else {
            FileHandle.standardError.write(Data(("EndToEndTests: the aarch64 agent variants are not run: \(arm64Variable) "
                + "is unset (make test ARCH=arm64 sets it to dist/arm64/nanoedge-agent)\n").utf8))
            return [.native]
        }
        return [.native, .aarch64]
    }()

    var testDescription: String { kind == .native ? "native agent" : "aarch64 agent" }
    var name: String { kind == .native ? "native" : "aarch64" }

    /// The binary's path; nil for the native agent in the gateway's directory. Throws, failing the
    /// test, when the aarch64 agent was promised but is missing or built for something else.
    func path() throws -> String? {
        guard kind == .aarch64 else { return nil }
        guard let given = ProcessInfo.processInfo.environment[Self.arm64Variable], !given.isEmpty else {
            throw SimulationError("\(Self.arm64Variable) is empty; it names the aarch64 agent")
        }
        let path = given.hasPrefix("/") ? given : Paths.repository + "/" + given
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw SimulationError("\(Self.arm64Variable)=\(given): no executable at \(path); "
                + "`make release ARCH=arm64` builds it")
        }
        let architecture = try Executables.architecture(of: path)
        guard architecture == "aarch64" else {
            throw SimulationError("\(Self.arm64Variable)=\(given) is built for \(architecture ?? "no known architecture"), "
                + "not aarch64")
        }
        return path
    }
}
