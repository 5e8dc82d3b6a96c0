#if canImport(Glibc)
import Glibc
#endif

struct SpawnError: Error, CustomStringConvertible {
    var description: String
}

enum Spawn {
    /// Starts `argv` without waiting for it; the agent reaps children with SIGCHLD ignored.
    static func detached(_ argv: [String]) throws(SpawnError) {
        guard let program = argv.first else { throw SpawnError(description: "empty command") }
        signal(SIGCHLD, SIG_IGN)
        var pid = pid_t()
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        let rc = posix_spawnp(&pid, program, nil, nil, cArgs, environ)
        guard rc == 0 else {
            throw SpawnError(description: "cannot run \(program): \(String(cString: strerror(rc)))")
        }
    }
}
