import CryptoEVP
import DurableFile
import JSON
import TUF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The repository side: creates, signs and publishes TUF metadata in a directory that the update
/// server serves as it is.
///
/// ```
/// DIR/metadata/N.root.json        every root version (clients walk 1.root.json, 2.root.json, …)
/// DIR/metadata/root.json          a copy of the newest root (for pinning a device)
/// DIR/metadata/timestamp.json     the only unversioned file clients fetch
/// DIR/metadata/N.snapshot.json    consistent snapshots: every other file is versioned
/// DIR/metadata/N.targets.json, N.ROLE.json
/// DIR/targets/[dir/]HASH.name     target files, named by content hash
/// ```
///
/// Private keys are handed in as signers; offline keys (root, targets) are only needed for the
/// operations that re-sign their role. Every write is crash-safe (temporary file, fsync, rename),
/// and timestamp.json, the file that makes a new state visible, is written last.
public final class TUFRepository {
    /// How long new metadata stays valid.
    public struct Expiry: Sendable, Hashable {
        public var root: Int64 = 365 * 86_400
        public var targets: Int64 = 90 * 86_400
        public var snapshot: Int64 = 7 * 86_400
        public var timestamp: Int64 = 86_400

        public init() {}

        func seconds(for role: String) -> Int64 {
            switch role {
            case Root.type: root
            case Snapshot.type: snapshot
            case Timestamp.type: timestamp
            default: targets
            }
        }
    }

    public let directory: String
    public var expiry: Expiry
    public private(set) var root: Metadata<Root>
    /// Top-level targets under "targets", delegated roles under their names.
    public private(set) var targets: [String: Metadata<Targets>]
    public private(set) var snapshot: Metadata<Snapshot>
    public private(set) var timestamp: Metadata<Timestamp>
    private var signers: [String: SigningKey] = [:]
    /// Targets roles changed since they were last signed.
    private var dirty: Set<String> = []

    public var metadataDirectory: String { directory + "/metadata" }
    public var targetsDirectory: String { directory + "/targets" }

    private init(directory: String, expiry: Expiry, root: Metadata<Root>, targets: [String: Metadata<Targets>],
                 snapshot: Metadata<Snapshot>, timestamp: Metadata<Timestamp>) {
        self.directory = directory
        self.expiry = expiry
        self.root = root
        self.targets = targets
        self.snapshot = snapshot
        self.timestamp = timestamp
    }

    // MARK: Creating and opening

    /// A new repository: root v1 with `roleKeys` and `thresholds` for the four top-level roles,
    /// and empty targets, snapshot and timestamp v1, all signed by `signers` (which must reach
    /// every threshold). Refuses a directory that already holds a root.
    public static func create(directory: String, roleKeys: [String: [PublicKey]], thresholds: [String: Int64],
                              signers: [SigningKey], expiry: Expiry = .init(),
                              now: TUFTime = .now()) throws(TUFError) -> TUFRepository {
        guard !DurableFile.exists(directory + "/metadata/1.root.json") else {
            throw TUFError(.usage, "\(directory) already holds a repository (metadata/1.root.json exists)")
        }
        var keys: [String: TUFKey] = [:]
        var roles: [String: RoleKeys] = [:]
        for name in Root.topLevelRoles.sorted() {
            guard let publicKeys = roleKeys[name], !publicKeys.isEmpty else {
                throw TUFError(.usage, "role \(name) needs at least one key")
            }
            var ids: [String] = []
            for key in publicKeys {
                let tufKey = try describe(key)
                keys[tufKey.keyID] = tufKey
                if !ids.contains(tufKey.keyID) { ids.append(tufKey.keyID) }
            }
            let threshold = thresholds[name] ?? 1
            guard threshold >= 1, threshold <= Int64(ids.count) else {
                throw TUFError(.usage, "role \(name) has \(ids.count) key(s): its threshold must be between 1 "
                    + "and \(ids.count), not \(threshold)")
            }
            roles[name] = RoleKeys(keyIDs: ids, threshold: threshold)
        }
        let rootSigned = try Root(common: SignedCommon(expires: now.adding(seconds: expiry.root)), keys: keys,
                                  roles: roles, consistentSnapshot: true)
        let empty = Metadata(signed: Targets(common: SignedCommon(expires: now.adding(seconds: expiry.targets))))
        let repository = TUFRepository(
            directory: directory, expiry: expiry, root: Metadata(signed: rootSigned),
            targets: [Targets.type: empty],
            snapshot: Metadata(signed: Snapshot(common: SignedCommon(expires: now), meta: [:])),
            timestamp: Metadata(signed: Timestamp(common: SignedCommon(expires: now),
                                                  snapshotMeta: MetaFile(version: 1))))
        for signer in signers { try repository.addSigner(signer) }
        try repository.makeDirectories()
        try repository.signRoot(previous: nil)
        try repository.write(repository.root.bytes(), "1.root.json")
        try repository.write(repository.root.bytes(), "root.json")
        repository.dirty = [Targets.type]
        try repository.publish(now: now, bumpVersions: false)
        return repository
    }

    /// Opens the newest state in `directory`, checking every signature against its root.
    public init(directory: String, signers: [SigningKey] = [], expiry: Expiry = .init()) throws(TUFError) {
        self.directory = directory
        self.expiry = expiry
        let metadata = directory + "/metadata"
        var version: Int64 = 1
        guard var rootBytes = try TUFRepository.read(metadata + "/1.root.json") else {
            throw TUFError(.usage, "\(directory) holds no repository (no metadata/1.root.json)")
        }
        while let next = try TUFRepository.read(metadata + "/\(version + 1).root.json") {
            rootBytes = next
            version += 1
        }
        root = try Metadata<Root>(bytes: rootBytes)
        guard let timestampBytes = try TUFRepository.read(metadata + "/timestamp.json") else {
            throw TUFError(.repository, "\(directory) has no metadata/timestamp.json")
        }
        timestamp = try Metadata<Timestamp>(bytes: timestampBytes)
        snapshot = try TUFRepository.load(metadata, "snapshot", version: timestamp.signed.snapshotMeta.version)
        targets = [:]
        for (file, meta) in snapshot.signed.meta {
            guard file.hasSuffix(".json") else { continue }
            let role = String(file.dropLast(5))
            targets[role] = try TUFRepository.load(metadata, role, version: meta.version)
        }
        guard targets[Targets.type] != nil else { throw TUFError(.repository, "snapshot does not list targets.json") }
        try root.signed.verify(root, as: Root.type)
        try root.signed.verify(timestamp, as: Timestamp.type)
        try root.signed.verify(snapshot, as: Snapshot.type)
        try root.signed.verify(targets[Targets.type]!, as: Targets.type)
        for signer in signers { try addSigner(signer) }
    }

    private static func load<R: SignedRole>(_ metadata: String, _ role: String,
                                            version: Int64) throws(TUFError) -> Metadata<R> {
        guard let bytes = try read(metadata + "/\(version).\(quoteRoleName(role)).json") else {
            throw TUFError(.repository, "metadata/\(version).\(role).json is missing")
        }
        return try Metadata<R>(bytes: bytes)
    }

    /// Makes `key` available for signing the roles that list it.
    public func addSigner(_ key: SigningKey) throws(TUFError) {
        signers[try TUFRepository.describe(key.publicKey).keyID] = key
    }

    // MARK: Targets

    /// Adds or replaces target `path` in `role` with `contents` and copies the file to
    /// `targets/[dir/]HASH.name`. Takes effect with the next `publish`.
    @discardableResult
    public func addTarget(path: String, contents: [UInt8], custom: JSON? = nil,
                          role: String = Targets.type) throws(TUFError) -> TargetFile {
        try checkTargetPath(path)
        guard targets[role] != nil else { throw TUFError(.usage, "no targets role \(role)") }
        if let custom { _ = try ReleaseDescription(custom: custom) }
        let file = try TargetFile(path: path, describing: contents, custom: custom)
        let destination = targetsDirectory + "/" + file.hashPrefixedPath
        do {
            try DurableFile.makeDirectories(DurableFile.parent(of: destination))
            try DurableFile.write(contents, to: destination)
        } catch {
            throw TUFError(.io, error.description)
        }
        targets[role]!.signed.targets[path] = file
        dirty.insert(role)
        return file
    }

    /// Adds a target whose file is already in `targets/` under its hash-prefixed name (large
    /// artifacts that were hashed while being copied in).
    public func addTarget(_ file: TargetFile, role: String = Targets.type) throws(TUFError) {
        try checkTargetPath(file.path)
        guard targets[role] != nil else { throw TUFError(.usage, "no targets role \(role)") }
        targets[role]!.signed.targets[file.path] = file
        dirty.insert(role)
    }

    public func removeTarget(path: String, role: String = Targets.type) throws(TUFError) {
        guard targets[role]?.signed.targets.removeValue(forKey: path) != nil else {
            throw TUFError(.usage, "\(role) has no target \(path)")
        }
        dirty.insert(role)
    }

    /// Delegates `role` (with its path patterns or hash prefixes) from targets role `delegator`
    /// to `keys`, and creates the delegated role's empty metadata.
    public func delegate(_ role: DelegatedRole, keys: [PublicKey], from delegator: String = Targets.type) throws(TUFError) {
        guard var parent = targets[delegator] else { throw TUFError(.usage, "no targets role \(delegator)") }
        guard targets[role.name] == nil, !Root.topLevelRoles.contains(role.name) else {
            throw TUFError(.usage, "role \(role.name) already exists")
        }
        var delegations: Delegations
        if let existing = parent.signed.delegations {
            delegations = existing
        } else {
            delegations = try Delegations(keys: [:], roles: [])
        }
        guard delegations.roles != nil else {
            throw TUFError(.usage, "\(delegator) uses succinct hash bins; add roles there instead")
        }
        var role = role
        role.keyIDs = []
        for key in keys {
            let tufKey = try TUFRepository.describe(key)
            delegations.keys[tufKey.keyID] = tufKey
            if !role.keyIDs.contains(tufKey.keyID) { role.keyIDs.append(tufKey.keyID) }
        }
        guard role.threshold <= Int64(role.keyIDs.count) else {
            throw TUFError(.usage, "\(role.name) has \(role.keyIDs.count) key(s), fewer than its threshold \(role.threshold)")
        }
        delegations.roles!.append(role)
        parent.signed.delegations = delegations
        targets[delegator] = parent
        targets[role.name] = Metadata(signed: Targets(common: SignedCommon(version: 0, expires: TUFTime.now())))
        dirty.formUnion([delegator, role.name])
    }

    // MARK: Publishing

    /// Signs every changed targets role as its next version, then a new snapshot and timestamp,
    /// and writes them (timestamp last).
    public func publish(now: TUFTime = .now()) throws(TUFError) {
        try publish(now: now, bumpVersions: true)
    }

    private func publish(now: TUFTime, bumpVersions: Bool) throws(TUFError) {
        for role in dirty.sorted() {
            var metadata = targets[role]!
            if bumpVersions || metadata.signed.version == 0 { metadata.signed.version += 1 }
            metadata.signed.expires = now.adding(seconds: expiry.targets)
            try sign(&metadata, as: role)
            targets[role] = metadata
            try write(metadata.bytes(), "\(metadata.signed.version).\(quoteRoleName(role)).json")
        }
        dirty = []
        var snapshotSigned = snapshot.signed
        if bumpVersions { snapshotSigned.version += 1 }
        snapshotSigned.expires = now.adding(seconds: expiry.snapshot)
        snapshotSigned.meta = [:]
        for (role, metadata) in targets {
            snapshotSigned.meta["\(role).json"] = MetaFile(version: metadata.signed.version, describing: metadata.bytes())
        }
        var newSnapshot = Metadata(signed: snapshotSigned)
        try sign(&newSnapshot, as: Snapshot.type)
        snapshot = newSnapshot
        let snapshotBytes = newSnapshot.bytes()
        try write(snapshotBytes, "\(newSnapshot.signed.version).snapshot.json")
        try writeTimestamp(snapshotBytes: snapshotBytes, now: now, bump: bumpVersions)
    }

    /// A new timestamp for the current snapshot (the online role re-signs it before it expires).
    public func refreshTimestamp(now: TUFTime = .now()) throws(TUFError) {
        try writeTimestamp(snapshotBytes: snapshot.bytes(), now: now, bump: true)
    }

    private func writeTimestamp(snapshotBytes: [UInt8], now: TUFTime, bump: Bool) throws(TUFError) {
        var signed = timestamp.signed
        if bump { signed.version += 1 }
        signed.expires = now.adding(seconds: expiry.timestamp)
        signed.snapshotMeta = MetaFile(version: snapshot.signed.version, describing: snapshotBytes)
        var new = Metadata(signed: signed)
        try sign(&new, as: Timestamp.type)
        timestamp = new
        try write(new.bytes(), "timestamp.json")
    }

    // MARK: Rotation

    /// Root N+1 where `role`'s keys are replaced by `newKeys` (and its threshold set), signed by
    /// the old root's threshold and the new root's threshold. For a role other than root the
    /// role's metadata is then re-signed with its new keys and published with a new snapshot and
    /// timestamp, so clients see the change at once.
    @discardableResult
    public func rotate(role: String, to newKeys: [PublicKey], threshold: Int64? = nil,
                       now: TUFTime = .now()) throws(TUFError) -> Int64 {
        guard Root.topLevelRoles.contains(role) else {
            throw TUFError(.usage, "\(role) is not a top-level role (root, targets, snapshot, timestamp)")
        }
        guard !newKeys.isEmpty else { throw TUFError(.usage, "\(role) needs at least one new key") }
        let previous = root.signed
        var next = previous
        next.version += 1
        next.expires = now.adding(seconds: expiry.root)
        var ids: [String] = []
        for key in newKeys {
            let tufKey = try TUFRepository.describe(key)
            next.keys[tufKey.keyID] = tufKey
            if !ids.contains(tufKey.keyID) { ids.append(tufKey.keyID) }
        }
        let newThreshold = threshold ?? previous.roles[role]!.threshold
        guard newThreshold >= 1, newThreshold <= Int64(ids.count) else {
            throw TUFError(.usage, "\(role) would have \(ids.count) key(s): its threshold must be between 1 and "
                + "\(ids.count), not \(newThreshold)")
        }
        next.roles[role] = RoleKeys(keyIDs: ids, threshold: newThreshold)
        // Keys no role lists any more leave the root.
        let used = Set(next.roles.values.flatMap(\.keyIDs))
        next.keys = next.keys.filter { used.contains($0.key) }
        let old = root
        root = Metadata(signed: next)
        do throws(TUFError) {
            try signRoot(previous: previous)
        } catch {
            root = old
            throw error
        }
        try write(root.bytes(), "\(next.version).root.json")
        try write(root.bytes(), "root.json")
        switch role {
        case Targets.type:
            dirty.insert(Targets.type)
            try publish(now: now)
        case Snapshot.type:
            try publish(now: now)
        case Timestamp.type:
            try refreshTimestamp(now: now)
        default:
            break
        }
        return next.version
    }

    // MARK: Signing

    /// Signs root with every available key of the previous and the new root role, and checks
    /// that both thresholds are met (a root the clients would refuse is never written).
    private func signRoot(previous: Root?) throws(TUFError) {
        var metadata = root
        metadata.signatures = []
        let ids = Set((previous?.roles[Root.type]?.keyIDs ?? []) + metadata.signed.roles[Root.type]!.keyIDs)
        for id in ids.sorted() {
            if let signer = signers[id] { try metadata.sign(with: signer) }
        }
        if let previous {
            do {
                try previous.verify(metadata, as: Root.type)
            } catch {
                throw TUFError(.usage, "root v\(metadata.signed.version) must also be signed by the previous root's "
                    + "keys: \(error.message); give those private keys")
            }
        }
        do {
            try metadata.signed.verify(metadata, as: Root.type)
        } catch {
            throw TUFError(.usage, "root v\(metadata.signed.version): \(error.message); give its private keys")
        }
        root = metadata
    }

    /// Signs `metadata` with every available key of `role` and checks the threshold.
    private func sign(_ metadata: inout Metadata<Targets>, as role: String) throws(TUFError) {
        metadata.signatures = []
        if role == Targets.type {
            for id in root.signed.roles[role]!.keyIDs { if let signer = signers[id] { try metadata.sign(with: signer) } }
            do {
                try root.signed.verify(metadata, as: role)
            } catch {
                throw TUFError(.usage, "cannot sign \(role): \(error.message); give its private key(s)")
            }
            return
        }
        guard let delegator = targets.first(where: { $0.value.signed.delegations?.roleKeys(for: role) != nil }),
              let keys = delegator.value.signed.delegations?.roleKeys(for: role)
        else { throw TUFError(.usage, "no targets role delegates \(role)") }
        for id in keys.keyIDs { if let signer = signers[id] { try metadata.sign(with: signer) } }
        do {
            try delegator.value.signed.verifyDelegate(metadata, as: role)
        } catch {
            throw TUFError(.usage, "cannot sign \(role): \(error.message); give its private key(s)")
        }
    }

    private func sign<R: SignedRole>(_ metadata: inout Metadata<R>, as role: String) throws(TUFError) {
        metadata.signatures = []
        for id in root.signed.roles[role]!.keyIDs { if let signer = signers[id] { try metadata.sign(with: signer) } }
        do {
            try root.signed.verify(metadata, as: role)
        } catch {
            throw TUFError(.usage, "cannot sign \(role): \(error.message); give its private key(s)")
        }
    }

    // MARK: Files

    private func makeDirectories() throws(TUFError) {
        do {
            try DurableFile.makeDirectories(metadataDirectory)
            try DurableFile.makeDirectories(targetsDirectory)
        } catch {
            throw TUFError(.io, error.description)
        }
    }

    private func write(_ bytes: [UInt8], _ name: String) throws(TUFError) {
        do {
            try DurableFile.write(bytes, to: metadataDirectory + "/" + name)
        } catch {
            throw TUFError(.io, error.description)
        }
    }

    private static func read(_ path: String) throws(TUFError) -> [UInt8]? {
        do {
            return try DurableFile.read(path)
        } catch {
            throw TUFError(.io, error.description)
        }
    }

    static func describe(_ key: PublicKey) throws(TUFError) -> TUFKey {
        do {
            return try TUFKey(key)
        } catch {
            throw TUFError(.usage, "cannot describe a public key: \(error)")
        }
    }

    /// Target names are URL paths below the targets base URL: no empty, `.` or `..` segments,
    /// no leading slash. Checked on bytes, as the file system and URLs read them.
    private func checkTargetPath(_ path: String) throws(TUFError) {
        let segments = Array(path.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let dot = Array(".".utf8), dotDot = Array("..".utf8)
        guard !path.isEmpty, !path.utf8.contains(0),
              segments.allSatisfy({ !$0.isEmpty && !$0.elementsEqual(dot) && !$0.elementsEqual(dotDot) }) else {
            throw TUFError(.usage, "target name '\(path)' must be a relative path without empty, '.' or '..' parts")
        }
    }
}
