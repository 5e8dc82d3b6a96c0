/// One of the two slots.
public enum Slot: String, Sendable, Equatable, CaseIterable {
    case a, b

    public var other: Slot { self == .a ? .b : .a }
}

/// A release installed in a slot.
public struct Installed: Sendable, Equatable {
    public var slot: Slot
    public var target: TargetDescription

    public init(slot: Slot, target: TargetDescription) {
        self.slot = slot
        self.target = target
    }
}

/// How the last update ended.
public struct Outcome: Sendable, Equatable {
    public enum Result: String, Sendable, Equatable {
        case committed
        case rolledBack = "rolled_back"
        /// Staging failed or was interrupted; nothing was activated.
        case failed
    }

    public var result: Result
    public var version: Version
    public var reason: String

    public init(result: Result, version: Version, reason: String) {
        self.result = result
        self.version = version
        self.reason = reason
    }
}

/// The update lifecycle of one device, as a pure state machine:
///
///     idle → staging → staged → trial(attempt k) → health window → committed (idle)
///                                      └──────────────┴──────────→ rolled back (idle)
///
/// Every time comes in as an argument (monotonic milliseconds of the current process), so tests
/// drive it with a manual clock. `handle` returns the actions to carry out, in order; the caller
/// persists the state when told to (`.persist`) before doing anything that depends on it.
///
/// Everything is persisted; a new start (`started`) resets the health window, which must be
/// continuous within one run of the new version.
public struct UpdateLifecycle: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case idle
        /// The candidate's slot is being written; it holds nothing usable.
        case staging(Installed)
        /// Written, verified and synced; not running.
        case staged(Installed)
        /// `current` points at the candidate; `attempt` starts so far (0 before the first).
        /// `startedAt` is when this process saw the current start, nil when loaded from disk.
        case trial(Installed, attempt: Int, startedAt: Int64?)
        /// The candidate reported healthy at `since` and has stayed so.
        case healthWindow(Installed, attempt: Int, startedAt: Int64, since: Int64)
    }

    public enum Event: Sendable, Equatable {
        case stageStarted(Installed)
        case stageFinished
        case stageFailed(reason: String)
        /// Switch to the staged candidate.
        case activate(now: Int64)
        /// A process start (boot, service restart) of whatever `current` points at.
        case started(now: Int64)
        /// Health as the running candidate sees it: registered with the gateway and role self-tests passing.
        case health(ok: Bool, reason: String, now: Int64)
        case tick(now: Int64)
        case commit
        case rollback(reason: String)
    }

    public enum Action: Sendable, Equatable {
        /// Write the state durably now, before the following actions.
        case persist
        /// Empty the slot (before staging, or after a failed staging).
        case clearSlot(Slot)
        /// Point `current` at the slot (nil: at nothing, when there is no committed version).
        case switchCurrent(Slot?)
        /// Start the slot's payload (containers; binaries start by the service restarting).
        case launch(Slot)
        /// Stop the slot's payload (containers).
        case retire(Slot)
        /// The lifecycle ended; `outcome` says how.
        case finished(Outcome)
    }

    public private(set) var committed: Installed?
    /// The highest security counter ever committed; targets below it are refused.
    public private(set) var securityFloor: Int64
    public private(set) var phase: Phase
    public private(set) var lastOutcome: Outcome?

    public init(committed: Installed? = nil, securityFloor: Int64 = 0, phase: Phase = .idle, lastOutcome: Outcome? = nil) {
        self.committed = committed
        self.securityFloor = max(securityFloor, committed?.target.securityCounter ?? 0)
        self.phase = phase
        self.lastOutcome = lastOutcome
    }

    /// The slot a new release goes to.
    public var inactiveSlot: Slot { committed?.slot.other ?? .a }

    /// The candidate of the update in progress, if any.
    public var candidate: Installed? {
        switch phase {
        case .idle: return nil
        case .staging(let c), .staged(let c), .trial(let c, _, _), .healthWindow(let c, _, _, _): return c
        }
    }

    /// The candidate while it is on trial (in or before its health window).
    public var trialCandidate: Installed? {
        switch phase {
        case .trial(let c, _, _), .healthWindow(let c, _, _, _): return c
        default: return nil
        }
    }

    /// The slot `current` must point at in this state.
    public var expectedCurrent: Slot? {
        switch phase {
        case .trial(let c, _, _), .healthWindow(let c, _, _, _): return c.slot
        default: return committed?.slot
        }
    }

    /// When `tick` must be called next (window end or trial timeout), if a time matters now.
    public var nextDeadline: Int64? {
        switch phase {
        case .trial(let c, _, let startedAt?):
            return startedAt + c.target.health.timeoutMilliseconds
        case .healthWindow(let c, _, let startedAt, let since):
            return min(since + c.target.health.windowMilliseconds, startedAt + c.target.health.timeoutMilliseconds)
        default:
            return nil
        }
    }

    public mutating func handle(_ event: Event) throws(UpdateError) -> [Action] {
        switch (event, phase) {
        case (.stageStarted(let candidate), .idle), (.stageStarted(let candidate), .staged):
            var actions: [Action] = []
            if case .staged(let old) = phase, old.slot != candidate.slot { actions.append(.clearSlot(old.slot)) }
            guard candidate.slot != committed?.slot else {
                throw UpdateError(.invalidState, "slot \(candidate.slot) holds the committed version; stage into \(inactiveSlot)")
            }
            phase = .staging(candidate)
            return actions + [.persist, .clearSlot(candidate.slot)]

        case (.stageFinished, .staging(let candidate)):
            phase = .staged(candidate)
            return [.persist]

        case (.stageFailed(let reason), .staging(let candidate)):
            phase = .idle
            let outcome = Outcome(result: .failed, version: candidate.target.version, reason: reason)
            lastOutcome = outcome
            return [.clearSlot(candidate.slot), .persist, .finished(outcome)]

        case (.activate(let now), .staged(let candidate)):
            phase = .trial(candidate, attempt: 0, startedAt: now)
            return [.persist, .switchCurrent(candidate.slot), .launch(candidate.slot)]

        case (.started(let now), .trial(let candidate, let attempt, _)):
            let next = attempt + 1
            if next > candidate.target.health.maxAttempts {
                return rollBack(candidate, reason: "the new version did not stay up: \(attempt) start(s) "
                                    + "without passing its health check (limit \(candidate.target.health.maxAttempts))")
            }
            phase = .trial(candidate, attempt: next, startedAt: now)
            return [.persist, .switchCurrent(candidate.slot)]

        case (.started, .staging(let candidate)):
            // A crash or power cut while the slot was being written: it holds nothing usable.
            phase = .idle
            let outcome = Outcome(result: .failed, version: candidate.target.version,
                                  reason: "staging was interrupted (crash or power cut); the slot was cleared")
            lastOutcome = outcome
            return [.clearSlot(candidate.slot), .persist, .switchCurrent(committed?.slot), .finished(outcome)]

        case (.started, .idle), (.started, .staged):
            return [.switchCurrent(committed?.slot)]

        case (.started, .healthWindow(let candidate, let attempt, _, _)):
            // The process restarted inside its window: the window starts over with the new start.
            phase = .trial(candidate, attempt: attempt, startedAt: nil)
            return try handle(event)

        case (.health(let ok, let reason, let now), .trial(let candidate, let attempt, let startedAt)):
            guard ok else { return rollBack(candidate, reason: "health check failed: \(reason)") }
            let start = startedAt ?? now
            phase = .healthWindow(candidate, attempt: attempt, startedAt: start, since: now)
            let actions = tickActions(now: now)
            return actions.isEmpty ? [.persist] : actions

        case (.health(let ok, let reason, let now), .healthWindow(let candidate, _, _, _)):
            guard ok else { return rollBack(candidate, reason: "health check failed: \(reason)") }
            return tickActions(now: now)

        case (.tick(let now), .trial), (.tick(let now), .healthWindow):
            return tickActions(now: now)

        case (.tick, _), (.health, _):
            return []

        case (.commit, .trial(let candidate, _, _)), (.commit, .healthWindow(let candidate, _, _, _)):
            return commitActions(candidate)

        case (.rollback(let reason), .trial(let candidate, _, _)),
             (.rollback(let reason), .healthWindow(let candidate, _, _, _)):
            return rollBack(candidate, reason: reason)

        case (.rollback(let reason), .staged(let candidate)), (.rollback(let reason), .staging(let candidate)):
            phase = .idle
            let outcome = Outcome(result: .failed, version: candidate.target.version, reason: reason)
            lastOutcome = outcome
            return [.persist, .clearSlot(candidate.slot), .finished(outcome)]

        default:
            throw UpdateError(.invalidState, "cannot \(Self.describe(event)) while \(Self.describe(phase))")
        }
    }

    /// Checks a target against this device before anything is written; nil when acceptable.
    public func refusal(of target: TargetDescription, board: String) -> String? {
        if !target.boards.contains(board) {
            return "target \(target.name) is built for \(target.boards.joined(separator: ", ")), not for this "
                + "device's board \(board)"
        }
        if target.securityCounter < securityFloor {
            return "target \(target.name) has security counter \(target.securityCounter), below this device's "
                + "floor \(securityFloor): installing it would reopen fixed vulnerabilities"
        }
        if let minimum = target.minimumVersion, let committed, committed.target.version < minimum {
            return "target \(target.name) needs version \(minimum) or later installed first (this device runs "
                + "\(committed.target.version)); install an intermediate release"
        }
        if let committed, target.version <= committed.target.version, target.securityCounter <= securityFloor {
            // A deliberate downgrade is published with a higher security counter.
            return "target \(target.name) is version \(target.version), not newer than the committed "
                + "\(committed.target.version); a downgrade needs a security counter above \(securityFloor)"
        }
        return nil
    }

    // MARK: Helpers

    private mutating func tickActions(now: Int64) -> [Action] {
        switch phase {
        case .healthWindow(let candidate, _, let startedAt, let since):
            if now - since >= candidate.target.health.windowMilliseconds { return commitActions(candidate) }
            if now - startedAt >= candidate.target.health.timeoutMilliseconds {
                return rollBack(candidate, reason: "not healthy for a full window within the trial timeout")
            }
            return []
        case .trial(let candidate, let attempt, let startedAt):
            guard let startedAt else {
                phase = .trial(candidate, attempt: attempt, startedAt: now)
                return []
            }
            if now - startedAt >= candidate.target.health.timeoutMilliseconds {
                return rollBack(candidate, reason: "no health report within \(candidate.target.health.timeoutMilliseconds) ms "
                                    + "of the start (not registered with the gateway, or self-tests not passing)")
            }
            return []
        default:
            return []
        }
    }

    private mutating func commitActions(_ candidate: Installed) -> [Action] {
        let previous = committed
        committed = candidate
        securityFloor = max(securityFloor, candidate.target.securityCounter)
        phase = .idle
        let outcome = Outcome(result: .committed, version: candidate.target.version, reason: "healthy")
        lastOutcome = outcome
        var actions: [Action] = [.persist]
        if let previous, previous.slot != candidate.slot { actions.append(.retire(previous.slot)) }
        return actions + [.finished(outcome)]
    }

    private mutating func rollBack(_ candidate: Installed, reason: String) -> [Action] {
        phase = .idle
        let outcome = Outcome(result: .rolledBack, version: candidate.target.version, reason: reason)
        lastOutcome = outcome
        var actions: [Action] = [.persist, .switchCurrent(committed?.slot), .retire(candidate.slot)]
        if let committed { actions.append(.launch(committed.slot)) }
        return actions + [.finished(outcome)]
    }

    static func describe(_ event: Event) -> String {
        switch event {
        case .stageStarted: return "stage a target"
        case .stageFinished: return "finish staging"
        case .stageFailed: return "fail staging"
        case .activate: return "activate"
        case .started: return "start"
        case .health: return "report health"
        case .tick: return "tick"
        case .commit: return "commit"
        case .rollback: return "roll back"
        }
    }

    public static func describe(_ phase: Phase) -> String {
        switch phase {
        case .idle: return "idle (nothing to activate, commit or roll back)"
        case .staging(let c): return "staging \(c.target.version) into slot \(c.slot)"
        case .staged(let c): return "\(c.target.version) is staged in slot \(c.slot)"
        case .trial(let c, let attempt, _): return "trying \(c.target.version) in slot \(c.slot) (start \(attempt))"
        case .healthWindow(let c, _, _, _): return "\(c.target.version) in slot \(c.slot) is in its health window"
        }
    }
}
