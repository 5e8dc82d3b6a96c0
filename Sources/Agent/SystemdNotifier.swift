import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: datagrams such as "READY=1" or "WATCHDOG=1" to the socket
/// systemd names in $NOTIFY_SOCKET (a path, or an abstract name when it starts with "@").
public final class SystemdNotifier {
    private let fd: Int32
    private var address: sockaddr_un
    private let addressLength: socklen_t

    /// nil when not started by systemd with Type=notify (or NotifyAccess), or the socket is unusable.
    public static func fromEnvironment() -> SystemdNotifier? {
        guard let raw = getenv("NOTIFY_SOCKET") else { return nil }
        return SystemdNotifier(socketPath: String(cString: raw))
    }

    public init?(socketPath: String) {
        var bytes = Array(socketPath.utf8)
        guard !bytes.isEmpty else { return nil }
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in bytes.enumerated() { path[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = address
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
    }

    deinit { close(fd) }

    /// Sends one state update; false if the manager could not be reached.
    @discardableResult
    public func send(_ state: String) -> Bool {
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength) }
            }
        }
        return sent == bytes.count
    }

    /// The watchdog interval systemd expects pings within (WatchdogSec=), in milliseconds; nil when
    /// the watchdog is off or meant for another process (WATCHDOG_PID).
    public static func watchdogMilliseconds() -> Int64? {
        guard let raw = getenv("WATCHDOG_USEC"), let usec = Int64(String(cString: raw)), usec > 0 else { return nil }
        if let pid = getenv("WATCHDOG_PID"), let value = Int32(String(cString: pid)), value != getpid() { return nil }
        return max(1, usec / 1000)
    }

    /// READY=1 now, then WATCHDOG=1 from the reactor at half the watchdog interval, so a stuck
    /// event loop (not just a dead process) gets the agent restarted. Returns the notifier (kept
    /// alive by the timer), or nil outside systemd.
    @discardableResult
    public static func start(on reactor: Reactor, status: String = "") -> SystemdNotifier? {
        guard let notifier = fromEnvironment() else { return nil }
        notifier.send("READY=1" + (status.isEmpty ? "" : "\nSTATUS=" + status))
        if let interval = watchdogMilliseconds() {
            let period = max(1, interval / 2)
            func ping() {
                notifier.send("WATCHDOG=1")
                reactor.schedule(afterMilliseconds: period, ping)
            }
            ping()
        }
        return notifier
    }
}
