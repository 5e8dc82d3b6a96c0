/// Dedupe and RSSI smoothing for advertising reports: a pure state machine with injected time.
///
/// The scanner turns the controller's duplicate filter off, so a tag's RSSI keeps updating; a phone
/// then sends ten or more reports a second. This filter keeps one exponential moving average of the
/// RSSI per source, and lets a report through when
///
/// - the source is new (or was unseen for `forgetAfterMilliseconds`),
/// - `windowMilliseconds` have passed since its last report went through, or
/// - its smoothed RSSI moved by `rssiChangeThreshold` dB or more since then.
///
/// What goes through carries the smoothed RSSI. A source is an address plus a `kind` (the caller uses
/// it to keep scan responses and each Eddystone frame type apart, so rotating frames all get through).
/// Memory is bounded by `capacity`: when it is full, the source unseen the longest is dropped.
public struct ReportFilter: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var windowMilliseconds: Int64
        public var rssiChangeThreshold: Int
        /// The weight of a new sample, 0 < α ≤ 1. 1 turns smoothing off.
        public var smoothing: Double
        public var forgetAfterMilliseconds: Int64
        public var capacity: Int

        public init(windowMilliseconds: Int64 = 1_000, rssiChangeThreshold: Int = 8, smoothing: Double = 0.3,
                    forgetAfterMilliseconds: Int64 = 30_000, capacity: Int = 2_048) {
            self.windowMilliseconds = max(0, windowMilliseconds)
            self.rssiChangeThreshold = max(1, rssiChangeThreshold)
            self.smoothing = smoothing > 0 && smoothing <= 1 ? smoothing : 1
            self.forgetAfterMilliseconds = max(1, forgetAfterMilliseconds)
            self.capacity = max(1, capacity)
        }
    }

    public struct Source: Hashable, Sendable {
        public var address: BLEAddress
        public var kind: UInt8
        public init(address: BLEAddress, kind: UInt8 = 0) {
            self.address = address
            self.kind = kind
        }
    }

    private struct Entry {
        var smoothed: Double
        var lastSeen: Int64
        var lastReported: Int64
        var reportedRSSI: Int
    }

    public let configuration: Configuration
    private var entries: [Source: Entry] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// How many sources are tracked now.
    public var trackedSources: Int { entries.count }

    /// Takes one report's RSSI (dBm) at `now` (monotonic ms). Returns the smoothed RSSI to report, or
    /// nil when the report is a duplicate within the window.
    public mutating func admit(_ source: Source, rssi: Int, now: Int64) -> Int? {
        if var entry = entries[source], now - entry.lastSeen < configuration.forgetAfterMilliseconds {
            entry.smoothed += configuration.smoothing * (Double(rssi) - entry.smoothed)
            entry.lastSeen = now
            let smoothed = Int(entry.smoothed.rounded())
            let due = now - entry.lastReported >= configuration.windowMilliseconds
                || abs(smoothed - entry.reportedRSSI) >= configuration.rssiChangeThreshold
            if due {
                entry.lastReported = now
                entry.reportedRSSI = smoothed
            }
            entries[source] = entry
            return due ? smoothed : nil
        }
        if entries[source] == nil && entries.count >= configuration.capacity { evict(now: now) }
        entries[source] = Entry(smoothed: Double(rssi), lastSeen: now, lastReported: now, reportedRSSI: rssi)
        return rssi
    }

    /// Forgets every source unseen for `forgetAfterMilliseconds`, e.g. between scans.
    public mutating func expire(now: Int64) {
        entries = entries.filter { now - $0.value.lastSeen < configuration.forgetAfterMilliseconds }
    }

    public mutating func reset() { entries.removeAll() }

    /// Called when full: stale entries go first; if none is stale, the one unseen the longest.
    private mutating func evict(now: Int64) {
        expire(now: now)
        guard entries.count >= configuration.capacity else { return }
        if let oldest = entries.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
            entries[oldest] = nil
        }
    }
}
