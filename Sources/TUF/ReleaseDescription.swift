import JSON

/// What a target is, for the updater: nanoedge's typed view over a target's `custom` field.
///
/// ```json
/// "custom": {
///   "kind": "binary",                 // or "oci"
///   "version": "1.4.2",
///   "boards": ["rpi4b", "rpi5"],
///   "security_counter": 7,            // a device refuses releases below the highest it has run
///   "min_version": "1.2.0",           // optional: the oldest version that may update to this one
///   "health": {"window_seconds": 120, "attempts": 3}
/// }
/// ```
/// Other fields inside `custom` are kept as they are (signatures cover them).
public struct ReleaseDescription: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An agent binary installed into an A/B slot.
        case binary
        /// An OCI image run as a runtime bundle in an A/B slot.
        case oci
    }

    /// How long a new release has to prove itself before it is committed.
    public struct HealthPolicy: Sendable, Hashable {
        /// The health window after start, in seconds (1 s to 1 day).
        public var windowSeconds: Int64
        /// Starts allowed within the window before the slot is rolled back (1 to 100).
        public var attempts: Int64

        public init(windowSeconds: Int64 = 120, attempts: Int64 = 3) {
            self.windowSeconds = windowSeconds
            self.attempts = attempts
        }
    }

    public var kind: Kind
    public var version: String
    public var boards: [String]
    public var securityCounter: Int64
    public var minimumVersion: String?
    public var health: HealthPolicy
    public var unrecognized: [String: JSON]

    public init(kind: Kind, version: String, boards: [String], securityCounter: Int64,
                minimumVersion: String? = nil, health: HealthPolicy = .init()) throws(TUFError) {
        self.kind = kind
        self.version = version
        self.boards = boards
        self.securityCounter = securityCounter
        self.minimumVersion = minimumVersion
        self.health = health
        unrecognized = [:]
        try validate()
    }

    /// Reads and validates `custom`; the message names the field that is wrong.
    public init(custom: JSON) throws(TUFError) {
        var reader = try FieldReader(custom, context: "custom")
        let kindText = try reader.string("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw TUFError(.invalidMetadata, "custom.kind '\(kindText)' is not one of binary, oci")
        }
        self.kind = kind
        version = try reader.string("version")
        boards = try reader.stringArray("boards")
        securityCounter = try reader.int("security_counter")
        if let value = reader.take("min_version") {
            guard case .string(let text) = value else { throw reader.typeError("min_version", "a string") }
            minimumVersion = text
        }
        var healthReader = try FieldReader(.object(try reader.object("health")), context: "custom.health")
        health = HealthPolicy(windowSeconds: try healthReader.int("window_seconds"),
                              attempts: try healthReader.int("attempts"))
        unrecognized = reader.rest
        try validate()
    }

    public var json: JSON {
        var out = unrecognized
        out["kind"] = .string(kind.rawValue)
        out["version"] = .string(version)
        out["boards"] = .array(boards.map { .string($0) })
        out["security_counter"] = .int(securityCounter)
        if let minimumVersion { out["min_version"] = .string(minimumVersion) }
        out["health"] = ["window_seconds": .int(health.windowSeconds), "attempts": .int(health.attempts)]
        return .object(out)
    }

    public func supports(board: String) -> Bool {
        boards.contains(board)
    }

    private func validate() throws(TUFError) {
        guard ReleaseDescription.isVersion(version) else {
            throw TUFError(.invalidMetadata, "custom.version '\(version)' is not a version like 1.4.2 or 1.4.2-rc.1")
        }
        if let minimumVersion, !ReleaseDescription.isVersion(minimumVersion) {
            throw TUFError(.invalidMetadata, "custom.min_version '\(minimumVersion)' is not a version like 1.2.0")
        }
        guard !boards.isEmpty else { throw TUFError(.invalidMetadata, "custom.boards must name at least one board") }
        for board in boards where !ReleaseDescription.isName(board) {
            throw TUFError(.invalidMetadata, "custom.boards: '\(board)' is not a board name (letters, digits, '-', '_')")
        }
        guard securityCounter >= 0 else { throw TUFError(.invalidMetadata, "custom.security_counter must be >= 0") }
        guard (1...86_400).contains(health.windowSeconds) else {
            throw TUFError(.invalidMetadata, "custom.health.window_seconds must be between 1 and 86400")
        }
        guard (1...100).contains(health.attempts) else {
            throw TUFError(.invalidMetadata, "custom.health.attempts must be between 1 and 100")
        }
    }

    /// `MAJOR.MINOR.PATCH` with an optional `-prerelease` of letters, digits, dots and hyphens.
    static func isVersion(_ text: String) -> Bool {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let core = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3,
              core.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 9 && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } })
        else { return false }
        if parts.count == 2 {
            return !parts[1].isEmpty && parts[1].utf8.allSatisfy { isNameByte($0) || $0 == UInt8(ascii: ".") }
        }
        return true
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy(isNameByte)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
}

extension TargetFile {
    /// The release this target describes; throws when `custom` is missing or invalid.
    public func release() throws(TUFError) -> ReleaseDescription {
        guard let custom else { throw TUFError(.invalidMetadata, "target \(path) has no release description in custom") }
        do {
            return try ReleaseDescription(custom: custom)
        } catch {
            throw TUFError(error.code, "target \(path): \(error.message)")
        }
    }
}
