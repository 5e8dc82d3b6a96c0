#if canImport(Glibc)
import Glibc
#endif

/// Applies image layers to a rootfs directory, in order, the way a container runtime's snapshotter
/// would: whiteouts delete what lower layers made, later entries replace earlier ones.
///
/// Nothing is ever written outside the rootfs. Every path is walked one component at a time from
/// an open descriptor of the rootfs with `O_NOFOLLOW`; entries with `..` or an absolute path are
/// refused; a symbolic link met on the way is followed only when it is relative and stays inside
/// the rootfs (an absolute link is refused as a parent: its meaning on the host is not the one in
/// the container). Links themselves are created as stored, since they are only read inside the
/// container.
public final class RootfsWriter {
    public struct Options: Sendable {
        /// chown entries to the uid/gid the layer gives (needs root).
        public var preserveOwnership: Bool
        /// Create character and block devices (needs root); otherwise they are skipped and counted.
        public var createDevices: Bool

        public init(preserveOwnership: Bool = geteuid() == 0, createDevices: Bool = geteuid() == 0) {
            self.preserveOwnership = preserveOwnership
            self.createDevices = createDevices
        }
    }

    public struct Stats: Sendable, Equatable {
        public var entries = 0
        public var files = 0
        public var bytes: Int64 = 0
        public var whiteouts = 0
        public var skippedDevices = 0
        public init() {}
    }

    public let rootfs: String
    public let options: Options
    private let rootFD: Int32
    /// Resolved paths made by the layer being applied; an opaque whiteout keeps them. Bytes, since
    /// `String` equality would merge names that differ only in Unicode normalisation.
    private var madeInLayer = Set<[UInt8]>()
    private var buffer = [UInt8](repeating: 0, count: 128 * 1024)

    /// Opens `rootfs`, which must be an existing directory (not a link to one).
    public init(rootfs: String, options: Options = Options()) throws(OCIError) {
        let opened = retryingEINTR { open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened.result >= 0 else { throw .system(opened.errno, "open rootfs", rootfs) }
        self.rootfs = rootfs
        self.options = options
        rootFD = opened.result
    }

    deinit { close(rootFD) }

    /// Applies one uncompressed layer tar.
    @discardableResult
    public func apply(layer reader: TarReader) throws(OCIError) -> Stats {
        madeInLayer.removeAll(keepingCapacity: true)
        var stats = Stats()
        while let entry = try reader.next() {
            stats.entries += 1
            try apply(entry, reader: reader, stats: &stats)
        }
        return stats
    }

    // MARK: Entries

    private func apply(_ entry: TarEntry, reader: TarReader, stats: inout Stats) throws(OCIError) {
        let path = try OCIPath(entry.path)
        guard let name = path.components.last else {
            // "./": the rootfs itself; its mode is ours to choose.
            return
        }
        let parentPath = OCIPath(components: Array(path.components.dropLast()))
        let (parentFD, parentResolved) = try openDirectory(parentPath, createMissing: true, entry: entry.path)
        defer { close(parentFD) }
        let resolved = (parentResolved + [name]).joined(separator: "/")

        if name.utf8.elementsEqual(".wh..wh..opq".utf8) {
            // Opaque directory: hide everything lower layers put here, keep what this layer adds.
            let prefix = parentResolved.joined(separator: "/")
            try FileTree.removeChildren(of: parentFD, displayPath: display(prefix)) { child in
                self.madeInLayer.contains(Array((prefix.isEmpty ? child : prefix + "/" + child).utf8))
            }
            stats.whiteouts += 1
            return
        }
        if name.utf8.starts(with: ".wh.".utf8) {
            let hidden = String(decoding: name.utf8.dropFirst(4), as: UTF8.self)
            guard !hidden.isEmpty, !hidden.utf8.elementsEqual(".".utf8), !hidden.utf8.elementsEqual("..".utf8) else {
                throw OCIError(.unsafePath, "whiteout entry \"\(entry.path)\" names no file")
            }
            try FileTree.remove(hidden, in: parentFD, displayPath: display((parentResolved + [hidden]).joined(separator: "/")))
            stats.whiteouts += 1
            return
        }

        switch entry.kind {
        case .directory:
            try makeDirectory(name, in: parentFD, entry: entry, resolved: resolved)
        case .regular:
            try replace(name, in: parentFD, resolved: resolved)
            try writeFile(name, in: parentFD, entry: entry, reader: reader, resolved: resolved)
            stats.files += 1
            stats.bytes += entry.size
        case .symbolicLink:
            guard !entry.linkTarget.isEmpty else {
                throw OCIError(.invalidTar, "symbolic link \"\(entry.path)\" has an empty target")
            }
            try replace(name, in: parentFD, resolved: resolved)
            guard symlinkat(entry.linkTarget, parentFD, name) == 0 else {
                throw .system(errno, "create symbolic link", display(resolved))
            }
            try finish(name, in: parentFD, entry: entry, resolved: resolved, isLink: true)
        case .hardLink:
            let target = try OCIPath(entry.linkTarget)
            guard let targetName = target.components.last else {
                throw OCIError(.unsafePath, "hard link \"\(entry.path)\" points at the rootfs itself")
            }
            let (targetParent, _) = try openDirectory(OCIPath(components: Array(target.components.dropLast())),
                                                      createMissing: false, entry: entry.linkTarget)
            defer { close(targetParent) }
            try replace(name, in: parentFD, resolved: resolved)
            guard linkat(targetParent, targetName, parentFD, name, 0) == 0 else {
                let code = errno
                throw OCIError(code == ENOENT ? .invalidTar : .io, errno: code,
                               "hard link \(display(resolved)) → \(target): \(String(cString: strerror(code))); "
                                   + "a hard link must name a file already in the rootfs")
            }
        case .characterDevice, .blockDevice:
            guard options.createDevices else {
                stats.skippedDevices += 1
                return
            }
            try replace(name, in: parentFD, resolved: resolved)
            let type = entry.kind == .characterDevice ? S_IFCHR : S_IFBLK
            guard mknodat(parentFD, name, type | mode_t(entry.mode & 0o777),
                          makeDevice(entry.deviceMajor, entry.deviceMinor)) == 0 else {
                throw .system(errno, "create device", display(resolved))
            }
            try finish(name, in: parentFD, entry: entry, resolved: resolved, isLink: false)
        case .fifo:
            try replace(name, in: parentFD, resolved: resolved)
            guard mknodat(parentFD, name, S_IFIFO | mode_t(entry.mode & 0o777), 0) == 0 else {
                throw .system(errno, "create fifo", display(resolved))
            }
            try finish(name, in: parentFD, entry: entry, resolved: resolved, isLink: false)
        case .other(let flag):
            throw OCIError(.unsupported, "entry \"\(entry.path)\" has tar type '\(Character(Unicode.Scalar(flag)))', "
                               + "which layers do not use; rebuild the image with a standard tar")
        }
        madeInLayer.insert(Array(resolved.utf8))
    }

    /// Removes what lower layers left at `name`, unless it is a directory this entry keeps.
    private func replace(_ name: String, in parent: Int32, resolved: String) throws(OCIError) {
        try FileTree.remove(name, in: parent, displayPath: display(resolved))
    }

    private func makeDirectory(_ name: String, in parent: Int32, entry: TarEntry, resolved: String) throws(OCIError) {
        var info = stat()
        let exists = fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0
        if exists && (info.st_mode & S_IFMT) != S_IFDIR {
            try replace(name, in: parent, resolved: resolved)
        }
        if !exists || (info.st_mode & S_IFMT) != S_IFDIR {
            guard mkdirat(parent, name, 0o700) == 0 else { throw .system(errno, "create directory", display(resolved)) }
        }
        let dir = retryingEINTR { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard dir.result >= 0 else { throw .system(dir.errno, "open", display(resolved)) }
        defer { close(dir.result) }
        try own(fd: dir.result, entry: entry, resolved: resolved)
    }

    private func writeFile(_ name: String, in parent: Int32, entry: TarEntry, reader: TarReader,
                           resolved: String) throws(OCIError) {
        let opened = retryingEINTR { openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard opened.result >= 0 else { throw .system(opened.errno, "create", display(resolved)) }
        let fd = opened.result
        defer { close(fd) }
        while true {
            let got = try buffer.withBytes { bytes throws(OCIError) in try reader.readData(into: bytes) }
            if got == 0 { break }
            var offset = 0
            while offset < got {
                let written = buffer.withUnsafeBytes { bytes in
                    retryingEINTR { write(fd, bytes.baseAddress! + offset, got - offset) }
                }
                guard written.result > 0 else {
                    throw .system(written.result == 0 ? ENOSPC : written.errno, "write", display(resolved))
                }
                offset += written.result
            }
        }
        try own(fd: fd, entry: entry, resolved: resolved)
        var times = [timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0),
                     timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0)]
        _ = futimens(fd, &times)
    }

    /// Owner, mode (after chown, which clears setuid) and times for entries made by name.
    private func finish(_ name: String, in parent: Int32, entry: TarEntry, resolved: String, isLink: Bool) throws(OCIError) {
        if options.preserveOwnership {
            guard fchownat(parent, name, uid_t(entry.uid), gid_t(entry.gid), AT_SYMLINK_NOFOLLOW) == 0 else {
                throw .system(errno, "chown", display(resolved))
            }
        }
        if !isLink {
            // A just-made node, not a link: fchmodat cannot be redirected here.
            _ = fchmodat(parent, name, mode_t(entry.mode & 0o7777), 0)
        }
        var times = [timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0),
                     timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0)]
        _ = utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
    }

    private func own(fd: Int32, entry: TarEntry, resolved: String) throws(OCIError) {
        if options.preserveOwnership {
            guard fchown(fd, uid_t(entry.uid), gid_t(entry.gid)) == 0 else {
                throw .system(errno, "chown", display(resolved))
            }
        }
        guard fchmod(fd, mode_t(entry.mode & 0o7777)) == 0 else { throw .system(errno, "chmod", display(resolved)) }
    }

    // MARK: Walking

    /// Opens the directory at `path` inside the rootfs, following only links that stay inside, and
    /// creating missing directories when asked. Returns the descriptor and the resolved components.
    private func openDirectory(_ path: OCIPath, createMissing: Bool,
                               entry: String) throws(OCIError) -> (fd: Int32, resolved: [String]) {
        var pending = path.components[...]
        var resolved: [String] = []
        var fd = dup(rootFD)
        guard fd >= 0 else { throw .system(errno, "dup", rootfs) }
        var linksFollowed = 0
        while let component = pending.first {
            pending = pending.dropFirst()
            if component.isEmpty || component.utf8.elementsEqual(".".utf8) { continue }
            if component.utf8.elementsEqual("..".utf8) {
                // Only reachable from a link target: climbing above the rootfs is an escape.
                guard !resolved.isEmpty else {
                    close(fd)
                    throw OCIError(.unsafePath, "entry \"\(entry)\" passes through a symbolic link that "
                                       + "climbs above the rootfs; refusing to write outside it")
                }
                resolved.removeLast()
                close(fd)
                fd = try reopen(resolved)
                continue
            }
            var next = retryingEINTR { openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if next.result < 0 && next.errno == ENOENT && createMissing {
                if mkdirat(fd, component, 0o755) != 0 && errno != EEXIST {
                    let code = errno
                    close(fd)
                    throw .system(code, "create directory", display((resolved + [component]).joined(separator: "/")))
                }
                madeInLayer.insert(Array((resolved + [component]).joined(separator: "/").utf8))
                next = retryingEINTR { openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            }
            if next.result >= 0 {
                close(fd)
                fd = next.result
                resolved.append(component)
                continue
            }
            let here = (resolved + [component]).joined(separator: "/")
            guard next.errno == ELOOP || next.errno == ENOTDIR else {
                close(fd)
                throw .system(next.errno, "open directory", display(here))
            }
            let target = readLink(component, in: fd)
            close(fd)
            guard let target else {
                throw OCIError(.invalidTar, "entry \"\(entry)\" needs \(display(here)) to be a directory, "
                                   + "but an earlier entry made it a file")
            }
            if OCIPath.isAbsolute(target) {
                throw OCIError(.unsafePath, "entry \"\(entry)\" would be written through the absolute symbolic link "
                                   + "\(display(here)) → \(target); refusing to follow it while unpacking "
                                   + "(make the link relative, or put the entry at its real path)")
            }
            linksFollowed += 1
            guard linksFollowed <= 40 else {
                throw OCIError(.unsafePath, "entry \"\(entry)\": too many levels of symbolic links")
            }
            // Continue from the link's directory with the target's parts, then the rest.
            let targetParts = OCIPath.split(target).map { String(decoding: $0, as: UTF8.self) }
            pending = (targetParts + Array(pending))[...]
            fd = try reopen(resolved)
        }
        return (fd, resolved)
    }

    private func reopen(_ components: [String]) throws(OCIError) -> Int32 {
        var fd = dup(rootFD)
        for component in components {
            let next = retryingEINTR { openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            close(fd)
            guard next.result >= 0 else { throw .system(next.errno, "open directory", display(components.joined(separator: "/"))) }
            fd = next.result
        }
        return fd
    }

    private func readLink(_ name: String, in dir: Int32) -> String? {
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return nil }
        var bytes = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(dir, name, &bytes, bytes.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: bytes[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func display(_ resolved: String) -> String { rootfs + "/" + resolved }
}

/// glibc's makedev, which Swift does not import.
func makeDevice(_ major: UInt32, _ minor: UInt32) -> dev_t {
    // One term per statement: a single expression of four shifted masks is too much for some
    // compilers' type checker.
    let major = UInt64(major)
    let minor = UInt64(minor)
    let majorHigh: UInt64 = (major & 0xFFFF_F000) << 32
    let majorLow: UInt64 = (major & 0xFFF) << 8
    let minorHigh: UInt64 = (minor & 0xFFFF_FF00) << 12
    let minorLow: UInt64 = minor & 0xFF
    return dev_t(majorHigh | majorLow | minorHigh | minorLow)
}
