#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The write end of the self-pipe that SIGINT/SIGTERM write to; a signal handler may only write(2).
private let signalPipeWriteFD = Atomic<Int32>(-1)

extension Reactor {
    /// Calls `handler` on the loop thread when SIGINT or SIGTERM arrives (once per signal).
    public func onTerminationSignal(_ handler: @escaping (Int32) -> Void) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        signalPipeWriteFD.store(fds[1], ordering: .releasing)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            var byte = UInt8(truncatingIfNeeded: signal)
            _ = write(signalPipeWriteFD.load(ordering: .relaxed), &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        signal(SIGPIPE, SIG_IGN)
        let readFD = fds[0]
        watch(fd: readFD) { _ in
            var byte: UInt8 = 0
            if read(readFD, &byte, 1) == 1 { handler(Int32(byte)) }
        }
    }
}
