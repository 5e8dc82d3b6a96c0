/// An amount of devices: a fixed count or a percentage of some total.
public enum Amount: Sendable, Hashable, CustomStringConvertible {
    case count(Int)
    case percent(Int)

    /// Parses `5` or `25%`; counts ≥ 0, percentages 0…100.
    public init?(_ text: String) {
        if text.hasSuffix("%") {
            guard let value = Int(text.dropLast()), (0...100).contains(value) else { return nil }
            self = .percent(value)
        } else {
            guard let value = Int(text), value >= 0 else { return nil }
            self = .count(value)
        }
    }

    public var description: String {
        switch self {
        case .count(let count): String(count)
        case .percent(let percent): "\(percent)%"
        }
    }

    /// Devices out of `total`. A percentage rounds up, so 10% of 5 devices is one device, not none.
    public func of(_ total: Int) -> Int {
        switch self {
        case .count(let count): count
        case .percent(let percent): (percent * total + 99) / 100
        }
    }

    /// A threshold: like `of`, but rounding down, so "10% may fail" of 5 devices tolerates none.
    public func tolerated(of total: Int) -> Int {
        switch self {
        case .count(let count): count
        case .percent(let percent): percent * total / 100
        }
    }
}

/// How a deployment spreads: wave sizes, how many failures it tolerates, and how long a wave may soak.
public struct RolloutPlan: Sendable, Hashable {
    /// Sizes of the waves in order. Devices the listed waves do not cover form one last wave.
    public var waves: [Amount]
    /// Failures among the devices reached so far that the rollout tolerates; one more halts it.
    public var maxFailures: Amount
    /// After this long a wave counts as done even if some of its devices have not reported;
    /// nil waits for every device.
    public var soakMilliseconds: Int64?
    /// The longest soak a plan may ask for: a year. Bounded so that wave start plus soak stays an instant.
    public static let maxSoakMilliseconds: Int64 = 366 * 86_400_000

    public init(waves: [Amount], maxFailures: Amount = .count(0), soakMilliseconds: Int64? = nil) {
        self.waves = waves
        self.maxFailures = maxFailures
        self.soakMilliseconds = soakMilliseconds
    }

    /// The end (exclusive) of each wave, as positions in the deployment's device order. Never empty
    /// for a non-empty group; the last boundary is `deviceCount`. Waves that would hold no device
    /// are dropped.
    public func boundaries(deviceCount: Int) -> [Int] {
        var ends: [Int] = []
        var reached = 0
        for wave in waves where reached < deviceCount {
            let size = max(1, wave.of(deviceCount))
            // A count comes from the admin's body and may be near Int.max: compare before adding.
            reached = size >= deviceCount - reached ? deviceCount : reached + size
            ends.append(reached)
        }
        if reached < deviceCount { ends.append(deviceCount) }
        return ends
    }
}
