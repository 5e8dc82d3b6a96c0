import Foundation
import JSON
import UpdateStore

/// The four TUF roles.
public enum TUFRole: String, Sendable, CaseIterable {
    case root, targets, snapshot, timestamp
}

/// Signs metadata with the server's online keys (targets, snapshot, timestamp) and hands out the
/// root metadata that the offline root keys signed. The implementation sits on the `TUF` module.
public protocol MetadataSigner: Sendable {
    /// Fails, saying what to do, when the key for `role` is missing, when the trusted root does not
    /// list it for the role, or when the root metadata itself has expired.
    func checkCanSign(_ role: TUFRole, now: Int64) throws(ServerError)
    /// The metadata file: `signed` wrapped with the role's signatures.
    func sign(_ role: TUFRole, signed: JSON) throws(ServerError) -> [UInt8]
    /// Every root version, oldest first, as files (`1.root.json`, `2.root.json`, …), with expiry.
    func rootVersions() throws(ServerError) -> [MetadataRecord]
}

/// How long each role's metadata stays valid after it is signed.
public struct MetadataLifetimes: Sendable {
    public var targets: Int64
    public var snapshot: Int64
    public var timestamp: Int64

    /// Milliseconds; defaults 90 days, 7 days, 1 day.
    public init(targets: Int64 = 90 * 86_400_000, snapshot: Int64 = 7 * 86_400_000, timestamp: Int64 = 86_400_000) {
        self.targets = targets
        self.snapshot = snapshot
        self.timestamp = timestamp
    }

    func lifetime(_ role: TUFRole) -> Int64 {
        switch role {
        case .targets: targets
        case .snapshot: snapshot
        case .timestamp, .root: timestamp
        }
    }
}

/// Builds the repository's metadata from the store: targets from the releases, snapshot over
/// targets, timestamp over snapshot (TUF 1.0, consistent snapshots). Every call runs inside a store
/// transaction that holds the repository lock, so two replicas never sign the same version.
public struct RepositoryPublisher: Sendable {
    public static let specVersion = "1.0.31"
    public let signer: any MetadataSigner
    public let lifetimes: MetadataLifetimes

    public init(signer: any MetadataSigner, lifetimes: MetadataLifetimes = MetadataLifetimes()) {
        self.signer = signer
        self.lifetimes = lifetimes
    }

    /// Fails before anything is stored when the online keys cannot sign.
    public func checkKeys(now: Int64) throws(ServerError) {
        for role in [TUFRole.targets, .snapshot, .timestamp] { try signer.checkCanSign(role, now: now) }
    }

    /// Copies root versions the store does not have yet (after `nanoedge keys rotate`).
    public func importRoots(_ store: UpdateStore, now: Int64) throws(ServerError) {
        let newest = try wrap { () throws(StoreError) in try store.metadata(role: "root")?.version ?? 0 }
        for root in try signer.rootVersions() where root.version > newest {
            try wrap { () throws(StoreError) in try store.putMetadata(root, at: now) }
        }
    }

    /// Signs new targets, snapshot and timestamp metadata for the releases in the store.
    public func publishTargets(_ store: UpdateStore, now: Int64) throws(ServerError) {
        try checkKeys(now: now)
        let releases = try wrap { () throws(StoreError) in try store.releases() }
        var targets: [String: JSON] = [:]
        for release in releases {
            targets[release.target] = ["length": .int(release.length), "hashes": ["sha256": .string(release.sha256)],
                                       "custom": release.custom.json]
        }
        let version = try nextVersion(store, .targets)
        try put(store, .targets, version: version, now: now, body: ["targets": .object(targets)])
        try publishSnapshot(store, targetsVersion: version, now: now)
    }

    private func publishSnapshot(_ store: UpdateStore, targetsVersion: Int64, now: Int64) throws(ServerError) {
        let version = try nextVersion(store, .snapshot)
        try put(store, .snapshot, version: version, now: now, body: ["meta": ["targets.json": ["version": .int(targetsVersion)]]])
        try publishTimestamp(store, snapshotVersion: version, now: now)
    }

    private func publishTimestamp(_ store: UpdateStore, snapshotVersion: Int64, now: Int64) throws(ServerError) {
        let version = try nextVersion(store, .timestamp)
        try put(store, .timestamp, version: version, now: now, body: ["meta": ["snapshot.json": ["version": .int(snapshotVersion)]]])
    }

    /// Re-signs whatever expires within a third of its lifetime: the timestamp about every 16 hours
    /// with the defaults, the snapshot every few days. Returns the roles it signed.
    @discardableResult
    public func refresh(_ store: UpdateStore, now: Int64) throws(ServerError) -> [TUFRole] {
        let targets = try wrap { () throws(StoreError) in try store.metadata(role: "targets") }
        guard let targets else {
            // A new repository: publish the empty target list so clients can start.
            try publishTargets(store, now: now)
            return [.targets, .snapshot, .timestamp]
        }
        if needsRefresh(targets, .targets, now: now) {
            try publishTargets(store, now: now)
            return [.targets, .snapshot, .timestamp]
        }
        let snapshot = try wrap { () throws(StoreError) in try store.metadata(role: "snapshot") }
        if let snapshot, !needsRefresh(snapshot, .snapshot, now: now) {
            let timestamp = try wrap { () throws(StoreError) in try store.metadata(role: "timestamp") }
            guard let timestamp, !needsRefresh(timestamp, .timestamp, now: now) else {
                try signer.checkCanSign(.timestamp, now: now)
                try publishTimestamp(store, snapshotVersion: snapshot.version, now: now)
                return [.timestamp]
            }
            return []
        }
        try signer.checkCanSign(.snapshot, now: now)
        try signer.checkCanSign(.timestamp, now: now)
        try publishSnapshot(store, targetsVersion: targets.version, now: now)
        return [.snapshot, .timestamp]
    }

    /// When the next metadata in the store expires far enough to need re-signing.
    public func nextRefresh(_ store: UpdateStore) throws(ServerError) -> Int64? {
        var earliest: Int64?
        for role in [TUFRole.targets, .snapshot, .timestamp] {
            guard let record = try wrap({ () throws(StoreError) in try store.metadata(role: role.rawValue) }) else { return nil }
            let due = record.expiresAt - lifetimes.lifetime(role) / 3
            earliest = min(earliest ?? due, due)
        }
        return earliest
    }

    private func needsRefresh(_ record: MetadataRecord, _ role: TUFRole, now: Int64) -> Bool {
        record.expiresAt - now <= lifetimes.lifetime(role) / 3
    }

    private func nextVersion(_ store: UpdateStore, _ role: TUFRole) throws(ServerError) -> Int64 {
        try wrap { () throws(StoreError) in (try store.metadata(role: role.rawValue)?.version ?? 0) + 1 }
    }

    private func put(_ store: UpdateStore, _ role: TUFRole, version: Int64, now: Int64, body: [String: JSON]) throws(ServerError) {
        let expires = now + lifetimes.lifetime(role)
        var signed = body
        signed["_type"] = .string(role.rawValue)
        signed["spec_version"] = .string(Self.specVersion)
        signed["version"] = .int(version)
        signed["expires"] = .string(Self.expiryText(expires))
        let bytes = try signer.sign(role, signed: .object(signed))
        try wrap { () throws(StoreError) in
            try store.putMetadata(MetadataRecord(role: role.rawValue, version: version, body: bytes, expiresAt: expires), at: now)
        }
    }

    /// TUF's `expires`: UTC, whole seconds, `Z`.
    public static func expiryText(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(milliseconds / 1000)))
    }

    private func wrap<T>(_ body: () throws(StoreError) -> T) throws(ServerError) -> T {
        do { return try body() } catch { throw ServerError(error) }
    }
}
