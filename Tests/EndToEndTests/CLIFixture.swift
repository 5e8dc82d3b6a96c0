import Foundation
import Testing

/// Runs the built `nanoedge` binary. The executable's internals cannot be imported, so its tests go
/// through the process boundary, as an operator's shell does.
enum CLIFixture {
    struct Result: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String

        var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
    }

    struct MissingBinary: Error, CustomStringConvertible {
        var searched: [String]
        var description: String {
            "the nanoedge binary is not built; looked in " + searched.joined(separator: ", ")
                + ". Build it first: swift build --product nanoedge (with the same --scratch-path as the tests)"
        }
    }

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// Where to look, best first: an explicit override, the build directory of this test bundle
    /// (`<scratch>/debug/`, where the bundle itself lives), then the package's default `.build/debug`.
    static var candidates: [String] {
        var paths: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["NANOEDGE_BINARY"] {
            paths.append(explicit)
        }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        paths.append(bundle.deletingLastPathComponent().appendingPathComponent("nanoedge").path)
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            paths.append(URL(fileURLWithPath: executable).deletingLastPathComponent()
                .appendingPathComponent("nanoedge").path)
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            paths.append(URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent()
                .appendingPathComponent("nanoedge").path)
        }
        paths.append(packageRoot.appendingPathComponent(".build/debug/nanoedge").path)
        var seen: Set<String> = []
        return paths.filter { seen.insert($0).inserted }
    }

    /// The package root: the nearest directory above this file with a Package.swift.
    static var packageRoot: URL {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory
            }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: ".")
    }

    static func binary() throws -> String {
        let searched = candidates
        guard let found = searched.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw MissingBinary(searched: searched)
        }
        return found
    }

    /// Runs `nanoedge arguments…` to completion (killed after `timeout` seconds).
    @discardableResult
    static func run(_ arguments: [String], timeout: TimeInterval = 30) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        // Files, not pipes: nothing can block on a full pipe, and the output is small anyway.
        let scratch = try TemporaryDirectory()
        let outPath = scratch.path + "/stdout"
        let errPath = scratch.path + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            process.terminate()
            Issue.record("nanoedge \(arguments.joined(separator: " ")) ran longer than \(timeout) s")
        }
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Result(status: process.terminationStatus,
                      stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                      stderr: try String(contentsOfFile: errPath, encoding: .utf8))
    }

    /// `run`, expecting success; the output is attached to the failure otherwise.
    @discardableResult
    static func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let result = try run(arguments)
        #expect(result.status == 0, "nanoedge \(arguments.joined(separator: " ")) failed:\n\(result)",
                sourceLocation: sourceLocation)
        return result
    }

    /// A directory under the system's temporary directory, removed with its contents when released.
    final class TemporaryDirectory {
        let path: String

        init() throws {
            path = FileManager.default.temporaryDirectory
                .appendingPathComponent("nanoedge-cli-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// A stand-in for a simulated board's control socket: answers each request line with a scripted
/// response and remembers what it was asked, so `nanoedge sim` is tested without an agent.
final class FakeBoardSocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private let respond: @Sendable (String) -> String

    init(path: String, respond: @escaping @Sendable (String) -> String) throws {
        self.path = path
        self.respond = respond
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            let code = errno
            close(fd)
            throw CLIFixture.SetupError(description: "cannot listen at \(path): errno \(code)")
        }
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var requests: [String] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }  // the listening socket was shut down
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while recv(client, &byte, 1, 0) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
            let request = String(decoding: line, as: UTF8.self)
            lock.lock()
            received.append(request)
            lock.unlock()
            let answer = respond(request)
            let framed = Array(((answer.isEmpty ? "" : answer + "\n") + "\n").utf8)
            _ = framed.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(client)
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }
}
