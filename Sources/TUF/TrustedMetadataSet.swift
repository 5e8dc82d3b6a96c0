/// The client's trusted metadata, updated step by step from bytes the caller fetched: the state
/// machine of the TUF 1.0 detailed client workflow (section 5), without any I/O. It follows
/// python-tuf's `TrustedMetadataSet` rule for rule:
///
/// - Metadata loads in order root → timestamp → snapshot → targets → delegated targets, and
///   nothing earlier in that order loads after something later.
/// - An expired root, timestamp or snapshot may still load as *intermediate* metadata (it then
///   guards against rollback of its successor) but blocks the next step: the call that loads it
///   stores it and then throws `.expired`.
/// - The reference time is taken once, when the set is created.
public final class TrustedMetadataSet {
    public private(set) var root: Root
    public private(set) var timestamp: Timestamp?
    public private(set) var snapshot: Snapshot?
    /// Top-level targets under "targets", delegated roles under their names.
    public private(set) var targets: [String: Targets] = [:]
    /// (delegator, role) pairs loaded, so a role is only trusted through the delegator that
    /// verified it.
    private var delegations: Set<String> = []
    public let referenceTime: TUFTime

    /// Trusts `rootBytes` after checking that root is signed by its own threshold (an expired
    /// root is fine here: expiry is checked on the final root, before timestamp).
    public init(rootBytes: [UInt8], referenceTime: TUFTime = .now(), maxLength: Int = 512_000) throws(TUFError) {
        let metadata = try Metadata<Root>(bytes: rootBytes, maxLength: maxLength)
        try metadata.signed.verify(metadata, as: Root.type)
        root = metadata.signed
        self.referenceTime = referenceTime
    }

    /// Root version N+1, signed by the thresholds of both root N and root N+1.
    @discardableResult
    public func updateRoot(_ bytes: [UInt8], maxLength: Int = 512_000) throws(TUFError) -> Root {
        guard timestamp == nil else { throw TUFError(.usage, "cannot update root after timestamp") }
        let metadata = try Metadata<Root>(bytes: bytes, maxLength: maxLength)
        try root.verify(metadata, as: Root.type)
        let new = metadata.signed
        guard new.version == root.version + 1 else {
            throw TUFError(.badVersion, "expected root version \(root.version + 1), got \(new.version)")
        }
        try new.verify(metadata, as: Root.type)
        root = new
        return new
    }

    /// A timestamp, which must not roll back the timestamp or the snapshot version it lists.
    /// `.equalVersion` means the trusted timestamp is current (not an error for the caller).
    @discardableResult
    public func updateTimestamp(_ bytes: [UInt8], maxLength: Int = 16_384) throws(TUFError) -> Timestamp {
        guard snapshot == nil else { throw TUFError(.usage, "cannot update timestamp after snapshot") }
        guard !root.common.isExpired(at: referenceTime) else {
            throw TUFError(.expired, "root v\(root.version) expired at \(root.expires)")
        }
        let metadata = try Metadata<Timestamp>(bytes: bytes, maxLength: maxLength)
        try root.verify(metadata, as: Timestamp.type)
        let new = metadata.signed
        if let timestamp {
            guard new.version >= timestamp.version else {
                throw TUFError(.badVersion, "timestamp version \(new.version) is older than the trusted "
                    + "\(timestamp.version) (rollback)")
            }
            guard new.version != timestamp.version else {
                throw TUFError(.equalVersion, "timestamp v\(new.version) is the one already trusted")
            }
            guard new.snapshotMeta.version >= timestamp.snapshotMeta.version else {
                throw TUFError(.badVersion, "timestamp lists snapshot v\(new.snapshotMeta.version), older than the "
                    + "trusted v\(timestamp.snapshotMeta.version) (rollback)")
            }
        }
        timestamp = new
        try checkFinalTimestamp()
        return new
    }

    private func checkFinalTimestamp() throws(TUFError) {
        guard let timestamp else { throw TUFError(.usage, "no timestamp loaded") }
        guard !timestamp.common.isExpired(at: referenceTime) else {
            throw TUFError(.expired, "timestamp v\(timestamp.version) expired at \(timestamp.expires)")
        }
    }

    /// A snapshot matching the timestamp's length and hashes (skipped for `trusted` local bytes,
    /// which were checked when they were first loaded), that drops no role and rolls none back.
    @discardableResult
    public func updateSnapshot(_ bytes: [UInt8], trusted: Bool = false,
                               maxLength: Int = 2_000_000) throws(TUFError) -> Snapshot {
        guard let timestamp else { throw TUFError(.usage, "cannot update snapshot before timestamp") }
        guard targets.isEmpty else { throw TUFError(.usage, "cannot update snapshot after targets") }
        try checkFinalTimestamp()
        if !trusted { try timestamp.snapshotMeta.verify(bytes, name: "snapshot.json") }
        let metadata = try Metadata<Snapshot>(bytes: bytes, maxLength: maxLength)
        try root.verify(metadata, as: Snapshot.type)
        let new = metadata.signed
        if let snapshot {
            for (name, file) in snapshot.meta.sorted(by: { $0.key < $1.key }) {
                guard let newFile = new.meta[name] else {
                    throw TUFError(.repository, "the new snapshot no longer lists \(name)")
                }
                guard newFile.version >= file.version else {
                    throw TUFError(.badVersion, "snapshot lists \(name) v\(newFile.version), older than the trusted "
                        + "v\(file.version) (rollback)")
                }
            }
        }
        snapshot = new
        try checkFinalSnapshot()
        return new
    }

    private func checkFinalSnapshot() throws(TUFError) {
        guard let snapshot, let timestamp else { throw TUFError(.usage, "no snapshot loaded") }
        guard !snapshot.common.isExpired(at: referenceTime) else {
            throw TUFError(.expired, "snapshot v\(snapshot.version) expired at \(snapshot.expires)")
        }
        guard snapshot.version == timestamp.snapshotMeta.version else {
            throw TUFError(.badVersion, "timestamp lists snapshot v\(timestamp.snapshotMeta.version), "
                + "got v\(snapshot.version)")
        }
    }

    /// Top-level targets.
    @discardableResult
    public func updateTargets(_ bytes: [UInt8], maxLength: Int = 5_000_000) throws(TUFError) -> Targets {
        try updateDelegatedTargets(bytes, role: Targets.type, delegator: Root.type, maxLength: maxLength)
    }

    /// Targets role `role`, signed by the keys `delegator` gives it, with the version and (when
    /// given) length and hashes snapshot lists for it.
    @discardableResult
    public func updateDelegatedTargets(_ bytes: [UInt8], role: String, delegator: String,
                                       maxLength: Int = 5_000_000) throws(TUFError) -> Targets {
        guard let snapshot else { throw TUFError(.usage, "cannot load targets before snapshot") }
        try checkFinalSnapshot()
        guard let meta = snapshot.meta["\(role).json"] else {
            throw TUFError(.repository, "snapshot does not list \(role).json")
        }
        try meta.verify(bytes, name: "\(role).json")
        let metadata = try Metadata<Targets>(bytes: bytes, maxLength: maxLength)
        if delegator == Root.type {
            try root.verify(metadata, as: role)
        } else {
            guard let parent = targets[delegator] else {
                throw TUFError(.usage, "cannot load \(role) before its delegator \(delegator)")
            }
            try parent.verifyDelegate(metadata, as: role)
        }
        let new = metadata.signed
        guard new.version == meta.version else {
            throw TUFError(.badVersion, "snapshot lists \(role) v\(meta.version), got v\(new.version)")
        }
        guard !new.common.isExpired(at: referenceTime) else {
            throw TUFError(.expired, "\(role) v\(new.version) expired at \(new.expires)")
        }
        targets[role] = new
        delegations.insert(delegator + "\u{0}" + role)
        return new
    }

    /// True when `role` was loaded and verified through `delegator`.
    public func contains(role: String, delegator: String) -> Bool {
        delegations.contains(delegator + "\u{0}" + role)
    }
}
