#if canImport(Glibc)
import Glibc
#endif

/// Power-cut injection for tests: the updater names every boundary between writes, fsyncs and
/// renames (`step`), and counts the bytes it stages (`bytesWritten`). From the environment:
///
/// - `NANOEDGE_FAULT_STEP=name`: SIGKILL ourselves on reaching that step (first time).
/// - `NANOEDGE_FAULT_AT=k`: SIGKILL on reaching the k-th step of this process (1-based).
/// - `NANOEDGE_FAULT_AFTER_BYTES=n`: SIGKILL once n bytes have been staged.
/// - `NANOEDGE_FAULT_TRACE=file`: append every step name to the file (to enumerate the steps).
///
/// Without those variables every call is a no-op.
public final class FaultInjector: @unchecked Sendable {
    private let killAtStep: String?
    private let killAtIndex: Int?
    private let killAfterBytes: Int64?
    private let traceFD: Int32
    private var stepsSeen = 0
    private var bytesSeen: Int64 = 0

    public static let none = FaultInjector(step: nil, index: nil, bytes: nil, trace: nil)

    public init(step: String?, index: Int?, bytes: Int64?, trace: String?) {
        killAtStep = step
        killAtIndex = index
        killAfterBytes = bytes
        traceFD = trace.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) } ?? -1
    }

    deinit { if traceFD >= 0 { close(traceFD) } }

    public static func fromEnvironment() -> FaultInjector {
        func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        let step = value("NANOEDGE_FAULT_STEP")
        let index = value("NANOEDGE_FAULT_AT").flatMap { Int($0) }
        let bytes = value("NANOEDGE_FAULT_AFTER_BYTES").flatMap { Int64($0) }
        let trace = value("NANOEDGE_FAULT_TRACE")
        if step == nil && index == nil && bytes == nil && trace == nil { return .none }
        return FaultInjector(step: step, index: index, bytes: bytes, trace: trace)
    }

    public var isActive: Bool { killAtStep != nil || killAtIndex != nil || killAfterBytes != nil || traceFD >= 0 }

    public func step(_ name: String) {
        guard isActive else { return }
        stepsSeen += 1
        if traceFD >= 0 {
            let line = Array((name + "\n").utf8)
            _ = line.withUnsafeBytes { write(traceFD, $0.baseAddress, $0.count) }
        }
        if name == killAtStep || stepsSeen == killAtIndex { die() }
    }

    /// Called after each chunk written while staging; dies part-way through the chunk's bytes.
    public func bytesWritten(_ count: Int) {
        guard let limit = killAfterBytes else { return }
        bytesSeen += Int64(count)
        if bytesSeen >= limit { die() }
    }

    /// How many bytes of the next chunk may be written before the kill (nil: all of them).
    public func allowance(_ count: Int) -> Int {
        guard let limit = killAfterBytes else { return count }
        return Int(max(0, min(Int64(count), limit - bytesSeen)))
    }

    private func die() {
        kill(getpid(), SIGKILL)
        while true { pause() }
    }
}
