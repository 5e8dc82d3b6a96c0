import CryptoEVP
import DurableFile

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the client fetches bytes. Implementations report failures as `TUFError`:
/// `.network` for transport problems (with `isNotFound` for HTTP 403/404), `.lengthOrHash` for
/// data longer than allowed or not matching, `.io` for local files.
public protocol TUFTransport: AnyObject {
    /// The body at `url`; more than `maxLength` bytes is an error, not a truncation.
    func fetch(_ url: String, maxLength: Int) throws(TUFError) -> [UInt8]

    /// Streams `url` into `stagingPath`, checking `target`'s length and every hash as the bytes
    /// arrive. Returns only when the staged file is exactly the signed target; may resume a
    /// partial staging file left by an earlier attempt.
    func download(_ url: String, target: TargetFile, stagingPath: String) throws(TUFError)
}

extension TUFError {
    /// A fetch that failed because the file does not exist (HTTP 403 or 404): the end of the
    /// root chain, for instance.
    public static func notFound(_ url: String, status: Int) -> TUFError {
        TUFError(.network, "\(url): HTTP \(status) (not found)")
    }

    public var isNotFound: Bool {
        code == .network && message.hasSuffix("(not found)")
    }
}

/// Limits against endless data and endless work (python-tuf's defaults).
public struct TUFClientConfig: Sendable, Hashable {
    public var maxRootRotations = 256
    public var maxDelegations = 32
    public var rootMaxLength = 512_000
    public var timestampMaxLength = 16_384
    public var snapshotMaxLength = 2_000_000
    public var targetsMaxLength = 5_000_000

    public init() {}
}

/// The TUF client workflow (specification section 5) over a transport and a metadata directory.
///
/// The directory holds the trusted metadata under unversioned names (root.json, timestamp.json,
/// snapshot.json, targets.json and ROLE.json with the name percent-encoded), the exact bytes that
/// were verified. Each file is replaced atomically as soon as it is verified (5.3.8, 5.4.5, 5.5.7,
/// 5.6.6), as python-tuf's ngclient does: a later failure leaves the earlier steps trusted.
/// Untrusted bytes never reach it, and nothing else is written there.
public final class TUFClient {
    public let metadataDirectory: String
    public let metadataBaseURL: String
    public let config: TUFClientConfig
    public let trusted: TrustedMetadataSet
    private let transport: TUFTransport
    private var refreshed = false

    /// Pins `rootBytes` as the trust anchor in `metadataDirectory` (device provisioning). The
    /// root must be signed by its own threshold. An existing, different root.json is refused:
    /// re-pinning must be deliberate (remove the file first).
    public static func initialize(metadataDirectory: String, rootBytes: [UInt8]) throws(TUFError) {
        _ = try TrustedMetadataSet(rootBytes: rootBytes)
        let path = metadataDirectory + "/root.json"
        if let existing = try readLocal(path, limit: TUFClientConfig().rootMaxLength) {
            if existing == rootBytes { return }
            throw TUFError(.usage, "\(path) already pins a different root; remove it first to pin another")
        }
        do {
            try DurableFile.makeDirectories(metadataDirectory, mode: 0o755)
        } catch {
            throw TUFError(.io, error.description)
        }
        try persist(rootBytes, to: path)
    }

    /// Loads the trusted root from `metadataDirectory/root.json` (5.2).
    public init(metadataDirectory: String, metadataBaseURL: String, transport: TUFTransport,
                config: TUFClientConfig = .init(), referenceTime: TUFTime = .now()) throws(TUFError) {
        self.metadataDirectory = metadataDirectory
        self.metadataBaseURL = metadataBaseURL.hasSuffix("/") ? metadataBaseURL : metadataBaseURL + "/"
        self.transport = transport
        self.config = config
        guard let root = try TUFClient.readLocal(metadataDirectory + "/root.json", limit: config.rootMaxLength) else {
            throw TUFError(.usage, "\(metadataDirectory)/root.json is missing: pin a root first (tuf init)")
        }
        trusted = try TrustedMetadataSet(rootBytes: root, referenceTime: referenceTime, maxLength: config.rootMaxLength)
        TUFClient.removeLegacyStaging(metadataDirectory)
    }

    /// Earlier versions kept partial downloads in `DIR/staging/`; the directory now holds only
    /// metadata, so what they left is removed (best effort: a failure only leaves the files).
    static func removeLegacyStaging(_ metadataDirectory: String) {
        let staging = metadataDirectory + "/staging"
        guard let stream = opendir(staging) else { return }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(stream)
        for name in names { unlink(staging + "/" + name) }
        rmdir(staging)
    }

    /// Updates root (step by step), timestamp, snapshot and top-level targets (5.3 to 5.6), each
    /// written as soon as it is verified. Once per client.
    public func refresh() throws(TUFError) {
        guard !refreshed else { throw TUFError(.usage, "refresh() runs once per client") }
        refreshed = true
        try loadRoot()
        try loadTimestamp()
        try loadSnapshot()
        _ = try loadTargets(role: Targets.type, delegator: Root.type)
    }

    /// The target named `path` from the most trusted role that lists it (pre-order depth-first
    /// walk of the delegations, stopping at terminating roles), or nil when no role lists it.
    /// Refreshes first if `refresh()` was not called.
    public func targetInfo(_ path: String) throws(TUFError) -> TargetFile? {
        if !refreshed { try refresh() }
        var toVisit: [(role: String, delegator: String)] = [(Targets.type, Root.type)]
        var visited: Set<String> = []
        while visited.count <= config.maxDelegations, let (role, delegator) = toVisit.popLast() {
            if visited.contains(role) { continue }
            let targets = try loadTargets(role: role, delegator: delegator)
            if let target = targets.targets[path] { return target }
            visited.insert(role)
            guard let delegations = targets.delegations else { continue }
            var children: [(String, String)] = []
            for (child, terminating) in delegations.roles(for: path) {
                children.append((child, role))
                if terminating {
                    toVisit = []
                    break
                }
            }
            toVisit.append(contentsOf: children.reversed())
        }
        return nil
    }

    /// Downloads `target` from `targetBaseURL` into `stagingPath`, verified against its signed
    /// length and hashes (5.7). Under consistent snapshots the URL is `BASE/dir/HASH.name`.
    public func download(_ target: TargetFile, targetBaseURL: String, to stagingPath: String) throws(TUFError) {
        try transport.download(targetURL(target, base: targetBaseURL), target: target, stagingPath: stagingPath)
    }

    /// The URL `download` fetches `target` from: the path percent-encoded by `quoteTargetPath`.
    public func targetURL(_ target: TargetFile, base targetBaseURL: String) -> String {
        let base = targetBaseURL.hasSuffix("/") ? targetBaseURL : targetBaseURL + "/"
        let path = trusted.root.consistentSnapshot == true ? target.hashPrefixedPath : target.path
        return base + quoteTargetPath(path)
    }

    /// The file name a target gets in a target directory (its path with `/` percent-encoded).
    public static func localName(for target: TargetFile) -> String {
        quoteRoleName(target.path)
    }

    // MARK: Steps

    /// 5.3: each next root version until the repository has none (403/404), verified by the
    /// trusted root and by itself (5.3.4), its version exactly the next (5.3.5), and
    /// written at once (5.3.8). Expiry is checked on the final root only, by `updateTimestamp`
    /// (5.3.10, as python-tuf); 5.3.11 needs no code (see docs/tuf.md).
    private func loadRoot() throws(TUFError) {
        let first = trusted.root.version + 1
        for version in first..<(first + Int64(config.maxRootRotations)) {
            let bytes: [UInt8]
            do {
                bytes = try transport.fetch(metadataBaseURL + "\(version).root.json", maxLength: config.rootMaxLength)
            } catch {
                if error.isNotFound { return }
                throw error
            }
            try trusted.updateRoot(bytes, maxLength: config.rootMaxLength)
            try persist(bytes, "root")
        }
    }

    /// 5.4: the local timestamp, when it still verifies, guards against rollback (5.4.3); the
    /// new one is written (5.4.5) unless it is the same version. An expired one stays in memory
    /// for rollback checks and is not written (python-tuf).
    private func loadTimestamp() throws(TUFError) {
        if let local = try? TUFClient.readLocal(path("timestamp"), limit: config.timestampMaxLength) {
            // A stale local timestamp still guards against rollback; an invalid one is ignored.
            _ = try? trusted.updateTimestamp(local, maxLength: config.timestampMaxLength)
        }
        let bytes = try transport.fetch(metadataBaseURL + "timestamp.json", maxLength: config.timestampMaxLength)
        do {
            try trusted.updateTimestamp(bytes, maxLength: config.timestampMaxLength)
        } catch where error.code == .equalVersion {
            return
        }
        try persist(bytes, "timestamp")
    }

    /// 5.5: a local snapshot that is still valid as the final one is kept; otherwise the one the
    /// timestamp names is fetched (N.snapshot.json under consistent snapshots), checked against
    /// the timestamp's length and hashes (5.5.2), and written (5.5.7).
    private func loadSnapshot() throws(TUFError) {
        if let local = try? TUFClient.readLocal(path("snapshot"), limit: config.snapshotMaxLength) {
            do {
                try trusted.updateSnapshot(local, trusted: true, maxLength: config.snapshotMaxLength)
                return
            } catch {
                // Not valid as the final snapshot: fetch the one the timestamp names.
            }
        }
        guard let meta = trusted.timestamp?.snapshotMeta else { throw TUFError(.usage, "no timestamp loaded") }
        let length = meta.length.map { Int(clamping: $0) } ?? config.snapshotMaxLength
        let name = trusted.root.consistentSnapshot == true ? "\(meta.version).snapshot.json" : "snapshot.json"
        let bytes = try transport.fetch(metadataBaseURL + name, maxLength: length)
        try trusted.updateSnapshot(bytes, maxLength: config.snapshotMaxLength)
        try persist(bytes, "snapshot")
    }

    /// 5.6 (and 5.6.7 for delegated roles): local bytes still valid are kept; otherwise the role
    /// is fetched under its percent-encoded name, checked against snapshot, and written (5.6.6).
    private func loadTargets(role: String, delegator: String) throws(TUFError) -> Targets {
        if trusted.contains(role: role, delegator: delegator), let targets = trusted.targets[role] {
            return targets
        }
        if let local = try? TUFClient.readLocal(path(role), limit: config.targetsMaxLength),
           let targets = try? trusted.updateDelegatedTargets(local, role: role, delegator: delegator,
                                                            maxLength: config.targetsMaxLength) {
            return targets
        }
        guard let meta = trusted.snapshot?.meta["\(role).json"] else {
            throw TUFError(.repository, "role \(role) is delegated but snapshot does not list it")
        }
        let length = meta.length.map { Int(clamping: $0) } ?? config.targetsMaxLength
        let quoted = quoteRoleName(role)
        let name = trusted.root.consistentSnapshot == true ? "\(meta.version).\(quoted).json" : "\(quoted).json"
        let bytes = try transport.fetch(metadataBaseURL + name, maxLength: length)
        let targets = try trusted.updateDelegatedTargets(bytes, role: role, delegator: delegator,
                                                         maxLength: config.targetsMaxLength)
        try persist(bytes, role)
        return targets
    }

    // MARK: Files

    private func path(_ role: String) -> String {
        metadataDirectory + "/" + quoteRoleName(role) + ".json"
    }

    private func persist(_ bytes: [UInt8], _ role: String) throws(TUFError) {
        try TUFClient.persist(bytes, to: path(role))
    }

    private static func persist(_ bytes: [UInt8], to path: String) throws(TUFError) {
        do {
            try DurableFile.write(bytes, to: path)
        } catch {
            throw TUFError(.io, error.description)
        }
    }

    static func readLocal(_ path: String, limit: Int) throws(TUFError) -> [UInt8]? {
        do {
            return try DurableFile.read(path, limit: limit)
        } catch {
            throw TUFError(.io, error.description)
        }
    }
}

extension TargetFile {
    /// True when the file at `path` is exactly this target (length and every hash).
    public func matchesFile(at path: String) -> Bool {
        var digests: [StreamingDigest] = []
        for name in hashes.keys {
            guard let algorithm = HashAlgorithm(tufName: name) else { return false }
            digests.append(StreamingDigest(algorithm))
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var total: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            if count == 0 { break }
            total += Int64(count)
            if total > length { return false }
            chunk.withUnsafeBytes { buffer in
                for digest in digests { digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) }
            }
        }
        guard total == length else { return false }
        for digest in digests where Hex.encode(digest.finish()) != hashes[digest.algorithm.rawValue] {
            return false
        }
        return true
    }
}
