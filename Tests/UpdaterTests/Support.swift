import CryptoEVP
import Foundation
import JSON
@testable import Updater

func makeTemporaryDirectory(_ name: String = "updater") -> String {
    let path = NSTemporaryDirectory() + "nanoedge-\(name)-" + UUID().uuidString.prefix(8)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func writeFile(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
}

func readText(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

func linkDestination(_ path: String) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: path)
}

/// A shell-script "binary" that prints its version, then behaves as `body` says.
func script(version: String, body: String = "exec sleep 30") -> [UInt8] {
    Array("#!/bin/sh\necho \"app \(version) started\"\n\(body)\n".utf8)
}

/// Writes the artifact and its signed description (the TUF targets entry) into `dir`.
@discardableResult
func release(_ dir: String, version: String, artifact: [UInt8], kind: TargetKind = .binary, boards: [String] = ["sim"],
             counter: Int64 = 0, health: [String: JSON] = ["window_ms": 200, "attempts": 3, "timeout_ms": 20_000],
             extra: [String: JSON] = [:]) throws -> (info: String, artifact: String, target: TargetDescription) {
    let artifactPath = dir + "/artifact-\(version)"
    try writeFile(artifactPath, artifact)
    var custom: [String: JSON] = [
        "kind": .string(kind.rawValue), "version": .string(version), "boards": .array(boards.map { .string($0) }),
        "security_counter": .int(counter), "health": .object(health),
    ]
    if kind == .binary { custom["file"] = "app" }
    for (key, value) in extra { custom[key] = value }
    let info: JSON = [
        "name": .string("app-\(version)"), "length": .int(Int64(artifact.count)),
        "hashes": ["sha256": .string(Hex.encode(Digest.sha256(artifact)))], "custom": .object(custom),
    ]
    let infoPath = dir + "/target-\(version).json"
    try writeFile(infoPath, info.bytes())
    return (infoPath, artifactPath, try TargetDescription(json: info))
}

/// Runs the built nanoedge-agent binary.
enum Agent {
    struct Result: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var signal: Int32?
        var description: String { "exit \(status) signal \(signal.map(String.init) ?? "-")\n\(stdout)\n\(stderr)" }
        var json: JSON? { try? JSON.parse(stdout.split(separator: "\n").last.map(String.init) ?? "") }
    }

    static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["NANOEDGE_AGENT_BINARY"] { return explicit }
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nanoedge-agent").path,
            packageRoot + "/.build/debug/nanoedge-agent",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    static var packageRoot: String {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.path
            }
            directory.deleteLastPathComponent()
        }
        return "."
    }

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let signaled = process.terminationReason == .uncaughtSignal
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self), signal: signaled ? process.terminationStatus : nil)
    }

    static func update(_ stateDir: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try run(["update", "--state-dir", stateDir, "--board", "sim"] + arguments, environment: environment)
    }
}
