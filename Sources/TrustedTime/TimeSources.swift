import CLinux
import TUF
#if canImport(Glibc)
import Glibc
#endif

/// The clocks a `TrustedClock` reads. `system` is the kernel's; tests pass a manual one.
public struct TimeSources: Sendable {
    /// Milliseconds since boot, counting suspend (`CLOCK_BOOTTIME`): never set, never jumps.
    public var sinceBoot: @Sendable () -> Int64
    /// The wall clock (`CLOCK_REALTIME`) in seconds, right or wrong.
    public var wallClock: @Sendable () -> Int64
    /// The kernel's time in seconds when `adjtimex(2)` says NTP keeps it synchronised, else nil.
    public var synchronisedTime: @Sendable () -> Int64?

    public init(sinceBoot: @escaping @Sendable () -> Int64, wallClock: @escaping @Sendable () -> Int64,
                synchronisedTime: @escaping @Sendable () -> Int64?) {
        self.sinceBoot = sinceBoot
        self.wallClock = wallClock
        self.synchronisedTime = synchronisedTime
    }

    public static let system = TimeSources(
        sinceBoot: {
            var spec = timespec()
            clock_gettime(CLOCK_BOOTTIME, &spec)
            return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
        },
        wallClock: { TUFTime.now().secondsSinceEpoch },
        synchronisedTime: {
            // TIME_ERROR or STA_UNSYNC: no time source has disciplined the clock yet.
            var seconds: Int64 = 0
            return nanoedge_synchronised_time(&seconds) == 1 ? seconds : nil
        })
}
