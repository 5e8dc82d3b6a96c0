import JSON

/// What a release installs as.
public enum ReleaseKind: String, Sendable, Hashable, CaseIterable {
    /// One executable, installed into an A/B slot.
    case binary
    /// An OCI image (as an oci-archive tar), run as a container from an A/B bundle.
    case oci
}

/// How a device decides that a new release is healthy before it commits it.
public struct HealthPolicy: Sendable, Hashable {
    /// How long the new release must run without failing before it is committed.
    public var windowSeconds: Int64
    /// Starts (boots or container starts) allowed within the window before the device rolls back.
    public var attempts: Int64

    public init(windowSeconds: Int64 = 120, attempts: Int64 = 3) {
        self.windowSeconds = windowSeconds
        self.attempts = attempts
    }

    public var json: JSON { ["window_seconds": .int(windowSeconds), "attempts": .int(attempts)] }

    public init(json: JSON) throws(JSONError) {
        windowSeconds = try json.requiredInt("window_seconds")
        attempts = try json.requiredInt("attempts")
        guard (1...86_400).contains(windowSeconds) else { throw JSONError("field 'window_seconds' must be 1 to 86400") }
        guard (1...100).contains(attempts) else { throw JSONError("field 'attempts' must be 1 to 100") }
    }
}

/// The `custom` object of a TUF target: everything a device needs to decide whether and how to
/// install it. The hashes and length sit beside it in the target entry and are TUF's business.
/// The JSON is the TUF module's `ReleaseDescription` plus `name`, which it keeps as an extra field.
public struct TargetCustom: Sendable, Hashable {
    public var kind: ReleaseKind
    /// The release's name, shared by its versions (e.g. `nanoedge-agent`).
    public var name: String
    public var version: ReleaseVersion
    /// Board profile names (`boards/*.toml`) the artifact runs on.
    public var boards: [String]
    /// Devices refuse a release with a lower counter than one they ran; it only ever goes up.
    public var securityCounter: Int64
    /// A device must run at least this version of the release before it may install this one.
    public var minVersion: ReleaseVersion?
    public var health: HealthPolicy
    /// OCI releases: `custom.unpack`, the limits and permissions for unpacking the image
    /// (`{"max_bytes", "max_entries", "allow_setuid"}`; the OCI module's `UnpackPolicy` reads it).
    public var unpack: JSON?
    /// OCI releases: an image whose USER is root may run as root.
    public var allowRoot: Bool

    public init(kind: ReleaseKind, name: String, version: ReleaseVersion, boards: [String],
                securityCounter: Int64 = 0, minVersion: ReleaseVersion? = nil, health: HealthPolicy = HealthPolicy(),
                unpack: JSON? = nil, allowRoot: Bool = false) {
        self.kind = kind
        self.name = name
        self.version = version
        self.boards = boards
        self.securityCounter = securityCounter
        self.minVersion = minVersion
        self.health = health
        self.unpack = unpack
        self.allowRoot = allowRoot
    }

    public var json: JSON {
        var members: [String: JSON] = [
            "kind": .string(kind.rawValue), "name": .string(name), "version": .string(version.description),
            "boards": .array(boards.map { .string($0) }), "security_counter": .int(securityCounter),
            "health": health.json,
        ]
        if let minVersion { members["min_version"] = .string(minVersion.description) }
        if let unpack { members["unpack"] = unpack }
        if allowRoot { members["allow_root"] = .bool(true) }
        return .object(members)
    }

    public init(json: JSON) throws(JSONError) {
        let kindText = try json.requiredString("kind")
        guard let kind = ReleaseKind(rawValue: kindText) else {
            throw JSONError("field 'kind' must be \"binary\" or \"oci\", not \"\(kindText)\"")
        }
        self.kind = kind
        name = try json.requiredString("name")
        let versionText = try json.requiredString("version")
        guard let version = ReleaseVersion(versionText) else {
            throw JSONError("field 'version' is not a SemVer version: \"\(versionText)\"")
        }
        self.version = version
        var boards: [String] = []
        for item in try json.requiredArray("boards") {
            guard let board = item.stringValue else { throw JSONError("field 'boards' must hold strings") }
            boards.append(board)
        }
        self.boards = boards
        securityCounter = try json.requiredInt("security_counter")
        if let text = try json.optionalString("min_version") {
            guard let minimum = ReleaseVersion(text) else {
                throw JSONError("field 'min_version' is not a SemVer version: \"\(text)\"")
            }
            minVersion = minimum
        } else {
            minVersion = nil
        }
        health = try HealthPolicy(json: try json.requiredObject("health"))
        if let value = json["unpack"], value != .null {
            guard case .object = value else { throw JSONError("field 'unpack' must be an object") }
            unpack = value
        } else {
            unpack = nil
        }
        if let value = json["allow_root"] {
            guard let flag = value.boolValue else { throw JSONError("field 'allow_root' must be true or false") }
            allowRoot = flag
        } else {
            allowRoot = false
        }
    }
}
