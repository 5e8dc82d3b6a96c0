import DurableFile
import Foundation
import JSON
import TUF

/// The python-tuf helper next to this file.
let helperScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("python/tuf_helper.py").path

struct PythonResult {
    var status: Int32
    var output: String
    var json: JSON? { try? JSON.parse(Array(output.utf8), limits: JSONLimits(maxDepth: 64, maxBytes: 64 << 20, maxStringBytes: 64 << 20)) }
}

/// Runs the helper with `arguments`, feeding `input` on stdin.
func python(_ arguments: [String], input: String = "") throws -> PythonResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", helperScript] + arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let data = stdout.fileHandleForReading.readDataToEndOfFile()
    let errors = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var output = String(decoding: data, as: UTF8.self)
    if process.terminationStatus != 0 { output += String(decoding: errors, as: UTF8.self) }
    return PythonResult(status: process.terminationStatus, output: output)
}

/// A fresh directory under /tmp, removed by the caller.
func temporaryDirectory(_ name: String = "tuf") -> String {
    let path = NSTemporaryDirectory() + "nanoedge-\(name)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func readBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

func writeBytes(_ bytes: [UInt8], _ path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Serves a repository directory as `http://repo/…`: metadata and targets straight from disk,
/// 404 for missing files, the same limits as a network transport.
final class DirectoryTransport: TUFTransport {
    let root: String
    private(set) var fetched: [String] = []

    init(root: String) { self.root = root }

    private func path(_ url: String) -> String {
        root + "/" + url.dropFirst("http://repo/".count)
    }

    func fetch(_ url: String, maxLength: Int) throws(TUFError) -> [UInt8] {
        fetched.append(url)
        guard let bytes = readBytes(path(url)) else { throw .notFound(url, status: 404) }
        guard bytes.count <= maxLength else {
            throw TUFError(.lengthOrHash, "\(url) is longer than \(maxLength) bytes")
        }
        return bytes
    }

    func download(_ url: String, target: TargetFile, stagingPath: String) throws(TUFError) {
        let bytes = try fetch(url, maxLength: Int(target.length))
        try target.verify(bytes)
        do {
            try DurableFile.write(bytes, to: stagingPath)
        } catch {
            throw TUFError(.io, error.description)
        }
    }
}
