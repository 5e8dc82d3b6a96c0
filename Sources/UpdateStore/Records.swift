import Releases
import Rollout

public struct GroupRecord: Sendable, Hashable {
    public var name: String
    public var deviceCount: Int
    public var createdAt: Int64
}

/// A device as the update server knows it: its board, group and last check-in.
public struct DeviceRecord: Sendable, Hashable {
    public var id: String
    public var board: String
    public var group: String
    public var createdAt: Int64
    public var lastSeen: Int64?
    public var version: String?
    public var slot: String?
    public var health: String?
    public var target: String?
    public var lastError: String?
}

/// A released artifact: its TUF target name, what it is, and its content address.
public struct ReleaseRecord: Sendable, Hashable {
    public var target: String
    public var custom: TargetCustom
    /// Lower-case hex SHA-256 of the artifact; also its file name in the artifact store.
    public var sha256: String
    public var length: Int64
    public var createdAt: Int64

    public init(target: String, custom: TargetCustom, sha256: String, length: Int64, createdAt: Int64) {
        self.target = target
        self.custom = custom
        self.sha256 = sha256
        self.length = length
        self.createdAt = createdAt
    }
}

public struct DeploymentRecord: Sendable, Hashable {
    public var id: Int64
    public var target: String
    public var group: String
    public var plan: RolloutPlan
    public var deviceCount: Int
    public var state: RolloutState
    public var reachedCount: Int
    public var createdAt: Int64
    public var updatedAt: Int64

    public var machine: RolloutMachine { RolloutMachine(plan: plan, deviceCount: deviceCount) }
}

/// One device's place and outcome in a deployment.
public struct DeploymentDevice: Sendable, Hashable {
    public var device: String
    public var position: Int
    public var outcome: DeviceOutcome
    public var error: String?
    public var reportedAt: Int64?
}

/// Counts for a deployment's status.
public struct DeploymentProgress: Sendable, Hashable {
    public var reached: Int
    public var succeeded: Int
    public var failed: Int
    public var pending: Int
}

/// Devices whose assignment changed, to be told at once.
public struct AssignmentChange: Sendable, Hashable {
    public var deployment: Int64
    public var devices: [String]

    public init(deployment: Int64, devices: [String]) {
        self.deployment = deployment
        self.devices = devices
    }
}

/// What a `NOTIFY nanoedge_assignments` says: a deployment's assignments changed (`d:ID`), or a
/// device was added (`v:ID`).
public enum ChangeNotice: Sendable, Hashable {
    case deployment(Int64)
    case device(String)

    public var payload: String {
        switch self {
        case .deployment(let id): "d:\(id)"
        case .device(let id): "v:\(id)"
        }
    }

    public init?(payload: String) {
        if payload.hasPrefix("d:"), let id = Int64(payload.dropFirst(2)) {
            self = .deployment(id)
        } else if payload.hasPrefix("v:"), payload.count > 2 {
            self = .device(String(payload.dropFirst(2)))
        } else {
            return nil
        }
    }
}
