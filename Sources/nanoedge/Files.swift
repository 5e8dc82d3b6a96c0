#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A key file written in two steps: `stage` puts the bytes in a private temporary file next to the
/// target, `publish` moves it into place. Between the two the caller may record the key elsewhere
/// (the site database), so a failure on either side leaves no half-issued key behind.
final class StagedSecretFile {
    let path: String
    private let temporaryPath: String

    /// Writes `contents` with mode 0600 to a temporary file in `path`'s directory, creating that
    /// directory (mode 0700) if it is missing. Fails early if `path` exists and `overwrite` is false.
    init(path: String, contents: String, overwrite: Bool) throws(CommandFailure) {
        self.path = path
        let directory = parentDirectory(of: path)
        if !overwrite, access(path, F_OK) == 0 {
            throw CommandFailure("\(path) already exists; pass --force to replace it")
        }
        try makeDirectories(directory, mode: 0o700)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        temporaryPath = (directory == "/" ? "" : directory) + "/.\(name).tmp-\(getpid())"

        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemFailure("create \(temporaryPath)") }
        do throws(CommandFailure) {
            // The umask can only take bits away; set the mode outright so it is exactly 0600.
            guard fchmod(fd, 0o600) == 0 else { throw systemFailure("chmod \(temporaryPath)") }
            try writeAll(fd, Array(contents.utf8), path: temporaryPath)
            guard fsync(fd) == 0 else { throw systemFailure("fsync \(temporaryPath)") }
            close(fd)
        } catch {
            close(fd)
            unlink(temporaryPath)
            throw error
        }
    }

    /// Moves the file into place: replacing an existing file if `overwrite`, refusing otherwise (the
    /// check is link(2), which fails atomically if another process created the file meanwhile).
    func publish(overwrite: Bool) throws(CommandFailure) {
        if overwrite {
            guard rename(temporaryPath, path) == 0 else { throw systemFailure("rename to \(path)") }
        } else if link(temporaryPath, path) != 0 {
            if errno == EEXIST { throw CommandFailure("\(path) already exists; pass --force to replace it") }
            throw systemFailure("create \(path)")
        }
        syncDirectory(parentDirectory(of: path))
    }

    /// Removes the temporary name: after a link it is a second name of the published file, after a
    /// rename it is already gone, and unpublished it is a key nobody will use.
    deinit {
        unlink(temporaryPath)
    }
}

/// The whole file as UTF-8 text.
func readTextFile(_ path: String, limit: Int = 1 << 20) throws(CommandFailure) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw systemFailure("open \(path)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw systemFailure("read \(path)")
        }
        if count == 0 { break }
        bytes += chunk[0..<count]
        guard bytes.count <= limit else { throw CommandFailure("\(path) is larger than \(limit) bytes") }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw CommandFailure("\(path) is not UTF-8 text")
    }
    return text
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(CommandFailure) {
    var offset = 0
    while offset < bytes.count {
        let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if count < 0 {
            if errno == EINTR { continue }
            throw systemFailure("write \(path)")
        }
        offset += count
    }
}

private func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// `mkdir -p` with `mode` for the directories it creates; existing ones are left as they are.
private func makeDirectories(_ path: String, mode: mode_t) throws(CommandFailure) {
    var info = stat()
    if stat(path, &info) == 0 {
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw CommandFailure("\(path) is not a directory") }
        return
    }
    let parent = parentDirectory(of: path)
    if parent != path { try makeDirectories(parent, mode: mode) }
    if mkdir(path, mode) == 0 {
        // As for files: the umask must not change what a key directory gets.
        chmod(path, mode)
    } else if errno != EEXIST {
        throw systemFailure("create directory \(path)")
    }
}

/// Makes a rename or link in `directory` durable.
private func syncDirectory(_ directory: String) {
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}

private func systemFailure(_ operation: String) -> CommandFailure {
    let code = errno
    let reason = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    return CommandFailure("cannot \(operation): \(reason)")
}
