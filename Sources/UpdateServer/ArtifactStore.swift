import CryptoEVP
import Hummingbird

#if canImport(Glibc)
import Glibc
#endif

/// Artifacts by content: `REPO/targets/SHA256.NAME`, the consistent-snapshot name TUF clients
/// fetch. Replicas share the directory (a shared volume); a file appears there only complete and
/// fsync'd, by rename(2), so a reader never sees half of one.
public struct ArtifactStore: Sendable {
    public let repository: ReleaseRepository

    public init(repository: ReleaseRepository) {
        self.repository = repository
    }

    /// A new, empty staging file that hashes what is written to it.
    public func stage() throws(ServerError) -> StagedArtifact {
        try StagedArtifact(directory: repository.incomingDirectory)
    }

    /// Moves a complete staged file to its content address; returns the path.
    public func commit(_ staged: StagedArtifact, name: String) throws(ServerError) -> String {
        let target = repository.targetPath(name: name, sha256: staged.sha256Hex)
        guard rename(staged.path, target) == 0 else {
            throw ServerError(.internalServerError, "cannot store artifact \(target): \(systemMessage())")
        }
        staged.markCommitted()
        let fd = open(repository.targetsDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        return target
    }
}

/// An upload on its way into the artifact store: written, hashed and counted as it arrives.
public final class StagedArtifact: @unchecked Sendable {
    // One request writes it, from one task at a time.
    public let path: String
    private var fd: Int32
    private let hasher = StreamingDigest(.sha256)
    public private(set) var length: Int64 = 0
    public private(set) var sha256Hex = ""
    private var finished = false

    init(directory: String) throws(ServerError) {
        let name = Hex.encode(secureRandomBytes(12))
        path = directory + "/" + name
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ServerError(.internalServerError, "cannot create \(path): \(systemMessage()); check --data")
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !finished { unlink(path) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ServerError) {
        hasher.update(bytes)
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                let reason = systemMessage()
                throw ServerError(errno == ENOSPC ? HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage") : .internalServerError,
                                  "cannot write the upload to \(path): \(reason)")
            }
            offset += count
        }
        length += Int64(bytes.count)
    }

    /// Flushes the file to disk and fixes its digest.
    public func finish() throws(ServerError) {
        guard fsync(fd) == 0 else {
            throw ServerError(.internalServerError, "cannot fsync \(path): \(systemMessage())")
        }
        close(fd)
        fd = -1
        sha256Hex = Hex.encode(hasher.finish())
    }

    /// The file moved away (committed); nothing to clean up.
    func markCommitted() { finished = true }

    /// Removes the file now.
    public func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(path)
        finished = true
    }
}

func systemMessage(_ code: Int32 = errno) -> String {
    strerror(code).map { String(cString: $0) } ?? "errno \(code)"
}
