import CryptoEVP
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import JSON
import Logging
import Reactor
import Releases
import Rollout
import Synchronization
import TUF
import UpdateStore

/// Told when assignments change, to push them to devices at once (the CoAP hub).
public protocol AssignmentNotifier: Sendable {
    func assignmentsChanged(_ changes: [AssignmentChange])
}

/// What an operator asks for in `release add`.
public struct ReleaseSpec: Sendable {
    public var custom: TargetCustom
    public var targetName: String?
    public var allowDowngrade: Bool

    public init(custom: TargetCustom, targetName: String? = nil, allowDowngrade: Bool = false) {
        self.custom = custom
        self.targetName = targetName
        self.allowDowngrade = allowDowngrade
    }

    /// `NAME-VERSION` unless the operator chose a name.
    public var target: String { targetName ?? "\(custom.name)-\(custom.version)" }
}

/// The update server's operations, shared by the HTTP routes and the CoAP endpoint.
public final class UpdateService: Sendable {
    public let pool: StorePool
    public let artifacts: ArtifactStore
    public let validator: ArtifactValidator
    public let repository: ReleaseRepository
    public let clock: @Sendable () -> Int64
    /// Uploads larger than this are refused.
    public let maxArtifactBytes: Int64
    private let notifiers = NotifierList()
    /// What /metrics exports.
    public let metrics = UpdateServerMetrics()

    public init(pool: StorePool, repository: ReleaseRepository, validator: ArtifactValidator,
                maxArtifactBytes: Int64 = 4 << 30, clock: @escaping @Sendable () -> Int64 = { Reactor.wallClock() }) {
        self.pool = pool
        self.repository = repository
        artifacts = ArtifactStore(repository: repository)
        self.validator = validator
        self.maxArtifactBytes = maxArtifactBytes
        self.clock = clock
    }

    public func addNotifier(_ notifier: any AssignmentNotifier) { notifiers.add(notifier) }

    func changed(_ changes: [AssignmentChange]) {
        guard !changes.isEmpty else { return }
        notifiers.notify(changes)
    }

    /// Checks the online keys and re-signs whatever metadata is about to expire.
    public func prepare() async throws(ServerError) {
        let repository = self.repository
        let now = clock()
        try repository.checkCanSign(now: now)
        try await store { store in
            store.lockRepositoryIgnoringErrors()
            try repository.refresh(now: now)
        }
    }

    /// Runs `body` in a store transaction on a pool thread. Store errors become HTTP errors (a
    /// missing row is a 404, a conflict a 409); a `ServerError` thrown by `body` passes through.
    func store<T: Sendable>(_ body: @escaping @Sendable (UpdateStore) throws -> T) async throws(ServerError) -> T {
        let failure = Mutex<ServerError?>(nil)
        do {
            return try await pool.run { store throws(StoreError) -> T in
                try store.transaction { () throws(StoreError) -> T in
                    do {
                        return try body(store)
                    } catch let error as StoreError {
                        throw error
                    } catch {
                        let serverError = (error as? ServerError) ?? ServerError(.internalServerError, "\(error)")
                        failure.withLock { $0 = serverError }
                        // Any error rolls the transaction back; the ServerError is kept above.
                        throw StoreError(.invalid, serverError.message)
                    }
                }
            }
        } catch {
            throw failure.withLock { $0 } ?? ServerError(error)
        }
    }

    // MARK: Releases

    /// Streams an upload into the artifact store, checks it, and signs new metadata.
    /// Nothing is stored unless every check passed.
    public func addRelease<Body: AsyncSequence>(_ spec: ReleaseSpec, body: Body, declaredLength: Int64?,
                                                declaredSHA256: String?) async throws(ServerError) -> ReleaseRecord
        where Body.Element == ByteBuffer
    {
        try checkSpec(spec)
        let now = clock()
        try repository.checkCanSign(now: now)
        try await store { store in try self.checkRelease(spec, store: store) }
        if let declaredLength, declaredLength > maxArtifactBytes {
            throw ServerError(.contentTooLarge, "the artifact is \(declaredLength) bytes; this server takes at most \(maxArtifactBytes)")
        }
        let staged = try artifacts.stage()
        do {
            for try await buffer in body {
                try buffer.withUnsafeReadableBytes { bytes throws(ServerError) in try staged.write(bytes) }
                if staged.length > maxArtifactBytes {
                    throw ServerError(.contentTooLarge, "the upload passed \(maxArtifactBytes) bytes, this server's limit")
                }
            }
        } catch let error as ServerError {
            staged.discard()
            throw error
        } catch {
            staged.discard()
            throw ServerError.badRequest("the upload broke off after \(staged.length) bytes (\(error)); nothing was stored")
        }
        try staged.finish()
        if let declaredLength, staged.length != declaredLength {
            staged.discard()
            throw ServerError.badRequest("the upload is truncated: \(staged.length) of \(declaredLength) bytes arrived; nothing was stored")
        }
        if let declaredSHA256, declaredSHA256 != staged.sha256Hex {
            staged.discard()
            throw ServerError.badRequest("the upload is corrupt: its SHA-256 is \(staged.sha256Hex), the client sent \(declaredSHA256); nothing was stored")
        }
        guard staged.length > 0 else {
            staged.discard()
            throw ServerError.badRequest("the artifact is empty")
        }
        do {
            try validator.validate(kind: spec.custom.kind, path: staged.path, boards: spec.custom.boards, unpack: spec.custom.unpack)
        } catch {
            staged.discard()
            throw error
        }
        let record = ReleaseRecord(target: spec.target, custom: spec.custom, sha256: staged.sha256Hex,
                                   length: staged.length, createdAt: now)
        let repository = self.repository
        let path = try artifacts.commit(staged, name: record.target)
        do {
            try await store { store in
                store.lockRepositoryIgnoringErrors()
                try self.checkRelease(spec, store: store)
                try store.addRelease(record)
                // Inside the transaction: if signing fails, the release is not recorded either.
                try repository.publish(target: record.target, sha256: record.sha256, length: record.length,
                                       custom: record.custom.json, now: now)
            }
        } catch {
            unlink(path)
            throw error
        }
        return record
    }

    func checkSpec(_ spec: ReleaseSpec) throws(ServerError) {
        do {
            _ = try ReleaseDescription(custom: spec.custom.json)
        } catch {
            throw .badRequest(error.message)
        }
        guard Names.isIdentifier(spec.custom.name) else { throw .badRequest(Names.rule("release name", spec.custom.name)) }
        guard Names.isIdentifier(spec.target, extra: [UInt8(ascii: "+")]) else {
            throw .badRequest(Names.rule("target name", spec.target))
        }
        guard !spec.custom.boards.isEmpty else { throw .badRequest("name at least one board the release runs on") }
        for board in spec.custom.boards where !validator.boards.contains(board) {
            throw .badRequest("unknown board \"\(board)\"; known boards: \(validator.boards.names.joined(separator: ", "))")
        }
        guard spec.custom.securityCounter >= 0 else { throw .badRequest("the security counter must not be negative") }
    }

    /// A version below what is deployed needs `allow_downgrade`, and even then the security
    /// counter must not go down: devices refuse such a release anyway.
    func checkRelease(_ spec: ReleaseSpec, store: UpdateStore) throws(ServerError) {
        let deployed: [ReleaseRecord]
        do throws(StoreError) {
            if try store.release(target: spec.target) != nil {
                throw StoreError(.conflict, "release \(spec.target) exists already; releases are immutable, publish a new version")
            }
            deployed = try store.deployedReleases(name: spec.custom.name)
                .filter { !Set($0.custom.boards).isDisjoint(with: spec.custom.boards) }
        } catch {
            throw ServerError(error)
        }
        try Self.checkNotLower(spec.custom, than: deployed, allowDowngrade: spec.allowDowngrade, what: "deployed")
    }

    static func checkNotLower(_ custom: TargetCustom, than others: [ReleaseRecord], allowDowngrade: Bool,
                              what: String) throws(ServerError) {
        if let counter = others.map(\.custom.securityCounter).max(), custom.securityCounter < counter {
            throw .conflict("security counter \(custom.securityCounter) is lower than \(counter) of a \(what) release of "
                + "\(custom.name); devices refuse to go back below a security counter")
        }
        guard let highest = others.max(by: { $0.custom.version < $1.custom.version }),
              custom.version < highest.custom.version else { return }
        guard allowDowngrade else {
            throw .conflict("version \(custom.version) of \(custom.name) is lower than \(highest.custom.version), which is "
                + "\(what); pass --allow-downgrade (allow_downgrade=true) to go back")
        }
    }

    // MARK: Deployments

    public func createDeployment(target: String, group: String, plan: RolloutPlan,
                                 allowDowngrade: Bool) async throws(ServerError) -> DeploymentRecord {
        let now = clock()
        let (record, changes) = try await store { store -> (DeploymentRecord, [AssignmentChange]) in
            guard let release = try store.release(target: target) else {
                throw ServerError.notFound("no release \(target) (nanoedge release list shows them)")
            }
            var current: [ReleaseRecord] = []
            for deployment in try store.deployments() where deployment.group == group && deployment.target != target {
                if let other = try store.release(target: deployment.target), other.custom.name == release.custom.name {
                    current.append(other)
                }
            }
            try Self.checkNotLower(release.custom, than: current, allowDowngrade: allowDowngrade,
                                   what: "deployed to group \(group)")
            return try store.createDeployment(target: target, group: group, plan: plan, at: now)
        }
        changed(changes)
        return record
    }

    public func halt(deployment: Int64, reason: String) async throws(ServerError) -> DeploymentRecord {
        let now = clock()
        let record = try await store { store in
            return try store.halt(deployment: deployment, reason: reason, at: now)
        }
        // Devices that had failed fall back; the hub recomputes what it pushes.
        changed([AssignmentChange(deployment: deployment, devices: [])])
        return record
    }

    public func resume(deployment: Int64) async throws(ServerError) -> DeploymentRecord {
        let now = clock()
        let (record, changes) = try await store { store in
            return try store.resume(deployment: deployment, at: now)
        }
        changed(changes)
        return record
    }

    // MARK: Devices

    /// Registers a device; its credentials (the HTTP token and the DTLS key, hex) exist only in
    /// the answer, the store keeps the token's hash.
    public func addDevice(id: String, board: String, group: String) async throws(ServerError) -> (token: String, psk: String) {
        guard Names.isIdentifier(id) else { throw .badRequest(Names.rule("device id", id)) }
        guard validator.boards.contains(board) else {
            throw .badRequest("unknown board \"\(board)\"; known boards: \(validator.boards.names.joined(separator: ", "))")
        }
        let token = Credentials.newDeviceToken()
        let psk = Credentials.newPSK()
        let now = clock()
        let changes = try await store { store in
            try store.addDevice(id: id, board: board, group: group, tokenHash: Credentials.hash(token), psk: psk, at: now)
        }
        changed(changes)
        return (token, psk)
    }

    public func checkIn(device: String, _ checkIn: CheckIn) async throws(ServerError) -> Assignment? {
        let now = clock()
        metrics.checkIn()
        return try await store { store in
            try store.recordCheckIn(device: device, checkIn, at: now)
            return try store.assignment(device: device)?.0
        }
    }

    public func report(device: String, _ report: UpdateReport) async throws(ServerError) -> Assignment? {
        let now = clock()
        let (assignment, changes) = try await store { store in
            let changes = try store.report(device: device, report, at: now)
            return (try store.assignment(device: device)?.0, changes)
        }
        metrics.report(report.outcome)
        changed(changes)
        return assignment
    }

    public func assignment(device: String) async throws(ServerError) -> Assignment? {
        try await store { store in
            return try store.assignment(device: device)?.0
        }
    }

    // MARK: Time

    /// Advances soaking rollouts and re-signs expiring metadata. Returns when to call again.
    @discardableResult
    public func tick() async -> Int64 {
        let now = clock()
        let repository = self.repository
        var next = now + 60_000
        do {
            let (changes, deadline) = try await store { store -> ([AssignmentChange], Int64?) in
                let changes = try store.tick(at: now)
                return (changes, try store.nextDeadline())
            }
            changed(changes)
            if let deadline { next = min(next, deadline) }
        } catch {
            serverLog.error("advancing rollouts failed: \(error.message)")
        }
        do {
            let due = try await store { store -> Int64 in
                store.lockRepositoryIgnoringErrors()
                try repository.refresh(now: now)
                return try repository.nextRefresh()
            }
            next = min(next, due)
        } catch {
            serverLog.error("re-signing metadata failed: \(error.message)")
        }
        return max(next, now + 100)
    }
}

extension UpdateStore {
    /// Takes the repository lock; an error here shows up again on the next statement.
    func lockRepositoryIgnoringErrors() { try? lockRepository() }
}

/// The notifiers, behind a lock: they are added at start-up and called from any task.
final class NotifierList: Sendable {
    private let list = Mutex<[any AssignmentNotifier]>([])
    func add(_ notifier: any AssignmentNotifier) { list.withLock { $0.append(notifier) } }
    func notify(_ changes: [AssignmentChange]) {
        for notifier in list.withLock({ $0 }) { notifier.assignmentsChanged(changes) }
    }
}

/// The update server's own lines; the level comes from `--log-level` (ServerLogging).
let serverLog = Logger(label: "update-server")
