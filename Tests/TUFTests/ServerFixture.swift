import CryptoEVP
import Foundation
import Testing

/// The test HTTP server (python/server.py) on a free loopback port, stopped when released.
final class RepositoryServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    let faultsFile: String
    let logFile: String

    /// Serves `root` (a directory or a symlink the test may re-point).
    init(root: String, scratch: String) throws {
        faultsFile = scratch + "/faults.json"
        logFile = scratch + "/requests.log"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", URL(fileURLWithPath: helperScript).deletingLastPathComponent().path + "/server.py",
                             "--root", root, "--faults", faultsFile, "--log", logFile]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw ServerError(description: "the test server did not start")
        }
        self.port = port
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// `{"URL path": {"truncate_at": N} | {"status": S}}`
    func setFaults(_ faults: [String: [String: Int]]) throws {
        let data = try JSONSerialization.data(withJSONObject: faults)
        try data.write(to: URL(fileURLWithPath: faultsFile))
    }

    /// "PATH RANGE" per request so far.
    var requests: [String] {
        ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        // SIGKILL: a child inherits the test runner's blocked signals, SIGTERM among them.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    struct ServerError: Error, CustomStringConvertible {
        var description: String
    }
}

/// Runs `nanoedge-agent` (built next to this test bundle) and returns its exit status and output.
func runAgent(_ arguments: [String], prefix: [String] = []) throws -> (status: Int32, output: String) {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
    var candidates = [bundle.appendingPathComponent("nanoedge-agent").path]
    if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        candidates.append(URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("nanoedge-agent").path)
    }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(packageRoot.appendingPathComponent(".build/debug/nanoedge-agent").path)
    guard let agent = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw RepositoryServer.ServerError(description: "nanoedge-agent is not built (swift build --product nanoedge-agent)")
    }
    let process = Process()
    let command = prefix + [agent] + arguments
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Every regular file below `directory`, relative path → SHA-256 of its bytes (short to print).
func snapshotTree(_ directory: String) -> [String: String] {
    var out: [String: String] = [:]
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
    for case let path as String in walker {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
            out[path] = Hex.encode(Digest.sha256(readBytes(directory + "/" + path) ?? []))
        }
    }
    return out
}
