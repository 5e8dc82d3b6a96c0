#if canImport(Glibc)
import Glibc
#endif
import BLE
import Synchronization

/// The checkout's root, found from this file's path (Tests/BLETests/Support.swift).
let repositoryRoot: String = {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

let fixturesDirectory = repositoryRoot + "/Tests/BLETests/Fixtures"
let boardsDirectory = repositoryRoot + "/boards"

func fixture(_ name: String) throws -> HCITrace {
    try HCITrace.load(path: fixturesDirectory + "/" + name)
}

/// "04 3E 2A ..." → bytes; traps on a typo in a test.
func bytes(_ hex: String) -> [UInt8] {
    guard let decoded = HCITrace.decodeHex(Substring(hex.replacing("\n", with: " "))) else { preconditionFailure("bad hex in test: \(hex)") }
    return decoded
}

private let uniqueCounter = Atomic<Int>(0)

/// A path under /tmp that no other test (or test process) uses.
func uniqueTemporaryPath(_ suffix: String) -> String {
    let n = uniqueCounter.add(1, ordering: .relaxed).newValue
    return "/tmp/nanoedge-bletest-\(getpid())-\(n)\(suffix)"
}

func writeFile(_ path: String, _ text: String) {
    guard let file = fopen(path, "w") else { preconditionFailure("fopen \(path): errno \(errno)") }
    fputs(text, file)
    fclose(file)
}

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
