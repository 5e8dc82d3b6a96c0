import CryptoEVP
import DurableFile
import JSON
import TUF
import TUFRepository

#if canImport(Glibc)
import Glibc
#endif

/// The TUF repository the server publishes: `REPO/metadata` and `REPO/targets`, laid out by
/// `nanoedge keys init --repo REPO` and served as they are. The server holds the online keys
/// (targets, snapshot, timestamp); root keys stay offline.
///
/// Every change opens the repository afresh from disk, so replicas sharing the directory each see
/// the other's last publication; callers serialise changes with the store's repository lock.
public struct ReleaseRepository: Sendable {
    public let directory: String
    public let keyDirectory: String
    public let expiry: TUFRepository.Expiry
    let signers: [SigningKey]

    public var metadataDirectory: String { directory + "/metadata" }
    public var targetsDirectory: String { directory + "/targets" }
    /// Uploads are staged here, on the same file system as `targets/`, so a rename publishes them.
    public var incomingDirectory: String { directory + "/incoming" }

    /// Loads the online keys (`KEYS/ROLE.KEYID.pem` for targets, snapshot and timestamp).
    public init(directory: String, keyDirectory: String? = nil, passphrase: String? = nil,
                expiry: TUFRepository.Expiry = .init()) throws(ServerError) {
        self.directory = directory
        self.keyDirectory = keyDirectory ?? directory + "/keys"
        self.expiry = expiry
        guard access(directory + "/metadata/1.root.json", F_OK) == 0 else {
            throw ServerError(.internalServerError, "\(directory) holds no TUF repository (metadata/1.root.json); "
                + "create one with `nanoedge keys init --repo \(directory)`")
        }
        var keys: [SigningKey] = []
        for name in Self.keyFiles(in: self.keyDirectory) {
            let role = String(name.prefix(while: { $0 != "." }))
            guard ["targets", "snapshot", "timestamp"].contains(role) else { continue }
            do {
                keys.append(try SigningKey.load(fromFile: self.keyDirectory + "/" + name, passphrase: passphrase))
            } catch {
                throw ServerError(.internalServerError, "cannot load signing key \(self.keyDirectory)/\(name): \(error)")
            }
        }
        signers = keys
        do {
            try DurableFile.makeDirectories(targetsDirectory)
            try DurableFile.makeDirectories(incomingDirectory)
        } catch {
            throw ServerError(.internalServerError, error.description)
        }
    }

    private static func keyFiles(in directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasSuffix(".pem") { names.append(name) }
        }
        return names.sorted()
    }

    func open() throws(ServerError) -> TUFRepository {
        do {
            return try TUFRepository(directory: directory, signers: signers, expiry: expiry)
        } catch {
            throw ServerError(.internalServerError, "TUF repository \(directory): \(error.message)")
        }
    }

    /// Fails, saying what to do, when the root has expired or a key for an online role is missing
    /// (or no longer listed by the root after a rotation).
    public func checkCanSign(now: Int64) throws(ServerError) {
        let repository = try open()
        try check(repository, now: now)
    }

    func check(_ repository: TUFRepository, now: Int64) throws(ServerError) {
        let root = repository.root.signed
        if root.expires.secondsSinceEpoch * 1000 <= now {
            throw ServerError(.serviceUnavailable, "the root metadata (v\(root.version)) expired at \(root.expires); "
                + "sign a new root offline (nanoedge keys rotate --role root) before releasing")
        }
        var held: Set<String> = []
        for signer in signers {
            if let id = try? TUFKey(signer.publicKey).keyID { held.insert(id) }
        }
        for role in ["targets", "snapshot", "timestamp"] {
            guard let entry = root.roles[role] else { continue }
            let have = entry.keyIDs.filter { held.contains($0) }.count
            if Int64(have) < entry.threshold {
                throw ServerError(.serviceUnavailable, "the signing key for \(role) is missing: root v\(root.version) wants "
                    + "\(entry.threshold) of \(entry.keyIDs.map { String($0.prefix(16)) }.joined(separator: ", ")) and "
                    + "\(keyDirectory) has \(have); copy \(role).KEYID.pem there (or rotate the role), then restart")
            }
        }
    }

    /// Where a target's file lives: `targets/HASH.NAME`.
    public func targetPath(name: String, sha256: String) -> String { targetsDirectory + "/" + sha256 + "." + name }

    /// Adds the target (whose file is already at `targetPath`) and publishes new targets, snapshot
    /// and timestamp metadata.
    public func publish(target name: String, sha256: String, length: Int64, custom: JSON, now: Int64) throws(ServerError) {
        let repository = try open()
        try check(repository, now: now)
        do {
            try repository.addTarget(TargetFile(path: name, length: length, hashes: ["sha256": sha256], custom: custom))
            try repository.publish(now: TUFTime(secondsSinceEpoch: now / 1000))
        } catch {
            throw ServerError(.internalServerError, "publishing \(name): \(error.message)")
        }
    }

    /// Re-signs what expires within a third of its lifetime: the timestamp (about every 16 hours with
    /// the default day), the snapshot, and the targets. Returns the roles it signed.
    @discardableResult
    public func refresh(now: Int64) throws(ServerError) -> [String] {
        let repository = try open()
        let seconds = now / 1000
        func due(_ expires: TUFTime, _ lifetime: Int64) -> Bool { expires.secondsSinceEpoch - seconds <= lifetime / 3 }
        let targets = repository.targets["targets"]!.signed
        let time = TUFTime(secondsSinceEpoch: seconds)
        do throws(TUFError) {
            if due(targets.expires, expiry.targets), let any = targets.targets.values.first {
                try checkOrThrow(repository, now: now)
                try repository.addTarget(any)
                try repository.publish(now: time)
                return ["targets", "snapshot", "timestamp"]
            }
            if due(repository.snapshot.signed.expires, expiry.snapshot) {
                try checkOrThrow(repository, now: now)
                try repository.publish(now: time)
                return ["snapshot", "timestamp"]
            }
            if due(repository.timestamp.signed.expires, expiry.timestamp) {
                try checkOrThrow(repository, now: now)
                try repository.refreshTimestamp(now: time)
                return ["timestamp"]
            }
        } catch {
            throw ServerError(.internalServerError, "re-signing metadata: \(error.message)")
        }
        return []
    }

    private func checkOrThrow(_ repository: TUFRepository, now: Int64) throws(TUFError) {
        do { try check(repository, now: now) } catch { throw TUFError(.usage, error.message) }
    }

    /// When `refresh` next has work, in milliseconds.
    public func nextRefresh() throws(ServerError) -> Int64 {
        let repository = try open()
        let dates = [
            repository.timestamp.signed.expires.secondsSinceEpoch - expiry.timestamp / 3,
            repository.snapshot.signed.expires.secondsSinceEpoch - expiry.snapshot / 3,
            repository.targets["targets"]!.signed.expires.secondsSinceEpoch - expiry.targets / 3,
        ]
        return dates.min()! * 1000
    }

    /// The newest version of `role` on disk.
    public func newestVersion(_ role: String) throws(ServerError) -> Int64 {
        let repository = try open()
        switch role {
        case "root": return repository.root.signed.version
        case "snapshot": return repository.snapshot.signed.version
        case "timestamp": return repository.timestamp.signed.version
        default: return repository.targets[role]?.signed.version ?? 0
        }
    }
}

