import Foundation

/// The processes this one started, found by their parent in /proc. Foundation's Process starts every
/// child in a process group of its own, so a terminal's Ctrl-C or a `kill -- -PGID` reaches only the
/// simulation's own process; this is how it finds the rest.
public enum ChildProcesses {
    /// The live children of this process (zombies left out: they are gone, only not yet reaped).
    public static func running() -> [pid_t] {
        let me = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { name -> pid_t? in
            guard let pid = pid_t(name), pid != me,
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After the command's closing parenthesis (a command may contain spaces and parentheses):
            // the state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, fields[0] != "Z", pid_t(fields[1]) == me else { return nil }
            return pid
        }
    }

    /// SIGTERM to every child until none is left, SIGKILL to those still there after `grace`.
    /// Returns once a look finds none, or after `grace` plus two seconds.
    public static func terminateAll(grace: TimeInterval) {
        let killAfter = Date().addingTimeInterval(grace)
        let giveUp = killAfter.addingTimeInterval(2)
        while Date() < giveUp {
            let children = running()
            if children.isEmpty { return }
            let signal = Date() < killAfter ? SIGTERM : SIGKILL
            for pid in children { kill(pid, signal) }
            usleep(100_000)
        }
    }
}

/// Set once, read from any thread: the site is being torn down, start nothing more.
final class ShutdownLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false

    var isSet: Bool { lock.withLock { set } }

    func trip() { lock.withLock { set = true } }
}
