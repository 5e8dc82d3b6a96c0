/// What a row of LEDs shows, held until another pattern replaces it.
///
/// Pure: a pattern maps the time since it began to LED levels, and tells when the levels next change,
/// so the driver sleeps until then instead of polling. The string form (`description`,
/// `init(parsing:)`) is used in board configs and in gateway commands:
/// `off`, `on`, `blink:PERIOD_MS[:DUTY]` (DUTY 0...1, default 0.5), `chase:STEP_MS[:forward|backward]`.
public enum LEDPattern: Sendable, Hashable, CustomStringConvertible {
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        /// From the first LED in the profile's list towards the last.
        case forward
        case backward
    }

    case off
    case on
    /// All LEDs on for `periodMs * duty` at the start of each period, then off.
    case blink(periodMs: Int64, duty: Double)
    /// One LED lit at a time, moving one place every `stepMs` and wrapping around.
    case chase(stepMs: Int64, direction: Direction)

    /// Longest period or step accepted from text: one day, which also keeps the arithmetic far from overflow.
    public static let maximumMilliseconds: Int64 = 86_400_000

    public var description: String {
        switch self {
        case .off: "off"
        case .on: "on"
        case .blink(let period, let duty): "blink:\(period):\(duty)"
        case .chase(let step, let direction): "chase:\(step):\(direction.rawValue)"
        }
    }

    /// The same pattern with its timing replaced where a value is given (a remote config push).
    public func retimed(chaseStepMs: Int64?, blinkPeriodMs: Int64?) -> LEDPattern {
        switch self {
        case .chase(let step, let direction): .chase(stepMs: chaseStepMs ?? step, direction: direction)
        case .blink(let period, let duty): .blink(periodMs: blinkPeriodMs ?? period, duty: duty)
        case .off, .on: self
        }
    }

    public init(parsing text: String) throws(HardwareError) {
        let parts = Self.trimmed(text).lowercased().split(separator: ":", omittingEmptySubsequences: false)
            .map(String.init)
        switch parts.first {
        case "off" where parts.count == 1:
            self = .off
        case "on" where parts.count == 1:
            self = .on
        case "blink" where parts.count == 2 || parts.count == 3:
            let period = try Self.milliseconds(parts[1], what: "blink period", in: text)
            var duty = 0.5
            if parts.count == 3 {
                guard let value = Double(parts[2]), value.isFinite, value >= 0, value <= 1 else {
                    throw .invalidPattern(text, problem: "duty \"\(parts[2])\" must be a number from 0 to 1")
                }
                duty = value
            }
            self = .blink(periodMs: period, duty: duty)
        case "chase" where parts.count == 2 || parts.count == 3:
            let step = try Self.milliseconds(parts[1], what: "chase step", in: text)
            var direction = Direction.forward
            if parts.count == 3 {
                guard let value = Direction(rawValue: parts[2]) else {
                    throw .invalidPattern(text, problem: "direction \"\(parts[2])\" must be forward or backward")
                }
                direction = value
            }
            self = .chase(stepMs: step, direction: direction)
        case "off", "on", "blink", "chase":
            throw .invalidPattern(text, problem: "wrong number of ':'-separated fields")
        default:
            throw .invalidPattern(text, problem: "unknown pattern \"\(parts.first ?? "")\"")
        }
    }

    /// The level of each of `ledCount` LEDs, `elapsedMs` after the pattern began.
    public func levels(ledCount: Int, at elapsedMs: Int64) -> [Bool] {
        let count = max(0, ledCount)
        let elapsed = max(0, elapsedMs)
        switch self {
        case .off:
            return Array(repeating: false, count: count)
        case .on:
            return Array(repeating: true, count: count)
        case .blink(let period, let duty):
            let (period, onMs) = Self.blinkTiming(period, duty)
            return Array(repeating: elapsed % period < onMs, count: count)
        case .chase(let step, let direction):
            guard count > 0 else { return [] }
            let position = Int((elapsed / max(1, step)) % Int64(count))
            let lit = direction == .forward ? position : count - 1 - position
            return (0..<count).map { $0 == lit }
        }
    }

    /// The first time after `elapsedMs` at which the levels may change, or nil if they never do.
    public func nextChange(after elapsedMs: Int64) -> Int64? {
        let elapsed = max(0, elapsedMs)
        switch self {
        case .off, .on:
            return nil
        case .blink(let period, let duty):
            let (period, onMs) = Self.blinkTiming(period, duty)
            guard onMs > 0 && onMs < period else { return nil }  // duty 0 or 1 never changes
            let start = elapsed - elapsed % period
            return elapsed - start < onMs ? start + onMs : start + period
        case .chase(let step, _):
            let step = max(1, step)
            return (elapsed / step + 1) * step
        }
    }

    /// The period and the on-time within it, both clamped to something drawable.
    private static func blinkTiming(_ period: Int64, _ duty: Double) -> (period: Int64, onMs: Int64) {
        let period = max(1, period)
        let duty = duty.isNaN ? 0 : min(1, max(0, duty))
        let onMs = Int64((Double(period) * duty).rounded())
        return (period, min(period, max(0, onMs)))
    }

    private static func milliseconds(_ field: String, what: String, in text: String) throws(HardwareError) -> Int64 {
        guard let value = Int64(field), value > 0, value <= maximumMilliseconds else {
            throw .invalidPattern(text, problem: "\(what) \"\(field)\" must be a whole number of milliseconds "
                + "from 1 to \(maximumMilliseconds)")
        }
        return value
    }

    private static func trimmed(_ text: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }),
              let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return text[first...last]
    }
}
