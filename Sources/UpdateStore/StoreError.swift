/// An error from the update server's store. Codes grow over time: compare `code` with the static
/// codes rather than switching. `description` says what went wrong and what to do.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case notFound = "not found"
            case conflict = "conflict"
            case invalid = "invalid request"
            case database = "database error"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        /// The named release, group, device or deployment does not exist.
        public static let notFound = Code(.notFound)
        /// It exists already, or the change contradicts the current state (a downgrade, a halt of a
        /// finished rollout).
        public static let conflict = Code(.conflict)
        /// The request itself is wrong (a report for a target the device was never given).
        public static let invalid = Code(.invalid)
        /// The database failed; the message has its own words.
        public static let database = Code(.database)
    }

    public let code: Code
    public let message: String
    /// The database failure is transient (a serialization failure or a lost connection).
    public let isRetryable: Bool

    public init(_ code: Code, _ message: String, retryable: Bool = false) {
        self.code = code
        self.message = message
        isRetryable = retryable
    }

    public var description: String { message }

    static func notFound(_ message: String) -> StoreError { StoreError(.notFound, message) }
    static func conflict(_ message: String) -> StoreError { StoreError(.conflict, message) }
    static func invalid(_ message: String) -> StoreError { StoreError(.invalid, message) }
}
