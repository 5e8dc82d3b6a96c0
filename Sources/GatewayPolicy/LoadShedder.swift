/// A circuit breaker on the gateway's own load: when its loop spends most of a window handling
/// requests, it sheds the devices that send the most, so a flood from one device does not take the
/// latency of the others with it.
///
/// Pure, with an injected clock. The caller reports each handled request's device and the time it
/// took; `admit` is asked before handling. States:
/// - closed: everything is admitted;
/// - open (after a window whose busy fraction reached `tripBusyFraction`): requests from devices
///   that sent more than `fairShare` of that window's requests are refused for `coolDownMs`;
/// - then closed again, and it trips again if the load is still there.
public struct LoadShedder: Sendable {
    public struct Settings: Sendable, Equatable {
        public var windowMs: Int64
        public var tripBusyFraction: Double
        public var coolDownMs: Int64
        /// A device above this fraction of a busy window's requests is shed.
        public var fairShare: Double

        public init(windowMs: Int64 = 500, tripBusyFraction: Double = 0.7, coolDownMs: Int64 = 2_000,
                    fairShare: Double = 0.25) {
            self.windowMs = windowMs
            self.tripBusyFraction = tripBusyFraction
            self.coolDownMs = coolDownMs
            self.fairShare = fairShare
        }
    }

    public enum Decision: Sendable, Equatable {
        case allow
        case shed(retryAfterMs: Int64)
    }

    public let settings: Settings
    private var windowStart: Int64
    private var busyMicros: Int64 = 0
    private var counts: [String: Int] = [:]
    private var total = 0
    /// Devices shed until `openUntil`.
    public private(set) var shedDevices: Set<String> = []
    public private(set) var openUntil: Int64?
    public private(set) var trips = 0

    public init(settings: Settings, now: Int64) {
        self.settings = settings
        windowStart = now
    }

    public var isOpen: Bool { openUntil != nil }

    public mutating func admit(device: String, now: Int64) -> Decision {
        roll(now: now)
        if let openUntil, shedDevices.contains(device) {
            return .shed(retryAfterMs: max(1, openUntil - now))
        }
        return .allow
    }

    /// Reports a handled request (admitted or not: refusing costs time too).
    public mutating func handled(device: String, micros: Int64, now: Int64) {
        roll(now: now)
        busyMicros += max(0, micros)
        counts[device, default: 0] += 1
        total += 1
    }

    private mutating func roll(now: Int64) {
        if let openUntil, now >= openUntil {
            self.openUntil = nil
            shedDevices = []
        }
        let length = now - windowStart
        guard length >= settings.windowMs else { return }
        let busy = Double(busyMicros) / Double(length * 1000)
        if busy >= settings.tripBusyFraction, total > 0 {
            let heavy = counts.filter { Double($0.value) > settings.fairShare * Double(total) }.map(\.key)
            if !heavy.isEmpty {
                shedDevices.formUnion(heavy)
                openUntil = now + settings.coolDownMs
                trips += 1
            }
        }
        windowStart = now
        busyMicros = 0
        counts = [:]
        total = 0
    }
}
