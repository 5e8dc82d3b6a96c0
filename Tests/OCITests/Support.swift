import CryptoEVP
import Foundation
import OCI
import OCITools

/// A fresh directory under /tmp for one test.
func makeTemporaryDirectory(_ name: String = "oci") -> String {
    let path = NSTemporaryDirectory() + "nanoedge-\(name)-" + UUID().uuidString.prefix(8)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Runs a tool and returns its stdout; fails the test with its stderr when it exits non-zero.
@discardableResult
func run(_ tool: String, _ arguments: [String], input: [UInt8]? = nil) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    try process.run()
    if let input {
        // Write on another thread so a full stdout pipe cannot deadlock us.
        let handle = stdin.fileHandleForWriting
        let data = Data(input)
        Thread.detachNewThread { handle.write(data); try? handle.close() }
    }
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ToolError(description: "\(tool) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                            + String(decoding: err, as: UTF8.self))
    }
    return Array(out)
}

struct ToolError: Error, CustomStringConvertible {
    var description: String
}

func gzip(_ bytes: [UInt8]) throws -> [UInt8] { try run("/usr/bin/gzip", ["-c", "-n"], input: bytes) }
func zstd(_ bytes: [UInt8]) throws -> [UInt8] { try run("/usr/bin/zstd", ["-c", "-q"], input: bytes) }

func diffID(_ tar: [UInt8]) -> OCIDigest { OCIDigest(sha256: Digest.sha256(tar)) }

func fileBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { Array($0) }
}

func exists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

func linkTarget(_ path: String) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: path)
}
