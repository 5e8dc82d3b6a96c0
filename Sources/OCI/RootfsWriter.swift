#if canImport(Glibc)
import Glibc
#endif

/// Applies image layers to a rootfs directory, in order, the way a container runtime's snapshotter
/// would: whiteouts delete what lower layers made, later entries replace earlier ones.
///
/// Nothing is ever written outside the rootfs, by two independent lines:
/// - the kernel: every entry's parent directory is opened from the rootfs descriptor with
///   `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (see `Beneath`), which refuses absolute
///   links and `..` above the rootfs whatever this code believes;
/// - our own walk, one component at a time with `O_NOFOLLOW`: entries with `..` or an absolute
///   path are refused, and a symbolic link met on the way is followed only when it is relative and
///   stays inside the rootfs (an absolute link is refused as a parent: its meaning on the host is
///   not the one in the container). On kernels without `openat2` it is the only line.
/// Both must agree on the directory (same device and inode) before anything is made in it. Links
/// themselves are created as stored, since they are only read inside the container.
///
/// The image is not trusted with the host either: device nodes and FIFOs are never created (they
/// are skipped and counted, see `Stats.skipped`), setuid and setgid bits are cleared unless the
/// policy allows them, and the policy's size, entry and free-space limits are checked before each
/// entry is written, so a layer that expands without bound stops at the limit.
public final class RootfsWriter {
    public struct Options: Sendable {
        /// chown entries to the uid/gid the layer gives (needs root).
        public var preserveOwnership: Bool
        public var policy: UnpackPolicy
        /// Use `openat2` where the kernel has it; off, only the user-space walk guards (tests of the fallback).
        public var kernelResolution: Bool

        public init(preserveOwnership: Bool = geteuid() == 0, policy: UnpackPolicy = UnpackPolicy(),
                    kernelResolution: Bool = true) {
            self.preserveOwnership = preserveOwnership
            self.policy = policy
            self.kernelResolution = kernelResolution
        }
    }

    public struct Stats: Sendable, Equatable {
        public var entries = 0
        public var files = 0
        public var bytes: Int64 = 0
        public var whiteouts = 0
        /// Device nodes and FIFOs, which are never created.
        public var skippedDevices = 0
        /// Files and directories whose setuid or setgid bit was cleared.
        public var strippedSetuid = 0
        /// The first few skipped or altered entries, with the reason, for the log.
        public var notes: [String] = []
        public init() {}

        static let maxNotes = 20

        mutating func note(_ text: String) {
            if notes.count < Stats.maxNotes { notes.append(text) }
        }

        mutating func add(_ other: Stats) {
            entries += other.entries
            files += other.files
            bytes += other.bytes
            whiteouts += other.whiteouts
            skippedDevices += other.skippedDevices
            strippedSetuid += other.strippedSetuid
            for text in other.notes { note(text) }
        }
    }

    public let rootfs: String
    public let options: Options
    private let rootFD: Int32
    /// Whether `openat2` confines lookups here (the kernel has it and the options want it).
    public private(set) var usesKernelResolution: Bool
    /// Totals over every layer applied so far: the policy's limits are for the whole image.
    public private(set) var total = Stats()
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
        usesKernelResolution = options.kernelResolution && Beneath.isAvailable
    }

    deinit { close(rootFD) }

    /// Applies one uncompressed layer tar.
    @discardableResult
    public func apply(layer reader: TarReader) throws(OCIError) -> Stats {
        madeInLayer.removeAll(keepingCapacity: true)
        var stats = Stats()
        while let entry = try reader.next() {
            guard total.entries + stats.entries < options.policy.maxEntries else {
                throw OCIError(.tooLarge, "the image has more than \(options.policy.maxEntries) entries (at \"\(entry.path)\"); "
                                   + "refusing to unpack it. Make the image smaller, or raise custom.unpack.max_entries in the release")
            }
            stats.entries += 1
            try apply(entry, reader: reader, stats: &stats)
        }
        total.add(stats)
        return stats
    }

    /// Refuses a file that would take the image past the byte limit or the file system below its reserve.
    private func checkRoom(for entry: TarEntry, written: Int64) throws(OCIError) {
        let policy = options.policy
        let (sum, overflow) = total.bytes.addingReportingOverflow(written)
        let (after, overflow2) = sum.addingReportingOverflow(entry.size)
        guard !overflow, !overflow2, after <= policy.maxBytes else {
            throw OCIError(.tooLarge, "entry \"\(entry.path)\" (\(entry.size) bytes) would take the image past its "
                               + "\(policy.maxBytes)-byte limit of unpacked data (\(sum) written so far); refusing to unpack it. "
                               + "Make the image smaller, or raise custom.unpack.max_bytes in the release")
        }
        var info = statvfs()
        guard fstatvfs(rootFD, &info) == 0 else { return }
        let free = Int64(clamping: UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize)).partialValue)
        guard free - entry.size >= policy.freeSpaceReserve else {
            throw OCIError(.diskFull, errno: ENOSPC, "entry \"\(entry.path)\" (\(entry.size) bytes) would leave less than "
                               + "\(policy.freeSpaceReserve >> 20) MiB free on the file system of \(rootfs) (\(free >> 20) MiB free), "
                               + "which the event log shares; refusing to unpack it. Free space on the device first")
        }
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
            try makeDirectory(name, in: parentFD, entry: entry, resolved: resolved, stats: &stats)
        case .regular:
            try checkRoom(for: entry, written: stats.bytes)
            try replace(name, in: parentFD, resolved: resolved)
            try writeFile(name, in: parentFD, entry: entry, reader: reader, resolved: resolved, stats: &stats)
            stats.files += 1
            stats.bytes += entry.size
        case .symbolicLink:
            guard !entry.linkTarget.isEmpty else {
                throw OCIError(.invalidTar, "symbolic link \"\(entry.path)\" has an empty target")
            }
            // A link's target takes disk space too (up to 4 KiB each): it counts towards the limit.
            var charged = entry
            charged.size = Int64(entry.linkTarget.utf8.count)
            try checkRoom(for: charged, written: stats.bytes)
            try replace(name, in: parentFD, resolved: resolved)
            guard symlinkat(entry.linkTarget, parentFD, name) == 0 else {
                throw .system(errno, "create symbolic link", display(resolved))
            }
            try finishLink(name, in: parentFD, entry: entry, resolved: resolved)
            stats.bytes += charged.size
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
        case .characterDevice, .blockDevice, .fifo:
            // Never made: a device node in a rootfs opens host hardware to whoever runs in it, and the
            // runtime gives a container the devices it needs. Skipped, not refused: many base
            // images carry a few in /dev.
            let what = entry.kind == .fifo ? "FIFO" : "device \(entry.deviceMajor):\(entry.deviceMinor)"
            stats.skippedDevices += 1
            stats.note("skipped \(what) \"\(entry.path)\": images may not create device nodes or FIFOs")
            return
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

    private func makeDirectory(_ name: String, in parent: Int32, entry: TarEntry, resolved: String,
                               stats: inout Stats) throws(OCIError) {
        var info = stat()
        let exists = fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0
        if exists && (info.st_mode & S_IFMT) != S_IFDIR {
            try replace(name, in: parent, resolved: resolved)
        }
        if !exists || (info.st_mode & S_IFMT) != S_IFDIR {
            guard mkdirat(parent, name, 0o700) == 0 else { throw .system(errno, "create directory", display(resolved)) }
        }
        let dir = openChild(parent, name, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir.result >= 0 else { throw .system(dir.errno, "open", display(resolved)) }
        defer { close(dir.result) }
        try own(fd: dir.result, entry: entry, resolved: resolved, stats: &stats)
    }

    /// `openat` of one name in an open directory; through `openat2` without following any link
    /// where the kernel has it.
    private func openChild(_ parent: Int32, _ name: String, flags: Int32, mode: mode_t = 0) -> (result: Int32, errno: Int32) {
        if usesKernelResolution {
            switch Beneath.open(parent, name, flags: flags, mode: mode, resolve: Beneath.confinedNoLinks) {
            case .opened(let fd): return (fd, 0)
            case .escapes(let code), .failed(let code): return (-1, code)
            case .unavailable: break
            }
        }
        return retryingEINTR { openat(parent, name, flags, mode) }
    }

    private func writeFile(_ name: String, in parent: Int32, entry: TarEntry, reader: TarReader,
                           resolved: String, stats: inout Stats) throws(OCIError) {
        let opened = openChild(parent, name, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
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
        try own(fd: fd, entry: entry, resolved: resolved, stats: &stats)
        var times = [timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0),
                     timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0)]
        _ = futimens(fd, &times)
    }

    /// Owner and times of a link just made (a link has no mode of its own).
    private func finishLink(_ name: String, in parent: Int32, entry: TarEntry, resolved: String) throws(OCIError) {
        if options.preserveOwnership {
            guard fchownat(parent, name, uid_t(entry.uid), gid_t(entry.gid), AT_SYMLINK_NOFOLLOW) == 0 else {
                throw .system(errno, "chown", display(resolved))
            }
        }
        var times = [timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0),
                     timespec(tv_sec: Int(entry.modificationTime), tv_nsec: 0)]
        _ = utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// Owner, then mode (chown clears setuid, so it comes first). Setuid and setgid survive only
    /// when the policy allows them: from a root-owned file they give root to whoever runs it.
    private func own(fd: Int32, entry: TarEntry, resolved: String, stats: inout Stats) throws(OCIError) {
        if options.preserveOwnership {
            guard fchown(fd, uid_t(entry.uid), gid_t(entry.gid)) == 0 else {
                throw .system(errno, "chown", display(resolved))
            }
        }
        var mode = entry.mode & 0o7777
        if !options.policy.allowSetuid && mode & 0o6000 != 0 {
            mode &= ~0o6000
            stats.strippedSetuid += 1
            stats.note("cleared setuid/setgid on \"\(entry.path)\" (the release's custom.unpack.allow_setuid is not set)")
        }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw .system(errno, "chmod", display(resolved)) }
    }

    // MARK: Walking

    /// Opens the directory at `path` inside the rootfs, following only links that stay inside, and
    /// creating missing directories when asked. Returns the descriptor and the resolved components.
    ///
    /// The kernel resolves the path first (`openat2` beneath the rootfs); then our walk does, and
    /// the two must land on the same directory. A missing directory is made by the walk, then the
    /// kernel resolves the path again.
    private func openDirectory(_ path: OCIPath, createMissing: Bool,
                               entry: String) throws(OCIError) -> (fd: Int32, resolved: [String]) {
        var kernel = try kernelOpen(path, entry: entry)
        let walked = try walk(path, createMissing: createMissing, entry: entry)
        if kernel == nil && usesKernelResolution {
            do {
                kernel = try kernelOpen(path, entry: entry)
            } catch {
                close(walked.fd)
                throw error
            }
        }
        if let kernel {
            defer { close(kernel) }
            var a = stat()
            var b = stat()
            guard fstat(kernel, &a) == 0, fstat(walked.fd, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino else {
                close(walked.fd)
                throw OCIError(.unsafePath, "entry \"\(entry)\": the kernel and the unpacker resolve \(path) to "
                                   + "different directories (was the rootfs changed while unpacking?); refusing to write")
            }
        } else if usesKernelResolution {
            close(walked.fd)
            throw OCIError(.unsafePath, "entry \"\(entry)\": the kernel cannot resolve \(path) beneath the rootfs; refusing to write")
        }
        return walked
    }

    /// The directory at `path` as the kernel resolves it beneath the rootfs; nil when it does not
    /// exist yet (or is not a directory), or when the kernel has no `openat2`.
    private func kernelOpen(_ path: OCIPath, entry: String) throws(OCIError) -> Int32? {
        guard usesKernelResolution else { return nil }
        switch Beneath.open(rootFD, path.isRoot ? "." : path.joined, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
        case .opened(let fd):
            return fd
        case .escapes:
            throw OCIError(.unsafePath, "entry \"\(entry)\" would be written through \(path), which leaves the rootfs "
                               + "(an absolute symbolic link, or one that climbs above it, on the way); refusing to follow "
                               + "it while unpacking (make the link relative and inside the image, or put the entry at its real path)")
        case .unavailable:
            usesKernelResolution = false
            return nil
        case .failed:
            return nil
        }
    }

    /// The user-space walk: one component at a time with `O_NOFOLLOW`.
    private func walk(_ path: OCIPath, createMissing: Bool,
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
