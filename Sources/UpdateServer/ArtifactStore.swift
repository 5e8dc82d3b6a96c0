import CryptoEVP
import Hummingbird

#if canImport(Glibc)
import Glibc
#endif

/// Artifacts by content: `DATA/artifacts/sha256/<hex>`. Replicas share the directory (a shared
/// volume); a file appears there only complete and fsync'd, by rename(2), so a reader never sees
/// half of one, and two replicas storing the same bytes write the same name.
public struct ArtifactStore: Sendable {
    public let root: String

    public init(dataDirectory: String) {
        root = dataDirectory + "/artifacts"
    }

    public var blobDirectory: String { root + "/sha256" }
    var stagingDirectory: String { root + "/incoming" }

    public func path(sha256 hex: String) -> String { blobDirectory + "/" + hex }

    public func contains(sha256 hex: String) -> Bool {
        var info = stat()
        return stat(path(sha256: hex), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Creates the directories; fails with a message when the data directory is not writable.
    public func prepare() throws(ServerError) {
        for directory in [root, blobDirectory, stagingDirectory] {
            if mkdir(directory, 0o755) != 0, errno != EEXIST {
                throw ServerError(.internalServerError, "cannot create \(directory): \(systemMessage()); check --data")
            }
        }
    }

    /// A new, empty staging file that hashes what is written to it.
    public func stage() throws(ServerError) -> StagedArtifact {
        try StagedArtifact(directory: stagingDirectory)
    }

    /// Moves a complete staged file to its content address (or drops it if that address exists).
    public func commit(_ staged: StagedArtifact) throws(ServerError) -> String {
        let target = path(sha256: staged.sha256Hex)
        if contains(sha256: staged.sha256Hex) {
            staged.discard()
            return target
        }
        guard rename(staged.path, target) == 0 else {
            throw ServerError(.internalServerError, "cannot store artifact \(target): \(systemMessage())")
        }
        let fd = open(blobDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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
    private let hasher = SHA256Hasher()
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
