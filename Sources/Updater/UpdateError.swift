import DurableFile

/// An error from the updater: a refused target, a failed staging, a bad state file, a runtime that
/// did not start. Whatever the error, the running (committed) version is left as it was.
///
/// Codes grow over time: compare `code` with the static codes rather than switching exhaustively.
public struct UpdateError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case refused = "target refused"
            case verification = "verification failed"
            case diskFull = "disk full"
            case io = "I/O error"
            case invalidState = "invalid state"
            case corruptState = "corrupt updater state"
            case locked = "updater busy"
            case runtime = "container runtime failed"
            case invalidTarget = "invalid target description"
            case image = "image error"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        /// Another board, an older version, a security counter below the device's floor.
        public static let refused = Code(.refused)
        /// The artifact's length or sha256 differs from its signed description.
        public static let verification = Code(.verification)
        /// ENOSPC/EDQUOT while staging; the slot was cleaned.
        public static let diskFull = Code(.diskFull)
        public static let io = Code(.io)
        /// The request does not fit the lifecycle (e.g. activate with nothing staged).
        public static let invalidState = Code(.invalidState)
        public static let corruptState = Code(.corruptState)
        /// Another updater process holds the state directory.
        public static let locked = Code(.locked)
        public static let runtime = Code(.runtime)
        public static let invalidTarget = Code(.invalidTarget)
        /// The OCI image could not be read or unpacked.
        public static let image = Code(.image)
    }

    public let code: Code
    public let errno: Int32?
    private let message: String

    public var description: String { message }

    public init(_ code: Code, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    /// A failed system call; ENOSPC becomes `.diskFull`.
    static func system(_ errno: Int32, _ operation: String, _ path: String, consequence: String) -> UpdateError {
        let text = "\(operation) \(path) failed: \(DurableFile.errorText(errno))"
        if errno == ENOSPC || errno == EDQUOT {
            return UpdateError(.diskFull, errno: errno,
                               text + "; free space on the file system holding \(path) and retry; " + consequence)
        }
        return UpdateError(.io, errno: errno, text + "; " + consequence)
    }
}

#if canImport(Glibc)
import Glibc
#endif
