import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Path resolution confined by the kernel: `openat2(2)` with `RESOLVE_BENEATH` refuses any lookup
/// that would leave the starting directory (an absolute path or symbolic link, `..` above it), and
/// `RESOLVE_NO_MAGICLINKS` refuses /proc-style links. Linux 5.6 and later; older kernels, and
/// sandboxes whose seccomp filter hides the call, answer ENOSYS (or EPERM), and callers fall back
/// to their own per-component checks.
public enum Beneath {
    /// Resolution flags for a lookup confined to `dirfd`.
    public static let confined = UInt64(NANOEDGE_RESOLVE_BENEATH | NANOEDGE_RESOLVE_NO_MAGICLINKS)
    /// As `confined`, and no symbolic link followed at all.
    public static let confinedNoLinks = confined | UInt64(NANOEDGE_RESOLVE_NO_SYMLINKS)

    public enum Outcome: Equatable {
        case opened(Int32)
        /// The kernel refused a lookup that leaves the directory (EXDEV) or meets a refused link (ELOOP).
        case escapes(Int32)
        /// The call does not exist here (or is filtered): the caller's own checks decide alone.
        case unavailable
        case failed(Int32)
    }

    /// `openat2(dirfd, path, flags, mode, resolve)`, EINTR and EAGAIN retried.
    public static func open(_ dirfd: Int32, _ path: String, flags: Int32, mode: mode_t = 0,
                            resolve: UInt64 = confined) -> Outcome {
        var attempts = 0
        while true {
            let fd = nanoedge_openat2(dirfd, path, UInt64(UInt32(bitPattern: flags)), UInt64(mode), resolve)
            if fd >= 0 { return .opened(fd) }
            let code = errno
            switch code {
            case EINTR: continue
            // A rename elsewhere on the file system raced the lookup; the kernel asks for a retry.
            case EAGAIN where attempts < 8:
                attempts += 1
                continue
            case ENOSYS, EPERM: return .unavailable
            case EXDEV, ELOOP: return .escapes(code)
            default: return .failed(code)
            }
        }
    }

    /// Whether this kernel (and sandbox) answers `openat2` at all.
    public static let isAvailable: Bool = {
        let root = Glibc.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { return false }
        defer { close(root) }
        if case .opened(let fd) = open(root, ".", flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
            close(fd)
            return true
        }
        return false
    }()
}
