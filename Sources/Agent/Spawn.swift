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

enum FileIO {
    /// Writes via a temporary file, fsync and rename, so readers never see half a file.
    static func writeAtomically(path: String, bytes: [UInt8]) throws(SpawnError) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty { _ = mkdir(directory, 0o755) }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpawnError(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                throw SpawnError(description: "cannot write \(temporary): \(reason)")
            }
            offset += written
        }
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw SpawnError(description: "cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
    }

    /// The whole file, or nil if it cannot be read.
    static func read(path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            out += buffer.prefix(count)
        }
        return out
    }
}
