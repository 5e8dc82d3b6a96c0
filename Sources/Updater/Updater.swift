import DurableFile
import JSON
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// The updater inside the agent: stages a verified artifact into the inactive slot, activates it
/// as a trial, and commits it after its health window or rolls back to the committed slot.
///
/// The flow for the TUF download to plug into:
///
///     let updater = try Updater(configuration: …)
///     try updater.stage(target: description, from: stagedFile)   // verified again while copied
///     let activation = try updater.activate()                   // binary: restart the service
///     // in the new process, at start:       try updater.boot()
///     // while it runs (registered, self-tests): try updater.healthReport(ok: …, reason: …)
///
/// Containers are supervised here: `activate()` starts the new container next to the old one,
/// checks it for the health window, then stops the old one (or removes the new one).
///
/// One owner per state directory (flock); not thread-safe.
public final class Updater {
    public struct Configuration {
        public var stateDirectory: String
        /// This device's board name (boards/*.toml), matched against a target's custom.boards.
        public var board: String
        public var platform: OCIPlatform = .current
        public var runtime = ContainerRuntime()
        /// How images become bundles (binds, host network…): the device's choice, not the image's.
        public var runtimeSpec = RuntimeSpec()
        /// Monotonic milliseconds, the same in every process of one boot (state.json stores them).
        public var clock: () -> Int64 = bootTimeMilliseconds
        public var faults: FaultInjector = .none
        /// The writes' system calls (tests inject ENOSPC here).
        public var calls: FileSystemCalls = .live
        /// How often a container trial is checked.
        public var pollMilliseconds: Int64 = 100
        public var log: (String) -> Void = { _ in }

        public init(stateDirectory: String = "/var/lib/nanoedge", board: String) {
            self.stateDirectory = stateDirectory
            self.board = board
        }
    }

    /// What `activate()` did.
    public enum Activation: Sendable, Equatable {
        /// `current` points at the new binary: restart the service so it runs (its start calls `boot()`).
        case restartRequired(executable: String)
        /// A container trial ran to its end.
        case finished(Outcome)
    }

    /// What `boot()` found and did.
    public struct BootReport: Sendable, Equatable {
        /// What runs now (nil when nothing is installed).
        public var running: Installed?
        /// Set while the running version is on trial: which start this is.
        public var trialAttempt: Int?
        /// Set when this boot ended an update (interrupted staging, or too many starts).
        public var outcome: Outcome?
    }

    public let configuration: Configuration
    public private(set) var lifecycle: UpdateLifecycle
    private let store: SlotStore

    public init(configuration: Configuration) throws(UpdateError) {
        self.configuration = configuration
        store = SlotStore(root: configuration.stateDirectory, calls: configuration.calls, faults: configuration.faults)
        try store.open()
        lifecycle = try store.load()
    }

    /// Where the binary of the running release is: `<state>/current/<file>`.
    public var currentExecutable: String? {
        guard let running = runningRelease, running.target.kind == .binary else { return nil }
        return configuration.stateDirectory + "/current/" + running.target.fileName
    }

    /// The release `current` should run now (the trial candidate, or the committed one).
    public var runningRelease: Installed? {
        switch lifecycle.phase {
        case .trial(let c, _, _), .healthWindow(let c, _, _, _): return c
        default: return lifecycle.committed
        }
    }

    public func slotPath(_ slot: Slot) -> String { store.slotPath(slot) }

    public func containerID(_ installed: Installed) -> String { "\(installed.target.containerName)-\(installed.slot)" }

    // MARK: Staging

    /// Checks `target` against this device, then writes `stagedFile` (already verified by the TUF
    /// download; verified again here) into the inactive slot. On any error the slot is cleaned and
    /// the running version is untouched.
    public func stage(target: TargetDescription, from stagedFile: String) throws(UpdateError) {
        if let refusal = lifecycle.refusal(of: target, board: configuration.board) {
            throw UpdateError(.refused, refusal)
        }
        switch lifecycle.phase {
        case .trial, .healthWindow:
            throw UpdateError(.invalidState, "an update is on trial (\(UpdateLifecycle.describe(lifecycle.phase))); "
                                  + "commit or roll it back first")
        case .staging:
            try perform(try lifecycle.handle(.stageFailed(reason: "staging was interrupted")), context: "restage")
        default:
            break
        }
        let candidate = Installed(slot: lifecycle.inactiveSlot, target: target)
        let before = lifecycle
        try perform(try lifecycle.handle(.stageStarted(candidate)), context: "stage", before: before)
        do {
            switch target.kind {
            case .binary:
                try store.stageBinary(target, from: stagedFile, into: candidate.slot)
            case .oci:
                let stats = try store.stageImage(target, from: stagedFile, into: candidate.slot,
                                                 platform: configuration.platform, spec: configuration.runtimeSpec)
                for note in stats.notes { configuration.log("updater: \(target.name): \(note)") }
                if stats.skippedDevices + stats.strippedSetuid > stats.notes.count {
                    configuration.log("updater: \(target.name): \(stats.skippedDevices) device nodes or FIFOs skipped, "
                                          + "\(stats.strippedSetuid) setuid/setgid bits cleared in all")
                }
            }
        } catch {
            configuration.log("updater: staging \(target.name) failed: \(error)")
            // Clean the slot; if even that fails, the state still says staging and the next boot cleans it.
            _ = try? perform(try lifecycle.handle(.stageFailed(reason: error.description)), context: "stage-failed")
            throw error
        }
        try perform(try lifecycle.handle(.stageFinished), context: "staged")
        configuration.log("updater: \(target.name) \(target.version) staged in slot \(candidate.slot)")
    }

    // MARK: Activation and trial

    /// Switches to the staged release. Binaries: `current` now points at it; restart the service.
    /// Containers: starts it beside the old one and supervises the trial to its end.
    public func activate() throws(UpdateError) -> Activation {
        guard case .staged(let candidate) = lifecycle.phase else {
            throw UpdateError(.invalidState, "nothing is staged (\(UpdateLifecycle.describe(lifecycle.phase)))")
        }
        let before = lifecycle
        do {
            try perform(try lifecycle.handle(.activate(now: configuration.clock())), context: "activate", before: before)
        } catch where error.code == .runtime && candidate.target.kind == .oci {
            let outcome = try rollback(reason: "the new container did not start: \(error)")
            return .finished(outcome)
        }
        switch candidate.target.kind {
        case .binary:
            return .restartRequired(executable: configuration.stateDirectory + "/current/" + candidate.target.fileName)
        case .oci:
            return .finished(try superviseContainerTrial(candidate))
        }
    }

    /// At every start of the service (or boot): counts the trial start, rolls back after too many,
    /// finishes an interrupted staging, and makes `current` (and the containers) match the state.
    public func boot() throws(UpdateError) -> BootReport {
        let now = configuration.clock()
        let before = lifecycle
        var outcome: Outcome?
        if let candidate = lifecycle.trialCandidate, candidate.target.kind == .oci {
            // A container trial is supervised by the process that started it; that process is gone.
            outcome = try perform(try lifecycle.handle(.rollback(reason: "the device restarted during the container trial")),
                                  context: "boot", before: before)
        } else {
            outcome = try perform(try lifecycle.handle(.started(now: now)), context: "boot", before: before)
        }
        if let committed = lifecycle.committed, committed.target.kind == .oci, lifecycle.trialCandidate == nil {
            // Exactly the committed container runs.
            configuration.runtime.stop(id: containerID(Installed(slot: committed.slot.other, target: committed.target)))
            try perform([.launch(committed.slot)], context: "boot", before: before)
        }
        var attempt: Int?
        if case .trial(_, let k, _) = lifecycle.phase { attempt = k }
        return BootReport(running: runningRelease, trialAttempt: attempt, outcome: outcome)
    }

    /// A health observation of the running trial: registered with the gateway and role self-tests
    /// passing (`ok`), or what failed. Commits once healthy for the window; rolls back on failure.
    @discardableResult
    public func healthReport(ok: Bool, reason: String = "") throws(UpdateError) -> Outcome? {
        let before = lifecycle
        return try perform(try lifecycle.handle(.health(ok: ok, reason: reason, now: configuration.clock())),
                           context: "health", before: before)
    }

    /// Advances the health window and the trial timeout; call at `lifecycle.nextDeadline`.
    @discardableResult
    public func tick() throws(UpdateError) -> Outcome? {
        let before = lifecycle
        return try perform(try lifecycle.handle(.tick(now: configuration.clock())), context: "tick", before: before)
    }

    /// Commits the trial now (an operator's decision, or a health check run elsewhere).
    @discardableResult
    public func commit() throws(UpdateError) -> Outcome {
        let before = lifecycle
        guard let outcome = try perform(try lifecycle.handle(.commit), context: "commit", before: before) else {
            throw UpdateError(.invalidState, "commit did not finish")
        }
        return outcome
    }

    /// Abandons the trial (or the staged release) and returns to the committed version.
    @discardableResult
    public func rollback(reason: String) throws(UpdateError) -> Outcome {
        let before = lifecycle
        guard let outcome = try perform(try lifecycle.handle(.rollback(reason: reason)), context: "rollback", before: before)
        else { throw UpdateError(.invalidState, "rollback did not finish") }
        return outcome
    }

    // MARK: Status

    public var status: JSON {
        func installed(_ value: Installed?) -> JSON {
            guard let value else { return .null }
            return ["slot": .string(value.slot.rawValue), "version": .string(value.target.version.description),
                    "kind": .string(value.target.kind.rawValue), "target": .string(value.target.name)]
        }
        var object: [String: JSON] = [
            "state_dir": .string(configuration.stateDirectory),
            "committed": installed(lifecycle.committed),
            "security_floor": .int(lifecycle.securityFloor),
            "current": store.currentSlot().map { .string($0.rawValue) } ?? .null,
        ]
        switch lifecycle.phase {
        case .idle: object["phase"] = "idle"
        case .staging: object["phase"] = "staging"
        case .staged: object["phase"] = "staged"
        case .trial(_, let attempt, _), .healthWindow(_, let attempt, _, _):
            object["phase"] = "trial"
            object["attempt"] = .int(Int64(attempt))
        }
        object["candidate"] = installed(lifecycle.candidate)
        if let outcome = lifecycle.lastOutcome {
            object["last_outcome"] = ["result": .string(outcome.result.rawValue),
                                      "version": .string(outcome.version.description), "reason": .string(outcome.reason)]
        }
        return .object(object)
    }

    // MARK: Containers

    private func superviseContainerTrial(_ candidate: Installed) throws(UpdateError) -> Outcome {
        let id = containerID(candidate)
        let policy = candidate.target.health
        var passedProbe = policy.probe.isEmpty
        var nextProbe: Int64 = 0
        while true {
            let now = configuration.clock()
            let before = lifecycle
            var outcome: Outcome?
            if configuration.runtime.status(id: id) != .running {
                outcome = try perform(try lifecycle.handle(.health(ok: false, reason: "container \(id) exited", now: now)),
                                      context: "trial", before: before)
            } else if !policy.probe.isEmpty && now >= nextProbe {
                nextProbe = now + max(configuration.pollMilliseconds, 500)
                let code = (try? configuration.runtime.exec(id: id, policy.probe, timeoutMilliseconds: 10_000)) ?? -1
                if code == 0 {
                    passedProbe = true
                    outcome = try perform(try lifecycle.handle(.health(ok: true, reason: "", now: now)),
                                          context: "trial", before: before)
                } else if passedProbe {
                    // Healthy once, then not: a real failure. Before the first pass it may still be starting.
                    outcome = try perform(try lifecycle.handle(.health(
                        ok: false, reason: "probe \(policy.probe.joined(separator: " ")) exited \(code)", now: now)),
                                          context: "trial", before: before)
                } else {
                    outcome = try perform(try lifecycle.handle(.tick(now: now)), context: "trial", before: before)
                }
            } else if passedProbe {
                outcome = try perform(try lifecycle.handle(.health(ok: true, reason: "", now: now)),
                                      context: "trial", before: before)
            } else {
                outcome = try perform(try lifecycle.handle(.tick(now: now)), context: "trial", before: before)
            }
            if let outcome { return outcome }
            usleep(useconds_t(configuration.pollMilliseconds * 1000))
        }
    }

    private func launchContainer(_ installed: Installed) throws(UpdateError) {
        let id = containerID(installed)
        let runtime = configuration.runtime
        if runtime.status(id: id) == .running { return }
        runtime.stop(id: id)  // a stopped leftover with this id
        let bundle = store.slotPath(installed.slot) + "/bundle"
        configuration.faults.step("launch.\(installed.slot)")
        try runtime.runDetached(id: id, bundle: bundle, logPath: store.slotPath(installed.slot) + "/container.log")
        configuration.log("updater: container \(id) (\(installed.target.version)) started")
    }

    // MARK: Actions

    /// Carries out the machine's actions in order; returns the outcome if the lifecycle finished.
    @discardableResult
    private func perform(_ actions: [UpdateLifecycle.Action], context: String,
                         before: UpdateLifecycle? = nil) throws(UpdateError) -> Outcome? {
        var releases: [Slot: Installed] = [:]
        for state in [before, lifecycle].compactMap({ $0 }) {
            if let committed = state.committed { releases[committed.slot] = committed }
            if let candidate = state.candidate { releases[candidate.slot] = candidate }
        }
        var outcome: Outcome?
        for action in actions {
            switch action {
            case .persist:
                try store.persist(lifecycle, context: context)
            case .clearSlot(let slot):
                if let release = releases[slot], release.target.kind == .oci {
                    configuration.runtime.stop(id: containerID(release))
                }
                try store.clear(slot, context: context)
            case .switchCurrent(let slot):
                try store.switchCurrent(to: slot, context: context)
            case .launch(let slot):
                if let release = releases[slot], release.target.kind == .oci { try launchContainer(release) }
            case .retire(let slot):
                if let release = releases[slot], release.target.kind == .oci {
                    configuration.faults.step("\(context).retire.\(slot)")
                    configuration.runtime.stop(id: containerID(release))
                    configuration.log("updater: container \(containerID(release)) stopped")
                }
            case .finished(let result):
                outcome = result
                configuration.log("updater: \(result.version) \(result.result.rawValue): \(result.reason)")
            }
        }
        return outcome
    }
}
