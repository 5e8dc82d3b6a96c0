import CryptoEVP
import JSON

/// The fields every role's `signed` part has.
public struct SignedCommon: Sendable, Hashable {
    public var version: Int64
    /// `X.Y.Z` or `X.Y`; only major version 1 is read.
    public var specVersion: String
    public var expires: TUFTime
    /// Fields of `signed` this implementation does not know, written back unchanged.
    public var unrecognized: [String: JSON]

    /// The TUF specification version this implementation follows (python-tuf's too).
    public static let specificationVersion = "1.0.31"

    public init(version: Int64 = 1, expires: TUFTime, specVersion: String = SignedCommon.specificationVersion,
                unrecognized: [String: JSON] = [:]) {
        self.version = version
        self.specVersion = specVersion
        self.expires = expires
        self.unrecognized = unrecognized
    }

    /// Reads `_type`, `version`, `spec_version` and `expires`, leaving the rest in `reader`.
    init(reading reader: inout FieldReader, type: String) throws(TUFError) {
        let found = try reader.string("_type")
        guard found == type else {
            throw TUFError(.repository, "expected \(type) metadata, found '\(found)'")
        }
        version = try reader.int("version")
        guard version > 0 else { throw TUFError(.invalidMetadata, "\(type) version must be > 0, got \(version)") }
        specVersion = try reader.string("spec_version")
        let parts = specVersion.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3,
              parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } })
        else { throw TUFError(.invalidMetadata, "cannot parse spec_version '\(specVersion)'") }
        guard parts[0] == "1" else {
            throw TUFError(.invalidMetadata, "unsupported spec_version \(specVersion): this client reads 1.x")
        }
        let expiresText = try reader.string("expires")
        guard let expires = TUFTime(expiresText) else {
            throw TUFError(.invalidMetadata, "\(type).expires '\(expiresText)' is not YYYY-MM-DDTHH:MM:SSZ")
        }
        self.expires = expires
        unrecognized = [:]
    }

    func fields(type: String) -> [String: JSON] {
        var out = unrecognized
        out["_type"] = .string(type)
        out["version"] = .int(version)
        out["spec_version"] = .string(specVersion)
        out["expires"] = .string(expires.description)
        return out
    }

    /// Expired when `now` has reached `expires` (python-tuf's `reference_time >= expires`).
    public func isExpired(at now: TUFTime) -> Bool {
        now >= expires
    }
}

/// A role's `signed` part: one of root, timestamp, snapshot or targets.
public protocol SignedRole: Sendable {
    static var type: String { get }
    var common: SignedCommon { get set }
    init(json: JSON) throws(TUFError)
    var json: JSON { get }
}

extension SignedRole {
    public var version: Int64 {
        get { common.version }
        set { common.version = newValue }
    }

    public var expires: TUFTime {
        get { common.expires }
        set { common.expires = newValue }
    }
}

/// The keys and threshold of a role (root's `roles` entries).
public struct RoleKeys: Sendable, Hashable {
    public var keyIDs: [String]
    public var threshold: Int64
    public var unrecognized: [String: JSON]

    public init(keyIDs: [String], threshold: Int64, unrecognized: [String: JSON] = [:]) {
        self.keyIDs = keyIDs
        self.threshold = threshold
        self.unrecognized = unrecognized
    }

    init(reading reader: inout FieldReader) throws(TUFError) {
        keyIDs = try reader.stringArray("keyids")
        threshold = try reader.int("threshold")
        guard Set(keyIDs).count == keyIDs.count else {
            throw TUFError(.invalidMetadata, "\(reader.context) lists a key id twice")
        }
        guard threshold >= 1 else { throw TUFError(.invalidMetadata, "\(reader.context).threshold must be at least 1") }
        unrecognized = [:]
    }

    init(json: JSON, context: String) throws(TUFError) {
        var reader = try FieldReader(json, context: context)
        try self.init(reading: &reader)
        unrecognized = reader.rest
    }

    func fields() -> [String: JSON] {
        var out = unrecognized
        out["keyids"] = .array(keyIDs.map { .string($0) })
        out["threshold"] = .int(threshold)
        return out
    }

    var json: JSON { .object(fields()) }
}

// MARK: - Root

public struct Root: SignedRole, Hashable {
    public static let type = "root"
    public static let topLevelRoles: Set<String> = ["root", "timestamp", "snapshot", "targets"]

    public var common: SignedCommon
    public var keys: [String: TUFKey]
    /// Exactly the four top-level roles.
    public var roles: [String: RoleKeys]
    /// nil when the field is absent (written back absent).
    public var consistentSnapshot: Bool?

    public init(common: SignedCommon, keys: [String: TUFKey], roles: [String: RoleKeys],
                consistentSnapshot: Bool? = true) throws(TUFError) {
        guard Set(roles.keys) == Root.topLevelRoles else {
            throw TUFError(.invalidMetadata, "root.roles must name exactly root, timestamp, snapshot and targets")
        }
        self.common = common
        self.keys = keys
        self.roles = roles
        self.consistentSnapshot = consistentSnapshot
    }

    public init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "root")
        var common = try SignedCommon(reading: &reader, type: Root.type)
        var consistent: Bool?
        if let value = reader.take("consistent_snapshot") {
            switch value {
            case .bool(let flag): consistent = flag
            case .null: consistent = nil
            default: throw reader.typeError("consistent_snapshot", "a boolean")
            }
        }
        var keys: [String: TUFKey] = [:]
        for (keyID, key) in try reader.object("keys") {
            keys[keyID] = try TUFKey(json: key, context: "root.keys.\(keyID)")
        }
        var roles: [String: RoleKeys] = [:]
        for (name, role) in try reader.object("roles") {
            roles[name] = try RoleKeys(json: role, context: "root.roles.\(name)")
        }
        common.unrecognized = reader.rest
        try self.init(common: common, keys: keys, roles: roles, consistentSnapshot: consistent)
    }

    public var json: JSON {
        var out = common.fields(type: Root.type)
        out["keys"] = .object(keys.mapValues(\.json))
        out["roles"] = .object(roles.mapValues(\.json))
        if let consistentSnapshot { out["consistent_snapshot"] = .bool(consistentSnapshot) }
        return .object(out)
    }
}

// MARK: - Files listed by timestamp, snapshot and targets

/// A metadata file as timestamp and snapshot list it.
public struct MetaFile: Sendable, Hashable {
    public var version: Int64
    public var length: Int64?
    /// Algorithm name → lower-case hex digest.
    public var hashes: [String: String]?
    public var unrecognized: [String: JSON]

    public init(version: Int64, length: Int64? = nil, hashes: [String: String]? = nil,
                unrecognized: [String: JSON] = [:]) {
        self.version = version
        self.length = length
        self.hashes = hashes
        self.unrecognized = unrecognized
    }

    /// Version, length and SHA-256 of `bytes`.
    public init(version: Int64, describing bytes: [UInt8]) {
        self.init(version: version, length: Int64(bytes.count), hashes: ["sha256": Hex.encode(Digest.sha256(bytes))])
    }

    init(json: JSON, context: String) throws(TUFError) {
        var reader = try FieldReader(json, context: context)
        version = try reader.int("version")
        guard version > 0 else { throw TUFError(.invalidMetadata, "\(context).version must be > 0") }
        length = try reader.optionalInt("length")
        if let length, length < 0 { throw TUFError(.invalidMetadata, "\(context).length must be >= 0") }
        if let value = reader.take("hashes") {
            guard case .object(let members) = value, !members.isEmpty else {
                throw TUFError(.invalidMetadata, "\(context).hashes must be a non-empty object")
            }
            hashes = try TUFError.stringMap(members, "\(context).hashes")
        }
        unrecognized = reader.rest
    }

    var json: JSON {
        var out = unrecognized
        out["version"] = .int(version)
        if let length { out["length"] = .int(length) }
        if let hashes { out["hashes"] = .object(hashes.mapValues { .string($0) }) }
        return .object(out)
    }

    /// Checks `bytes` against the length and hashes that are given.
    public func verify(_ bytes: [UInt8], name: String) throws(TUFError) {
        if let length, Int64(bytes.count) != length {
            throw TUFError(.lengthOrHash, "\(name) has \(bytes.count) bytes, the signed length is \(length)")
        }
        if let hashes { try verifyHashes(hashes, of: bytes, name: name) }
    }
}

/// Every listed hash must match; one we cannot compute refuses the file (as python-tuf does).
func verifyHashes(_ hashes: [String: String], of bytes: [UInt8], name: String) throws(TUFError) {
    for (name_, expected) in hashes.sorted(by: { $0.key < $1.key }) {
        guard let algorithm = HashAlgorithm(tufName: name_) else {
            throw TUFError(.lengthOrHash, "\(name) lists hash algorithm '\(name_)', which this client cannot check")
        }
        let observed = Hex.encode(Digest.hash(algorithm, bytes))
        guard observed == expected else {
            throw TUFError(.lengthOrHash, "\(name): \(name_) is \(observed), the signed one is \(expected)")
        }
    }
}

public struct Timestamp: SignedRole, Hashable {
    public static let type = "timestamp"
    public var common: SignedCommon
    public var snapshotMeta: MetaFile

    public init(common: SignedCommon, snapshotMeta: MetaFile) {
        self.common = common
        self.snapshotMeta = snapshotMeta
    }

    public init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "timestamp")
        common = try SignedCommon(reading: &reader, type: Timestamp.type)
        let meta = try reader.object("meta")
        guard let snapshot = meta["snapshot.json"] else {
            throw TUFError(.invalidMetadata, "timestamp.meta has no 'snapshot.json'")
        }
        snapshotMeta = try MetaFile(json: snapshot, context: "timestamp.meta.snapshot.json")
        common.unrecognized = reader.rest
    }

    public var json: JSON {
        var out = common.fields(type: Timestamp.type)
        out["meta"] = .object(["snapshot.json": snapshotMeta.json])
        return .object(out)
    }
}

public struct Snapshot: SignedRole, Hashable {
    public static let type = "snapshot"
    public var common: SignedCommon
    /// `ROLE.json` → its version (and optionally length and hashes).
    public var meta: [String: MetaFile]

    public init(common: SignedCommon, meta: [String: MetaFile]) {
        self.common = common
        self.meta = meta
    }

    public init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "snapshot")
        common = try SignedCommon(reading: &reader, type: Snapshot.type)
        var meta: [String: MetaFile] = [:]
        for (name, file) in try reader.object("meta") {
            meta[name] = try MetaFile(json: file, context: "snapshot.meta.\(name)")
        }
        self.meta = meta
        common.unrecognized = reader.rest
    }

    public var json: JSON {
        var out = common.fields(type: Snapshot.type)
        out["meta"] = .object(meta.mapValues(\.json))
        return .object(out)
    }
}
