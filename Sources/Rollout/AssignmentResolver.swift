/// One deployment as seen from one device, for choosing what the device should run.
public struct DeploymentCandidate: Sendable, Hashable {
    public var deployment: Int64
    public var target: String
    public var status: RolloutStatus
    /// The device's position in the deployment's order, and how many positions are reached.
    public var position: Int
    public var reachedCount: Int
    public var outcome: DeviceOutcome

    public init(deployment: Int64, target: String, status: RolloutStatus, position: Int, reachedCount: Int,
                outcome: DeviceOutcome) {
        self.deployment = deployment
        self.target = target
        self.status = status
        self.position = position
        self.reachedCount = reachedCount
        self.outcome = outcome
    }

    public var isReached: Bool { position < reachedCount }
}

/// Chooses a device's assignment among the deployments that include it.
///
/// The newest deployment that has reached the device wins, unless the device reported failure for
/// it: it rolled back on its own, so it goes back to what it had before (the next older deployment
/// that reached it) rather than being told to try the same target again. A halted deployment keeps
/// the devices it reached, and adds no more; devices not yet reached keep their old release.
public enum AssignmentResolver {
    public static func resolve(_ candidates: [DeploymentCandidate]) -> DeploymentCandidate? {
        candidates
            .sorted { $0.deployment > $1.deployment }
            .first { $0.isReached && $0.outcome != .failure }
    }
}
