/// A failed libpq call: the server's SQLSTATE (when the server answered), its message and the SQL.
public struct PostgresError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Five-character SQLSTATE, e.g. `23505` (unique violation); nil for connection failures.
    public let sqlState: String?
    public let message: String
    public let sql: String?

    public init(sqlState: String?, message: String, sql: String? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.sql = sql
    }

    /// A UNIQUE or PRIMARY KEY constraint: the row already exists.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// A FOREIGN KEY constraint.
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    /// A serialization failure or deadlock: running the transaction again may succeed.
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The connection is gone (class 08) or was never made.
    public var isConnectionFailure: Bool { sqlState == nil || sqlState?.hasPrefix("08") == true }

    public var description: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let sql { text += "; SQL: \(sql)" }
        return text
    }
}
