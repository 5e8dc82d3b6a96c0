#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small crash-safe file operations for files that must be either old or new after a power cut
/// (trusted metadata, repository files): write to a temporary name, fsync, rename over, fsync
/// the directory. The same sequence as the event log's atomic writes.
public enum DurableFile {
    /// A failed file operation: the errno and a sentence for operators.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let errno: Int32
        public let path: String
        public let operation: String

        public var description: String {
            let reason = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
            var text = "cannot \(operation) \(path): \(reason)"
            if errno == ENOSPC || errno == EDQUOT { text += " (ENOSPC): free space on that file system" }
            if errno == EROFS { text += " (EROFS): the file system is read-only" }
            if errno == EACCES || errno == EPERM { text += ": give this user write access to the directory" }
            return text
        }

        public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

        public init(errno: Int32, path: String, operation: String) {
            self.errno = errno
            self.path = path
            self.operation = operation
        }
    }

    /// Replaces `path` with `bytes` atomically and durably; the temporary file is `.NAME.tmp` in
    /// the same directory and is removed on failure.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(Failure) {
        let directory = parent(of: path)
        let temporary = directory + "/." + basename(of: path) + ".tmp"
        let fd = retrying { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        guard fd.result >= 0 else { throw Failure(errno: fd.errno, path: temporary, operation: "create") }
        if let failure = writeAll(fd.result, bytes) ?? (retrying { fsync(fd.result) }.result == 0 ? nil : errno) {
            close(fd.result)
            unlink(temporary)
            throw Failure(errno: failure, path: temporary, operation: "write")
        }
        close(fd.result)
        let renamed = retrying { rename(temporary, path) }
        guard renamed.result == 0 else {
            unlink(temporary)
            throw Failure(errno: renamed.errno, path: path, operation: "rename over")
        }
        try syncDirectory(directory)
    }

    /// The whole file, or nil when it does not exist. Refuses files longer than `limit`.
    public static func read(_ path: String, limit: Int = 64 << 20) throws(Failure) -> [UInt8]? {
        let fd = retrying { open(path, O_RDONLY | O_CLOEXEC) }
        if fd.result < 0 {
            if fd.errno == ENOENT { return nil }
            throw Failure(errno: fd.errno, path: path, operation: "open")
        }
        defer { close(fd.result) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in retrying { Glibc.read(fd.result, buffer.baseAddress, buffer.count) } }
            if count.result < 0 { throw Failure(errno: count.errno, path: path, operation: "read") }
            if count.result == 0 { return bytes }
            bytes += chunk[0..<count.result]
            if bytes.count > limit { throw Failure(errno: EFBIG, path: path, operation: "read (larger than \(limit) bytes)") }
        }
    }

    /// `mkdir -p` with `mode` for the directories it creates.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(Failure) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw Failure(errno: errno, path: prefix, operation: "create directory")
            }
        }
    }

    /// Makes renames and new names in `directory` durable.
    public static func syncDirectory(_ directory: String) throws(Failure) {
        let fd = retrying { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd.result >= 0 else { throw Failure(errno: fd.errno, path: directory, operation: "open") }
        defer { close(fd.result) }
        let synced = retrying { fsync(fd.result) }
        guard synced.result == 0 else { throw Failure(errno: synced.errno, path: directory, operation: "fsync") }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func basename(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Writes every byte, retrying EINTR and short writes; the errno on failure.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { buffer in writeAll(fd, buffer) }
    }

    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < buffer.count {
            let written = retrying { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            if written.result < 0 { return written.errno }
            // A regular file that takes nothing is as good as full.
            if written.result == 0 { return ENOSPC }
            offset += written.result
        }
        return nil
    }
}

/// Runs `call` until it does not fail with EINTR; errno is read at once.
func retrying<T: BinaryInteger>(_ call: () -> T) -> (result: T, errno: Int32) {
    while true {
        let result = call()
        if result != -1 { return (result, 0) }
        let code = errno
        if code != EINTR { return (result, code) }
    }
}
