import JSON

/// What the update server wants a device to run: one TUF target and its `custom`, or nothing.
///
/// The device still verifies the target against the TUF metadata before it uses it; the assignment
/// only names it. `deployment` changes whenever the answer does, so it doubles as a revision.
public struct Assignment: Sendable, Hashable {
    public var deployment: Int64
    public var target: String
    public var custom: TargetCustom

    public init(deployment: Int64, target: String, custom: TargetCustom) {
        self.deployment = deployment
        self.target = target
        self.custom = custom
    }

    /// `{"deployment": N, "target": "…", "custom": {…}}`, or `{"target": null}` for no assignment.
    public static func json(_ assignment: Assignment?) -> JSON {
        guard let assignment else { return ["deployment": .null, "target": .null, "custom": .null] }
        return ["deployment": .int(assignment.deployment), "target": .string(assignment.target),
                "custom": assignment.custom.json]
    }

    /// Parses what `json(_:)` writes; nil for "no assignment".
    public static func parse(_ json: JSON) throws(JSONError) -> Assignment? {
        guard let target = try json.optionalString("target") else { return nil }
        return Assignment(deployment: try json.requiredInt("deployment"), target: target,
                          custom: try TargetCustom(json: try json.requiredObject("custom")))
    }
}

/// The A/B slot a device runs from.
public enum Slot: String, Sendable, Hashable, CaseIterable {
    case a, b
}

/// How a device feels about the release it runs.
public enum DeviceHealth: String, Sendable, Hashable, CaseIterable {
    case ok
    case degraded
    case failed
}

/// A device's periodic check-in: what it runs now. The answer is its assignment.
public struct CheckIn: Sendable, Hashable {
    /// The version of the release the device runs (`0.0.0` before its first release).
    public var version: ReleaseVersion
    public var slot: Slot
    public var health: DeviceHealth
    /// The TUF target it runs, when it came from a release.
    public var target: String?
    /// The last update error, for operators; nil when there was none.
    public var lastError: String?

    public init(version: ReleaseVersion, slot: Slot, health: DeviceHealth, target: String? = nil,
                lastError: String? = nil) {
        self.version = version
        self.slot = slot
        self.health = health
        self.target = target
        self.lastError = lastError
    }

    public var json: JSON {
        ["version": .string(version.description), "slot": .string(slot.rawValue), "health": .string(health.rawValue),
         "target": target.map { .string($0) } ?? .null, "last_error": lastError.map { .string($0) } ?? .null]
    }

    public init(json: JSON) throws(JSONError) {
        let versionText = try json.requiredString("version")
        guard let version = ReleaseVersion(versionText) else {
            throw JSONError("field 'version' is not a SemVer version: \"\(versionText)\"")
        }
        self.version = version
        slot = try json.requiredEnum("slot", Slot.self)
        health = try json.requiredEnum("health", DeviceHealth.self)
        target = try json.optionalString("target")
        lastError = try json.optionalString("last_error")
        if let lastError, lastError.utf8.count > 2048 {
            throw JSONError("field 'last_error' is longer than 2048 bytes")
        }
    }
}

/// A device's report on one assigned target: it installed and committed it, or it gave up on it.
public struct UpdateReport: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// Installed, healthy through the health window, committed.
        case success
        /// Download, verification, installation or the health check failed; the device rolled back.
        case failure
    }

    public var deployment: Int64
    public var target: String
    public var outcome: Outcome
    public var error: String?

    public init(deployment: Int64, target: String, outcome: Outcome, error: String? = nil) {
        self.deployment = deployment
        self.target = target
        self.outcome = outcome
        self.error = error
    }

    public var json: JSON {
        ["deployment": .int(deployment), "target": .string(target), "outcome": .string(outcome.rawValue),
         "error": error.map { .string($0) } ?? .null]
    }

    public init(json: JSON) throws(JSONError) {
        deployment = try json.requiredInt("deployment")
        target = try json.requiredString("target")
        outcome = try json.requiredEnum("outcome", Outcome.self)
        error = try json.optionalString("error")
        if let error, error.utf8.count > 2048 { throw JSONError("field 'error' is longer than 2048 bytes") }
        if outcome == .failure, error == nil { throw JSONError("a failure report needs field 'error'") }
    }
}

extension JSON {
    /// A string field that must be one of `E`'s raw values; the error lists them.
    public func requiredEnum<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws(JSONError) -> E
        where E.RawValue == String
    {
        let text = try requiredString(key)
        guard let value = E(rawValue: text) else {
            let allowed = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw JSONError("field '\(key)' must be one of \(allowed), not \"\(text)\"")
        }
        return value
    }
}
