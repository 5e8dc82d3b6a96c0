#if canImport(Glibc)
import Glibc
#endif

/// Removing directory trees without ever following a symbolic link: every step is relative to an
/// open directory and uses `AT_SYMLINK_NOFOLLOW`/`O_NOFOLLOW`, so a link inside a slot or rootfs
/// cannot redirect a removal to somewhere else.
public enum FileTree {
    /// Removes `path` and everything below it; a missing path is fine.
    public static func remove(_ path: String) throws(OCIError) {
        let (parent, name) = split(path)
        let dir = retryingEINTR { open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if dir.result < 0 {
            if dir.errno == ENOENT { return }
            throw .system(dir.errno, "open", parent)
        }
        defer { close(dir.result) }
        try remove(name, in: dir.result, displayPath: path)
    }

    /// Empties the directory `path` (keeping it); a missing directory is fine.
    public static func removeContents(of path: String) throws(OCIError) {
        let dir = retryingEINTR { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if dir.result < 0 {
            if dir.errno == ENOENT { return }
            throw .system(dir.errno, "open", path)
        }
        defer { close(dir.result) }
        try removeChildren(of: dir.result, displayPath: path) { _ in false }
    }

    /// Removes `name` in the directory `parent`, recursively when it is a directory (not a link to one).
    static func remove(_ name: String, in parent: Int32, displayPath: String) throws(OCIError) {
        var info = stat()
        if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return }
            throw .system(errno, "stat", displayPath)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            let dir = retryingEINTR { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard dir.result >= 0 else { throw .system(dir.errno, "open", displayPath) }
            do {
                try removeChildren(of: dir.result, displayPath: displayPath) { _ in false }
            } catch {
                close(dir.result)
                throw error
            }
            close(dir.result)
            if unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT {
                throw .system(errno, "remove directory", displayPath)
            }
        } else if unlinkat(parent, name, 0) != 0 && errno != ENOENT {
            throw .system(errno, "remove", displayPath)
        }
    }

    /// Removes the children of the open directory `dir` for which `keep` is false.
    static func removeChildren(of dir: Int32, displayPath: String, keep: (String) -> Bool) throws(OCIError) {
        for name in try names(in: dir, displayPath: displayPath) where !keep(name) {
            try remove(name, in: dir, displayPath: displayPath + "/" + name)
        }
    }

    /// The entries of an open directory, without "." and "..".
    static func names(in dir: Int32, displayPath: String) throws(OCIError) -> [String] {
        let copy = dup(dir)
        guard copy >= 0, let stream = fdopendir(copy) else {
            let code = errno
            throw .system(code, "read directory", displayPath)
        }
        defer { closedir(stream) }
        rewinddir(stream)  // the duplicate shares its offset with `dir`, which may have been read before
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// On bytes: a `/` merged into a `Character` with a combining scalar is still a separator, and
    /// a name that kept one would make `unlinkat` follow links on the way.
    static func split(_ path: String) -> (parent: String, name: String) {
        var trimmed = Array(path.utf8)
        while trimmed.count > 1 && trimmed.last == UInt8(ascii: "/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) else { return (".", String(decoding: trimmed, as: UTF8.self)) }
        let parent = trimmed[..<slash]
        return (parent.isEmpty ? "/" : String(decoding: parent, as: UTF8.self),
                String(decoding: trimmed[(slash + 1)...], as: UTF8.self))
    }
}
