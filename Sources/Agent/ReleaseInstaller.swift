import TUF
import TUFNetwork
import Updater

#if canImport(Glibc)
import Glibc
#endif

/// What the updater's state says this device runs, in plain values the reactor thread can keep.
public struct InstalledRelease: Sendable, Equatable {
    public var version: String
    /// `a` or `b`; nil when nothing was ever installed (the packaged binary runs).
    public var slot: String?
    /// The TUF target it came from.
    public var target: String?
    /// True while the running release is a trial that is not committed yet.
    public var onTrial: Bool
    /// How the last update ended: result (`committed`, `rolled_back`, `failed`), version, reason.
    public var lastOutcome: (result: String, version: String, reason: String)?
    /// Milliseconds from now until the trial's health window or time-out ends.
    public var nextDeadlineIn: Int64?

    /// The compiled-in version, for a device without any release installed.
    public static let packaged = InstalledRelease(version: agentVersion, slot: nil, target: nil, onTrial: false)

    public static func == (lhs: InstalledRelease, rhs: InstalledRelease) -> Bool {
        lhs.version == rhs.version && lhs.slot == rhs.slot && lhs.target == rhs.target && lhs.onTrial == rhs.onTrial
            && lhs.lastOutcome?.result == rhs.lastOutcome?.result && lhs.lastOutcome?.version == rhs.lastOutcome?.version
            && lhs.lastOutcome?.reason == rhs.lastOutcome?.reason && lhs.nextDeadlineIn == rhs.nextDeadlineIn
    }
}

/// The agent's side of the updater: TUF download into staging, stage and activate, health reports.
/// Synchronous and blocking: the agent runs it on its worker thread. Each call opens the updater
/// (taking its lock) and lets it go, so `nanoedge-agent update status` works between calls.
struct ReleaseInstaller: Sendable {
    let stateDirectory: String
    let board: String
    let settings: UpdateSettings?

    /// What the updater's state says runs now; the packaged version when nothing is installed.
    func installed() throws(AgentError) -> InstalledRelease {
        // No state yet: do not create the updater's directories on a device that never updated.
        if access(stateDirectory + "/updater/state.json", F_OK) != 0 { return .packaged }
        return describe(try open())
    }

    /// Downloads `target` (verified against the pinned TUF root), stages it into the inactive slot
    /// and points `current` at it. The caller then exits so that the new binary starts. Metadata
    /// verified on the way stays trusted even when a later step fails; a target that fails
    /// verification is never staged.
    /// `referenceTime` is what metadata expiry is checked against: the agent's trusted time (TrustedTime).
    func install(target name: String, expectedVersion: String,
                 referenceTime: TUFTime) throws(AgentError) -> InstalledRelease {
        guard let settings else { throw AgentError("updates are not configured") }
        let file: TargetFile
        var staged = ""
        do {
            let client = try TUFClient(metadataDirectory: settings.metadataDirectory, metadataBaseURL: settings.metadataURL,
                                       transport: CurlTransport(options: settings.downloadOptions),
                                       referenceTime: referenceTime)
            try client.refresh()
            guard let found = try client.targetInfo(name) else {
                throw AgentError("target \(name) is not in the signed TUF metadata of \(settings.server)")
            }
            file = found
            // Outside the metadata directory, which holds only verified metadata.
            staged = stateDirectory + "/downloads/" + TUFClient.localName(for: found)
            try client.download(file, targetBaseURL: settings.targetsURL, to: staged)
        } catch let error as AgentError {
            throw error
        } catch let error as TUFError {
            throw AgentError("TUF: \(error)", retryable: error.code == .network || error.code == .io)
        } catch {
            throw AgentError("TUF: \(error)")
        }
        defer { unlink(staged) }
        guard let sha256 = file.hashes["sha256"], let custom = file.custom else {
            throw AgentError("target \(name) has no sha256 or no custom description in the signed metadata")
        }
        let updater = try open()
        do {
            let description = try TargetDescription(name: file.path, length: file.length, sha256: sha256, custom: custom)
            // The assignment only names the target; what is installed is what the metadata signs.
            guard Version(expectedVersion) == description.version else {
                throw AgentError("target \(name) is signed as version \(description.version), the assignment "
                                     + "says \(expectedVersion)")
            }
            try updater.stage(target: description, from: staged)
            _ = try updater.activate()
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError("\(error)")
        }
        return describe(updater)
    }

    /// One health observation of the running trial; commits after the window, rolls back on failure.
    func health(ok: Bool, reason: String) throws(AgentError) -> InstalledRelease {
        let updater = try open()
        do {
            try updater.healthReport(ok: ok, reason: reason)
        } catch {
            throw AgentError("\(error)")
        }
        return describe(updater)
    }

    private func open() throws(AgentError) -> Updater {
        do {
            return try Updater(configuration: Updater.Configuration(stateDirectory: stateDirectory, board: board))
        } catch {
            // Most likely another updater (an operator's `update` command) holds the lock.
            throw AgentError("\(error)", retryable: true)
        }
    }

    private func describe(_ updater: Updater) -> InstalledRelease {
        let lifecycle = updater.lifecycle
        guard let running = updater.runningRelease else {
            var release = InstalledRelease.packaged
            release.lastOutcome = lifecycle.lastOutcome.map { ($0.result.rawValue, $0.version.description, $0.reason) }
            return release
        }
        return InstalledRelease(
            version: running.target.version.description, slot: running.slot.rawValue, target: running.target.name,
            onTrial: lifecycle.trialCandidate != nil,
            lastOutcome: lifecycle.lastOutcome.map { ($0.result.rawValue, $0.version.description, $0.reason) },
            nextDeadlineIn: lifecycle.nextDeadline.map { max(0, $0 - bootTimeMilliseconds()) })
    }
}
