/// Where a deployment stands.
public enum RolloutStatus: String, Sendable, Hashable, CaseIterable {
    /// Waves advance as devices report.
    case active
    /// The failure threshold was crossed (or an operator halted it): no device is added.
    case halted
    /// Every wave was reached and reported (or soaked) within the failure threshold.
    case completed
    /// A newer deployment took over the same devices; devices already reached keep this target.
    case superseded
}

/// The persistent state of one deployment's rollout.
public struct RolloutState: Sendable, Hashable {
    public var status: RolloutStatus
    /// Index of the wave reached last (0-based).
    public var wave: Int
    /// When that wave started, in the injected clock's milliseconds.
    public var waveStartedAt: Int64
    /// Failures an operator accepted when resuming; only failures beyond these count.
    public var acknowledgedFailures: Int
    /// Why the rollout halted, for operators.
    public var haltReason: String?

    public init(status: RolloutStatus = .active, wave: Int = 0, waveStartedAt: Int64,
                acknowledgedFailures: Int = 0, haltReason: String? = nil) {
        self.status = status
        self.wave = wave
        self.waveStartedAt = waveStartedAt
        self.acknowledgedFailures = acknowledgedFailures
        self.haltReason = haltReason
    }
}

/// What devices in a deployment have reported, by position in the deployment's order.
public enum DeviceOutcome: String, Sendable, Hashable {
    case pending
    case success
    case failure
}

/// What the driver must do after a step.
public enum RolloutAction: Sendable, Hashable {
    /// Devices at positions `range` are now reached: tell them about the target.
    case reach(Range<Int>)
    case halt(reason: String)
    case complete
}

/// The rollout of one deployment as a pure state machine: it takes the state, the outcomes and the
/// time, and returns the next state with the actions the driver must take. The clock is injected
/// (`now`), so tests drive it by hand.
public struct RolloutMachine: Sendable {
    public let plan: RolloutPlan
    public let deviceCount: Int
    public let boundaries: [Int]

    public init(plan: RolloutPlan, deviceCount: Int) {
        self.plan = plan
        self.deviceCount = deviceCount
        boundaries = plan.boundaries(deviceCount: deviceCount)
    }

    /// The state of a new deployment and the devices of its first wave.
    public func start(now: Int64) -> (RolloutState, [RolloutAction]) {
        guard let first = boundaries.first else {
            return (RolloutState(status: .completed, waveStartedAt: now), [.complete])
        }
        return (RolloutState(waveStartedAt: now), [.reach(0..<first)])
    }

    /// Devices at positions below this have been told about the target.
    public func reachedCount(_ state: RolloutState) -> Int {
        guard !boundaries.isEmpty else { return 0 }
        return boundaries[min(state.wave, boundaries.count - 1)]
    }

    /// Failures the rollout tolerates with `reached` devices reached.
    public func toleratedFailures(reached: Int) -> Int { plan.maxFailures.tolerated(of: reached) }

    /// Re-evaluates after a report or a clock tick. `outcomes[i]` is the outcome of position i;
    /// positions past the end count as pending (devices that joined the group late sit in the
    /// last wave).
    public func step(_ state: RolloutState, outcomes: [DeviceOutcome], now: Int64) -> (RolloutState, [RolloutAction]) {
        guard state.status == .active else { return (state, []) }
        var state = state
        var actions: [RolloutAction] = []
        while state.status == .active {
            let reached = reachedCount(state)
            let failures = count(.failure, in: 0..<reached, outcomes)
            let counted = failures - state.acknowledgedFailures
            let tolerated = toleratedFailures(reached: reached)
            if counted > tolerated {
                let reason = "\(counted) failure\(counted == 1 ? "" : "s") among \(reached) devices reached; "
                    + "the plan tolerates \(tolerated) (\(plan.maxFailures))"
                state.status = .halted
                state.haltReason = reason
                actions.append(.halt(reason: reason))
                break
            }
            let start = state.wave == 0 ? 0 : boundaries[state.wave - 1]
            let waveRange = start..<reached
            let pending = count(.pending, in: waveRange, outcomes)
            let soaked = plan.soakMilliseconds.map { now >= Self.deadline(state.waveStartedAt, plus: $0) } ?? false
            guard pending == 0 || soaked else { break }
            guard state.wave + 1 < boundaries.count else {
                state.status = .completed
                actions.append(.complete)
                break
            }
            state.wave += 1
            state.waveStartedAt = now
            actions.append(.reach(reached..<boundaries[state.wave]))
        }
        return (state, actions)
    }

    /// When a soaking wave would advance by time alone; nil if nothing waits on the clock.
    public func nextDeadline(_ state: RolloutState) -> Int64? {
        guard state.status == .active, let soak = plan.soakMilliseconds else {
            return nil
        }
        return Self.deadline(state.waveStartedAt, plus: soak)
    }

    /// Saturates instead of trapping: a plan read from an old row may hold any soak.
    static func deadline(_ start: Int64, plus soak: Int64) -> Int64 {
        let (sum, overflow) = start.addingReportingOverflow(soak)
        return overflow ? (soak > 0 ? .max : .min) : sum
    }

    /// An operator stopped the rollout.
    public func halt(_ state: RolloutState, reason: String) -> (RolloutState, [RolloutAction]) {
        guard state.status == .active else { return (state, []) }
        var state = state
        state.status = .halted
        state.haltReason = reason
        return (state, [.halt(reason: reason)])
    }

    /// An operator resumed a halted rollout: the failures so far are accepted, the current wave
    /// starts its soak again, and the rollout goes on from where it stopped.
    public func resume(_ state: RolloutState, outcomes: [DeviceOutcome], now: Int64) -> (RolloutState, [RolloutAction]) {
        guard state.status == .halted else { return (state, []) }
        var state = state
        state.status = .active
        state.haltReason = nil
        state.acknowledgedFailures = count(.failure, in: 0..<reachedCount(state), outcomes)
        state.waveStartedAt = now
        return step(state, outcomes: outcomes, now: now)
    }

    private func count(_ outcome: DeviceOutcome, in range: Range<Int>, _ outcomes: [DeviceOutcome]) -> Int {
        var total = 0
        for position in range {
            let value = position < outcomes.count ? outcomes[position] : .pending
            if value == outcome { total += 1 }
        }
        return total
    }
}
