#if canImport(Glibc)
import Glibc
#endif

/// The system calls a crash-safe writer makes, in the style of swift-system's mocking: tests replace
/// single calls to inject ENOSPC, EIO, or a crash part-way through a write. Each closure behaves
/// like the libc call: it returns -1 and sets `errno` on failure.
public struct FileSystemCalls {
    public var open: (_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32
    public var read: (_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int
    public var write: (_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
    public var fsync: (_ fd: Int32) -> Int32
    public var ftruncate: (_ fd: Int32, _ length: Int64) -> Int32
    public var rename: (_ from: String, _ to: String) -> Int32
    public var unlink: (_ path: String) -> Int32
    public var mkdir: (_ path: String, _ mode: mode_t) -> Int32
    public var close: (_ fd: Int32) -> Int32

    public init(open: @escaping (String, Int32, mode_t) -> Int32,
                read: @escaping (Int32, UnsafeMutableRawBufferPointer) -> Int,
                write: @escaping (Int32, UnsafeRawBufferPointer) -> Int,
                fsync: @escaping (Int32) -> Int32,
                ftruncate: @escaping (Int32, Int64) -> Int32,
                rename: @escaping (String, String) -> Int32,
                unlink: @escaping (String) -> Int32,
                mkdir: @escaping (String, mode_t) -> Int32,
                close: @escaping (Int32) -> Int32) {
        self.open = open
        self.read = read
        self.write = write
        self.fsync = fsync
        self.ftruncate = ftruncate
        self.rename = rename
        self.unlink = unlink
        self.mkdir = mkdir
        self.close = close
    }

    public static var live: FileSystemCalls { liveCalls() }
}

/// The real calls. Built outside the struct so the names mean libc's functions, not its properties.
private func liveCalls() -> FileSystemCalls {
    FileSystemCalls(
        open: { path, flags, mode in open(path, flags, mode) },
        read: { fd, buffer in read(fd, buffer.baseAddress, buffer.count) },
        write: { fd, bytes in write(fd, bytes.baseAddress, bytes.count) },
        fsync: { fd in fsync(fd) },
        ftruncate: { fd, length in ftruncate(fd, off_t(length)) },
        rename: { from, to in rename(from, to) },
        unlink: { path in unlink(path) },
        mkdir: { path, mode in mkdir(path, mode) },
        close: { fd in close(fd) })
}

/// A failed step of `DurableFile.replace`: which call, on which path, with which errno.
public struct DurableWriteFailure: Error, Sendable, Equatable {
    public var errno: Int32
    /// "create", "write", "rename over" or "fsync".
    public var operation: String
    public var path: String
    /// True when the new contents are in place but their directory entry may not be durable yet.
    public var replaced: Bool
}

/// The same replacement through a syscall seam, with named steps for fault injection (the event
/// log's and the updater's writes).
extension DurableFile {
    /// Temp file (`path.tmp`) + write + fsync + rename over `path` + fsync of the directory.
    /// `step` is called between the steps with their names, for fault injection.
    public static func replace(calls: FileSystemCalls = .live, directoryFD: Int32, path: String, _ bytes: [UInt8],
                               mode: mode_t = 0o600, step: (String) -> Void = { _ in }) -> DurableWriteFailure? {
        let temporary = path + ".tmp"
        let fd = retrying { calls.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        guard fd.result >= 0 else {
            return DurableWriteFailure(errno: fd.errno, operation: "create", path: temporary, replaced: false)
        }
        step("write")
        if let failure = writeAll(calls: calls, fd.result, bytes) ?? { step("fsync"); return syncFailure(calls: calls, fd.result) }() {
            _ = calls.close(fd.result)
            _ = calls.unlink(temporary)
            return DurableWriteFailure(errno: failure, operation: "write", path: temporary, replaced: false)
        }
        _ = calls.close(fd.result)
        step("rename")
        let renamed = retrying { calls.rename(temporary, path) }
        guard renamed.result == 0 else {
            _ = calls.unlink(temporary)
            return DurableWriteFailure(errno: renamed.errno, operation: "rename over", path: path, replaced: false)
        }
        step("fsync-directory")
        if let failure = syncFailure(calls: calls, directoryFD) {
            return DurableWriteFailure(errno: failure, operation: "fsync", path: path, replaced: true)
        }
        return nil
    }

    /// Writes every byte through `calls`, retrying EINTR and short writes; the errno on failure.
    public static func writeAll(calls: FileSystemCalls, _ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { buffer in writeAll(calls: calls, fd, buffer) }
    }

    public static func writeAll(calls: FileSystemCalls, _ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < buffer.count {
            let written = retrying { calls.write(fd, UnsafeRawBufferPointer(rebasing: buffer[offset...])) }
            if written.result < 0 { return written.errno }
            // A regular file that takes nothing is as good as full.
            if written.result == 0 { return ENOSPC }
            offset += written.result
        }
        return nil
    }

    /// fsync, retrying EINTR; the errno on failure.
    public static func syncFailure(calls: FileSystemCalls = .live, _ fd: Int32) -> Int32? {
        let synced = retrying { calls.fsync(fd) }
        return synced.result == 0 ? nil : synced.errno
    }

    /// mkdir -p, syncing the parent of each directory it creates so the new directory survives a
    /// power cut. The errno and path on failure.
    public static func makeDurableDirectories(_ path: String, mode: mode_t = 0o755,
                                              calls: FileSystemCalls = .live) -> (errno: Int32, path: String)? {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            let parent = prefix.isEmpty ? "/" : prefix
            prefix += "/" + component
            let made = retrying { calls.mkdir(prefix, mode) }
            if made.result == 0 {
                let fd = retrying { calls.open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
                if fd.result >= 0 {
                    _ = syncFailure(calls: calls, fd.result)
                    _ = calls.close(fd.result)
                }
            } else {
                var info = stat()
                if !(stat(prefix, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR) {
                    return (made.errno, prefix)
                }
            }
        }
        return nil
    }

    /// Runs `call` until it does not fail with EINTR; errno is read at once.
    public static func retrying<T: BinaryInteger>(_ call: () -> T) -> (result: T, errno: Int32) {
        while true {
            let result = call()
            if result != -1 { return (result, 0) }
            let code = errno
            if code != EINTR { return (result, code) }
        }
    }

    /// "No space left on device (ENOSPC)": strerror plus the symbolic name people search for.
    public static func errorText(_ code: Int32) -> String {
        let text = strerror(code).map { String(cString: $0) } ?? "unknown error"
        let names: [Int32: String] = [
            ENOSPC: "ENOSPC", EDQUOT: "EDQUOT", EIO: "EIO", EACCES: "EACCES", EPERM: "EPERM", EROFS: "EROFS",
            ENOENT: "ENOENT", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EEXIST: "EEXIST", EBADF: "EBADF",
            EMFILE: "EMFILE", ENFILE: "ENFILE", EFBIG: "EFBIG", EWOULDBLOCK: "EWOULDBLOCK",
        ]
        return "\(text) (\(names[code] ?? "errno \(code)"))"
    }
}
