/// Turns raw PIR line edges into motion events.
///
/// A pure state machine: every time comes in as an argument (monotonic milliseconds), so tests drive
/// it with a manual clock. The caller feeds edges, and calls `tick(now:)` once `nextDeadline` has passed.
///
/// - The sensor settles for `warmupMs` after power-up; edges before then give no output. The level is
///   still tracked, so a line that is high when warm-up ends counts as having gone high at that moment.
/// - A high pulse shorter than `minHighMs` is a glitch: motion starts only once the line has stayed
///   high that long (at once when `minHighMs` is 0), and the start is stamped at that moment.
/// - Motion ends `holdMs` after the line last went low. A rising edge within the hold continues the
///   same motion, without a new start.
/// - A line that stays high for `stuckHighMs` is a fault: any motion ends and `sensorFault` is given.
///   The next falling edge gives `sensorRecovered`.
///
/// Output times are when the event logically happened (e.g. the end of the hold), not when
/// `tick` was called, so the output does not depend on how late the caller ticks.
public struct PIRFilter: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var warmupMs: Int64
        public var minHighMs: Int64
        public var holdMs: Int64
        public var stuckHighMs: Int64

        public init(warmupMs: Int64 = 60_000, minHighMs: Int64 = 50, holdMs: Int64 = 2_000,
                    stuckHighMs: Int64 = 600_000) {
            self.warmupMs = warmupMs
            self.minHighMs = minHighMs
            self.holdMs = holdMs
            self.stuckHighMs = stuckHighMs
        }
    }

    public enum Output: Sendable, Equatable {
        case motionStarted(at: Int64)
        case motionEnded(at: Int64)
        case sensorFault(stuckSince: Int64)
        case sensorRecovered(at: Int64)
    }

    public private(set) var configuration: Configuration
    private let warmupEnd: Int64
    /// When the line went high, or nil while it is low.
    private var highSince: Int64?
    /// When the line went low after motion; the hold runs from here.
    private var lowSince: Int64?
    public private(set) var isMotionActive = false
    public private(set) var isFaulted = false
    /// Latest time seen; edges stamped earlier are treated as happening now.
    private var clock: Int64

    /// `startedAt` is when the sensor was powered up (or the agent started), on the same clock as edges.
    /// `lineHigh` is the level read at that moment, so a line that is already high is not missed.
    public init(configuration: Configuration, startedAt: Int64, lineHigh: Bool = false) {
        self.configuration = Configuration(
            warmupMs: max(0, configuration.warmupMs), minHighMs: max(0, configuration.minHighMs),
            holdMs: max(0, configuration.holdMs), stuckHighMs: max(1, configuration.stuckHighMs))
        self.warmupEnd = startedAt + self.configuration.warmupMs
        self.clock = startedAt
        self.highSince = lineHigh ? startedAt : nil
    }

    /// Changes the glitch and hold times while running (a remote config push). Warm-up and the
    /// stuck-high limit stay; a motion in progress ends by the new hold.
    public mutating func retime(minHighMs: Int64? = nil, holdMs: Int64? = nil) {
        if let minHighMs { configuration.minHighMs = max(0, minHighMs) }
        if let holdMs { configuration.holdMs = max(0, holdMs) }
        if configuration.stuckHighMs <= configuration.minHighMs { configuration.stuckHighMs = configuration.minHighMs + 1 }
    }

    /// True once warm-up is over at the latest time seen.
    public var isWarmedUp: Bool { clock >= warmupEnd }

    /// When the caller should next call `tick(now:)`, or nil if nothing is pending.
    public var nextDeadline: Int64? {
        if let highSince {
            guard !isFaulted else { return nil }
            let since = max(highSince, warmupEnd)
            return isMotionActive ? since + configuration.stuckHighMs : since + configuration.minHighMs
        }
        if isMotionActive, let lowSince { return lowSince + configuration.holdMs }
        return nil
    }

    public mutating func edge(_ edge: LineEdge) -> [Output] {
        let time = max(edge.timestamp, clock)
        var outputs = advance(to: time)
        if edge.rising {
            guard highSince == nil else { return outputs }  // repeated edge: level unchanged
            highSince = time
            lowSince = nil  // a retrigger within the hold pauses the hold
            outputs += advance(to: time)  // with minHighMs 0 motion starts at once
        } else {
            guard highSince != nil else { return outputs }
            highSince = nil
            if isFaulted {
                isFaulted = false
                outputs.append(.sensorRecovered(at: time))
            } else if isMotionActive {
                lowSince = time
                outputs += advance(to: time)  // with holdMs 0 motion ends at once
            }
        }
        return outputs
    }

    public mutating func tick(now: Int64) -> [Output] {
        advance(to: max(now, clock))
    }

    /// Applies every deadline up to `time`, in order.
    private mutating func advance(to time: Int64) -> [Output] {
        clock = time
        var outputs: [Output] = []
        while let deadline = nextDeadline, deadline <= time {
            if let highSince {
                let since = max(highSince, warmupEnd)
                if isMotionActive {
                    isMotionActive = false
                    isFaulted = true
                    outputs.append(.motionEnded(at: deadline))
                    outputs.append(.sensorFault(stuckSince: since))
                } else {
                    isMotionActive = true
                    outputs.append(.motionStarted(at: deadline))
                }
            } else {
                isMotionActive = false
                lowSince = nil
                outputs.append(.motionEnded(at: deadline))
            }
        }
        return outputs
    }
}
