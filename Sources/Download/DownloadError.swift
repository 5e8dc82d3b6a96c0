/// Why a fetch or download failed. `code` says what to do about it; `message` says what happened.
///
/// Codes can grow, so compare `code` with the static codes rather than switching exhaustively.
public struct DownloadError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case network = "network error"
            case http = "HTTP error"
            case tooLarge = "longer than allowed"
            case truncated = "truncated"
            case mismatch = "hash or length mismatch"
            case diskFull = "disk full"
            case io = "local I/O error"
            case usage = "invalid request"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        /// Could not connect, timed out, the connection dropped: worth retrying later.
        public static let network = Code(.network)
        /// The server answered with an error status (see `httpStatus`).
        public static let http = Code(.http)
        /// The server sent (or announced) more bytes than the signed length: refused.
        public static let tooLarge = Code(.tooLarge)
        /// The body ended before the signed length.
        public static let truncated = Code(.truncated)
        /// All bytes arrived but a hash or the length differs from the signed one.
        public static let mismatch = Code(.mismatch)
        /// ENOSPC or EDQUOT while writing the staging file.
        public static let diskFull = Code(.diskFull)
        /// Another local file error (permissions, read-only file system, I/O error).
        public static let io = Code(.io)
        /// A bad argument: an unknown hash algorithm, an empty URL.
        public static let usage = Code(.usage)
    }

    public let code: Code
    public let message: String
    /// The HTTP status for `.http`.
    public let httpStatus: Int?

    public init(_ code: Code, _ message: String, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
    }

    public var description: String { message }
}
