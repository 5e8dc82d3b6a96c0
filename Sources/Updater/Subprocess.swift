#if canImport(Glibc)
import Glibc
#endif

/// Runs helper programs (the container runtime) with posix_spawn: stdin from /dev/null, output to
/// a file or captured, a time limit. Needs SIGCHLD at its default disposition (the agent's
/// `Spawn.detached` ignores it; the updater does not run in that process mode).
enum Subprocess {
    struct Result {
        var status: Int32
        var output: [UInt8]
        var text: String { String(decoding: output, as: UTF8.self) }
    }

    /// Runs `argv` to completion. `outputPath` receives stdout and stderr when given (appended);
    /// otherwise both are captured (up to 1 MiB). Kills the child after `timeoutMilliseconds`.
    static func run(_ argv: [String], outputPath: String? = nil,
                    timeoutMilliseconds: Int64 = 30_000) throws(UpdateError) -> Result {
        guard let program = argv.first else { throw UpdateError(.runtime, "empty command") }
        var pipeFDs: [Int32] = [-1, -1]
        var outputFD: Int32 = -1
        if let outputPath {
            outputFD = open(outputPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard outputFD >= 0 else { throw .system(errno, "open", outputPath, consequence: "\(program) was not run") }
        } else {
            guard pipe(&pipeFDs) == 0 else { throw .system(errno, "pipe", program, consequence: "not run") }
            for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            outputFD = pipeFDs[1]
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child gets default signal handling and its own process group.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid = pid_t()
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        let rc = posix_spawnp(&pid, program, &actions, &attributes, cArgs, environ)
        if outputPath != nil { close(outputFD) } else { close(pipeFDs[1]) }
        guard rc == 0 else {
            if outputPath == nil { close(pipeFDs[0]) }
            throw UpdateError(.runtime, errno: rc, "cannot run \(program): \(String(cString: strerror(rc)))")
        }
        var output: [UInt8] = []
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        var status: Int32 = 0
        var chunk = [UInt8](repeating: 0, count: 4096)
        var open = outputPath == nil
        while true {
            if open {
                var poller = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, 20)
                if poller.revents != 0 {
                    let got = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
                    if got > 0 {
                        if output.count < 1 << 20 { output += chunk[0..<got] }
                        continue
                    }
                    if got == 0 || (got < 0 && errno != EINTR) {
                        open = false
                        close(pipeFDs[0])
                    }
                }
            }
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0 && errno != EINTR { break }
            if monotonicMilliseconds() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                if open { close(pipeFDs[0]) }
                throw UpdateError(.runtime, "\(argv.joined(separator: " ")) did not finish within \(timeoutMilliseconds) ms")
            }
            if !open { usleep(5_000) }
        }
        if open {
            // Drain what is left after the exit.
            while true {
                let got = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
                if got <= 0 { break }
                if output.count < 1 << 20 { output += chunk[0..<got] }
            }
            close(pipeFDs[0])
        }
        let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(status: exitCode, output: output)
    }
}

func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Milliseconds on CLOCK_BOOTTIME: monotonic, shared by every process of one boot, counting suspend.
public func bootTimeMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
