#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The checkout's root, found from this file's path (Tests/HardwareTests/Support.swift).
let repositoryRoot: String = {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

let boardsDirectory = repositoryRoot + "/boards"

private let uniqueCounter = Atomic<Int>(0)

/// A path under /tmp that no other test (or test process) uses.
func uniqueTemporaryPath(_ suffix: String) -> String {
    let n = uniqueCounter.add(1, ordering: .relaxed).newValue
    return "/tmp/nanoedge-test-\(getpid())-\(n)\(suffix)"
}

/// A fresh empty directory under /tmp.
func makeTemporaryDirectory() -> String {
    let path = uniqueTemporaryPath(".d")
    precondition(mkdir(path, 0o700) == 0, "mkdir \(path): errno \(errno)")
    return path
}

func writeFile(_ path: String, _ text: String) {
    guard let file = fopen(path, "w") else { preconditionFailure("fopen \(path): errno \(errno)") }
    fputs(text, file)
    fclose(file)
}

func removeTree(_ path: String) {
    if let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink(path + "/" + name) }
        }
        closedir(dir)
    }
    rmdir(path)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// Waits (sleeping 2 ms at a time) until `condition` holds or `timeoutMs` passes; returns the last value.
@discardableResult
func eventually(timeoutMs: Int = 3_000, _ condition: () -> Bool) -> Bool {
    for _ in 0..<(timeoutMs / 2) {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}

/// Collects values handed over from the reactor thread.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
    var count: Int { values.withLock { $0.count } }
}

func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
