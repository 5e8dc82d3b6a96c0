import JSON

#if canImport(Glibc)
import Glibc
#endif

/// The OCI runtime command line (runc, or crun: same verbs): run detached, state, exec, kill, delete.
public struct ContainerRuntime: Sendable {
    /// "runc" or "crun", or a full path.
    public var program: String
    /// The runtime's state directory (`--root`); nil for its default (/run/runc, /run/crun).
    public var root: String?
    public var commandTimeoutMilliseconds: Int64 = 30_000

    public init(program: String = "runc", root: String? = nil) {
        self.program = program
        self.root = root
    }

    public enum Status: String, Sendable, Equatable {
        case creating, created, running, paused, stopped
    }

    private var base: [String] { [program] + (root.map { ["--root", $0] } ?? []) }

    /// Starts the bundle's container in the background; its output goes to `logPath`.
    public func runDetached(id: String, bundle: String, logPath: String) throws(UpdateError) {
        let result = try Subprocess.run(base + ["run", "--detach", "--bundle", bundle, "--pid-file", bundle + "/pid", id],
                                        outputPath: logPath, timeoutMilliseconds: commandTimeoutMilliseconds)
        guard result.status == 0 else {
            throw UpdateError(.runtime, "\(program) run \(id) exited \(result.status); see \(logPath)")
        }
    }

    /// The container's status, or nil when the runtime does not know it.
    public func status(id: String) -> Status? {
        guard let result = try? Subprocess.run(base + ["state", id], timeoutMilliseconds: commandTimeoutMilliseconds),
              result.status == 0, let json = try? JSON.parse(result.output, limits: JSONLimits(maxBytes: 1 << 20)),
              let text = json["status"]?.stringValue else { return nil }
        return Status(rawValue: text)
    }

    /// The exit code of `args` run inside the container.
    public func exec(id: String, _ args: [String], timeoutMilliseconds: Int64) throws(UpdateError) -> Int32 {
        try Subprocess.run(base + ["exec", id] + args, timeoutMilliseconds: timeoutMilliseconds).status
    }

    /// SIGTERM, up to `graceMilliseconds` to stop, then SIGKILL; then the container is deleted.
    public func stop(id: String, graceMilliseconds: Int64 = 5_000) {
        guard let state = status(id: id) else { return }
        if state == .running || state == .paused {
            _ = try? Subprocess.run(base + ["kill", id, "TERM"], timeoutMilliseconds: commandTimeoutMilliseconds)
            let deadline = monotonicMilliseconds() + graceMilliseconds
            while monotonicMilliseconds() < deadline, status(id: id) == .running {
                usleep(50_000)
            }
        }
        _ = try? Subprocess.run(base + ["delete", "--force", id], timeoutMilliseconds: commandTimeoutMilliseconds)
    }
}
