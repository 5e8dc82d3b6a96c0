/// Why metadata, a target or a repository operation was refused.
///
/// Codes can grow, so compare `code` with the static codes rather than switching exhaustively.
public struct TUFError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case invalidMetadata = "invalid metadata"
            case unsigned = "not enough valid signatures"
            case expired = "expired metadata"
            case badVersion = "bad version"
            case equalVersion = "same version"
            case lengthOrHash = "length or hash mismatch"
            case repository = "inconsistent repository"
            case network = "network error"
            case io = "I/O error"
            case usage = "invalid request"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        /// Not TUF metadata we can read: bad JSON, a float, a missing or mistyped field.
        public static let invalidMetadata = Code(.invalidMetadata)
        /// The signatures of a role's keys do not reach the role's threshold.
        public static let unsigned = Code(.unsigned)
        /// The metadata's `expires` has passed.
        public static let expired = Code(.expired)
        /// A rollback, or a version that does not match what the referring metadata says.
        public static let badVersion = Code(.badVersion)
        /// The timestamp has the version we already trust: nothing new (not an attack).
        public static let equalVersion = Code(.equalVersion)
        /// Bytes whose length or hashes differ from the signed ones, or an unknown hash algorithm.
        public static let lengthOrHash = Code(.lengthOrHash)
        /// The repository contradicts itself: a delegated role missing from snapshot, a role
        /// missing from a newer snapshot, the wrong metadata type.
        public static let repository = Code(.repository)
        /// Metadata or a target could not be fetched: connection, HTTP status, time-out, truncation.
        public static let network = Code(.network)
        /// A local file could not be read or written.
        public static let io = Code(.io)
        /// The caller asked for something impossible: an unknown role, too few keys to sign.
        public static let usage = Code(.usage)
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// True when the failure means the repository or the network served something untrustworthy
    /// (as opposed to local I/O or a caller error).
    public var isVerificationFailure: Bool {
        code != .io && code != .usage && code != .network
    }
}
