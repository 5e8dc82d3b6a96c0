import CSQLite

/// A failed SQLite call: the (extended) result code, SQLite's message, and the SQL and database involved.
///
/// sqlite3_errmsg is read as soon as a call fails, because the next call on the connection replaces it.
public struct SQLiteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The extended result code, e.g. 2067 (SQLITE_CONSTRAINT_UNIQUE).
    public let code: Int32
    /// What sqlite3_errmsg said.
    public let message: String
    /// The statement or script that failed, if any.
    public let sql: String?
    /// The database file.
    public let path: String
    /// A hint that SQLite cannot give, such as a missing directory.
    public let hint: String?

    init(code: Int32, message: String, sql: String? = nil, path: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
        self.path = path
        self.hint = hint
    }

    /// Reads the current error of `connection` immediately after a failed call.
    init(code: Int32, connection: OpaquePointer?, sql: String? = nil, path: String) {
        let message: String
        if let connection, let text = sqlite3_errmsg(connection) {
            message = String(cString: text)
        } else if let text = sqlite3_errstr(code) {
            message = String(cString: text)
        } else {
            message = "SQLite error \(code)"
        }
        self.init(code: code, message: message, sql: sql, path: path)
    }

    /// The primary result code, e.g. 19 (SQLITE_CONSTRAINT).
    public var primaryCode: Int32 { code & 0xFF }

    /// A UNIQUE, PRIMARY KEY, FOREIGN KEY, NOT NULL or CHECK constraint rejected the change.
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }
    /// A UNIQUE or PRIMARY KEY constraint: the row already exists.
    public var isUniqueViolation: Bool {
        code == SQLiteError.constraintUnique || code == SQLiteError.constraintPrimaryKey
    }
    /// A FOREIGN KEY constraint: the row refers to a missing row, or is still referred to.
    public var isForeignKeyViolation: Bool { code == SQLiteError.constraintForeignKey }
    /// Another connection held the lock for longer than the busy timeout.
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
    public var isReadOnly: Bool { primaryCode == SQLITE_READONLY }
    public var isFull: Bool { primaryCode == SQLITE_FULL }
    public var isCannotOpen: Bool { primaryCode == SQLITE_CANTOPEN }

    // The extended codes are function-like macros in sqlite3.h, which Swift does not import.
    static let constraintForeignKey = SQLITE_CONSTRAINT | (3 << 8)
    static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)
    static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)

    public var description: String {
        var text: String
        switch primaryCode {
        case SQLITE_FULL:
            text = "the disk is full: free space on the file system holding \(path) and retry (\(message))"
        case SQLITE_CANTOPEN:
            text = "cannot open database \(path): \(message)"
        case SQLITE_READONLY:
            text = "database \(path) is read-only (\(message)); check that the file and its directory are writable"
        case SQLITE_BUSY, SQLITE_LOCKED:
            text = "database \(path) stayed locked by another connection past the busy timeout (\(message))"
        default:
            text = "\(message) (SQLite error \(code), database \(path))"
        }
        if let hint { text += "; \(hint)" }
        if let sql { text += "; SQL: \(sql)" }
        return text
    }
}
