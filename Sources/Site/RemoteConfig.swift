import JSON

/// A setting a gateway may change on a device's role at run time, with the range a device accepts.
public enum RemoteSetting: String, CaseIterable, Sendable {
    case presenceHoldMs = "presence.hold_ms"
    case presenceMinHighMs = "presence.min_high_ms"
    case scannerWindowMs = "scanner.window_ms"
    case guidanceChaseStepMs = "guidance.chase_step_ms"
    case guidanceBlinkPeriodMs = "guidance.blink_period_ms"

    public var role: DeviceRole {
        switch self {
        case .presenceHoldMs, .presenceMinHighMs: .presence
        case .scannerWindowMs: .scanner
        case .guidanceChaseStepMs, .guidanceBlinkPeriodMs: .guidance
        }
    }

    public var range: ClosedRange<Int64> {
        switch self {
        case .presenceHoldMs: 0...600_000
        case .presenceMinHighMs: 0...10_000
        case .scannerWindowMs: 100...60_000
        case .guidanceChaseStepMs: 20...10_000
        case .guidanceBlinkPeriodMs: 40...20_000
        }
    }
}

/// A signed change to one role's settings, pushed by the gateway and applied by the device without
/// a restart. The operator signs the canonical JSON of `signed` with an offline key; devices pin
/// the public half, so the gateway relays configs but cannot forge one.
public struct RemoteConfig: Sendable, Equatable {
    public var role: DeviceRole
    /// Grows with every push for the role; a device never applies an older or equal one.
    public var version: Int64
    /// Epoch milliseconds.
    public var issuedAt: Int64
    public var settings: [RemoteSetting: Int64]

    public init(role: DeviceRole, version: Int64, issuedAt: Int64, settings: [RemoteSetting: Int64]) {
        self.role = role
        self.version = version
        self.issuedAt = issuedAt
        self.settings = settings
    }

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Every setting belongs to the role and lies in its range.
    public func validate() throws(Invalid) {
        guard version >= 1 else { throw Invalid("version must be 1 or more") }
        guard !settings.isEmpty else { throw Invalid("no settings") }
        for (setting, value) in settings.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard setting.role == role else {
                throw Invalid("\(setting.rawValue) is a \(setting.role.rawValue) setting, not a \(role.rawValue) one")
            }
            guard setting.range.contains(value) else {
                throw Invalid("\(setting.rawValue) = \(value) is outside \(setting.range.lowerBound)…\(setting.range.upperBound)")
            }
        }
    }

    public var json: JSON {
        var object: [String: JSON] = [:]
        for (setting, value) in settings { object[setting.rawValue] = .int(value) }
        return ["role": .string(role.rawValue), "version": .int(version), "issued_at": .int(issuedAt),
                "settings": .object(object)]
    }

    public init(json: JSON) throws(JSONError) {
        let roleText = try json.requiredString("role")
        guard let role = DeviceRole(rawValue: roleText) else { throw JSONError("unknown role '\(roleText)'") }
        guard let object = json["settings"]?.objectValue else { throw JSONError("field 'settings' must be an object") }
        var settings: [RemoteSetting: Int64] = [:]
        for (key, value) in object {
            guard let setting = RemoteSetting(rawValue: key) else {
                throw JSONError("unknown setting '\(key)'; known: \(RemoteSetting.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let number = value.intValue else { throw JSONError("setting '\(key)' must be an integer") }
            settings[setting] = number
        }
        self.init(role: role, version: try json.requiredInt("version"), issuedAt: try json.requiredInt("issued_at"),
                  settings: settings)
    }

    /// The bytes a signature covers.
    public func signedBytes() -> [UInt8] {
        // Only strings, integers and objects: canonical JSON cannot fail here.
        (try? json.canonicalBytes()) ?? []
    }
}

/// A config with its signature, as the gateway stores and publishes it.
public struct SignedRemoteConfig: Sendable, Equatable {
    public var config: RemoteConfig
    /// Hex SHA-256 of the signer's public key (PEM), so a device can tell a wrong key from a bad signature.
    public var keyID: String
    public var signature: [UInt8]

    public init(config: RemoteConfig, keyID: String, signature: [UInt8]) {
        self.config = config
        self.keyID = keyID
        self.signature = signature
    }

    public var json: JSON {
        ["signed": config.json, "keyid": .string(keyID), "sig": .string(hex(signature))]
    }

    public init(json: JSON) throws(JSONError) {
        guard let signed = json["signed"] else { throw JSONError("missing field 'signed'") }
        let sigText = try json.requiredString("sig")
        guard let signature = unhex(sigText) else { throw JSONError("field 'sig' is not hex") }
        self.init(config: try RemoteConfig(json: signed), keyID: try json.requiredString("keyid"), signature: signature)
    }
}

private func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}

private func unhex(_ text: String) -> [UInt8]? {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(chars.count / 2)
    var index = 0
    while index < chars.count {
        guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}

private func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x57
    case 0x41...0x46: c - 0x37
    default: nil
    }
}
