import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to an SQLite database, owned by one thread at a time.
///
/// Other processes may open the same file: the connection runs in WAL mode, so readers do not block
/// the writer, and waits up to `busyTimeoutMilliseconds` for a lock before reporting `isBusy`.
public final class Database {
    public static let busyTimeoutMilliseconds: Int32 = 5000
    /// Enough for every statement a component uses; ad-hoc SQL beyond it must not grow memory forever.
    static let statementCacheLimit = 64

    let handle: OpaquePointer
    public let path: String
    public let isReadOnly: Bool
    private var statements: [String: Statement] = [:]
    private var savepointDepth = 0

    /// Opens (or, unless `readOnly`, creates) the database at `path`; ":memory:" gives a private one.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        self.path = path
        self.isReadOnly = readOnly
        // No mutex: the type is not Sendable, so the connection is never used by two threads at once.
        var flags = SQLITE_OPEN_NOMUTEX
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        if !readOnly { Database.createPrivately(path) }
        var raw: OpaquePointer?
        let code = sqlite3_open_v2(path, &raw, flags, nil)
        guard code == SQLITE_OK, let raw else {
            var error = SQLiteError(code: code, connection: raw, path: path)
            if error.isCannotOpen {
                error = SQLiteError(code: error.code, message: error.message, path: path,
                                    hint: Database.openHint(path: path, readOnly: readOnly))
            }
            // SQLite allocates a handle even when opening fails; it still has to be closed.
            sqlite3_close_v2(raw)
            throw error
        }
        handle = raw
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, Database.busyTimeoutMilliseconds)
        do {
            try execute("PRAGMA foreign_keys = ON")
            if !readOnly {
                try execute("PRAGMA journal_mode = WAL")
                // FULL, not NORMAL: a change acknowledged to a device must survive a power cut.
                try execute("PRAGMA synchronous = FULL")
            }
        } catch {
            sqlite3_close_v2(handle)
            throw error
        }
    }

    deinit {
        statements.removeAll()
        // close_v2 waits for statements that callers still hold, instead of failing with SQLITE_BUSY.
        sqlite3_close_v2(handle)
    }

    /// The mode a database file gets when this type creates it. Databases hold device keys and tokens;
    /// SQLite would create them 0644 less the umask. Its -wal and -shm files copy the database's mode.
    public static let creationMode: mode_t = 0o600

    /// Creates `path` with `creationMode` before SQLite opens it, and takes away what others could read of
    /// an existing one (a group a site chose, as 0640, stays). Failures are left for SQLite to report.
    private static func createPrivately(_ path: String) {
        guard !path.isEmpty, path != ":memory:" else { return }
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, creationMode)
        if fd >= 0 {
            close(fd)
            return
        }
        guard errno == EEXIST else { return }
        // Files from before databases were created private, and their -wal and -shm.
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mode & 0o007 != 0 else {
                continue
            }
            chmod(file, info.st_mode & 0o770)
        }
    }

    /// Explains the usual reasons for SQLITE_CANTOPEN, which SQLite reports only as "unable to open".
    private static func openHint(path: String, readOnly: Bool) -> String? {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        var info = stat()
        if stat(directory, &info) != 0 {
            return "directory \(directory) does not exist"
        }
        if (info.st_mode & S_IFMT) != S_IFDIR {
            return "\(directory) is not a directory"
        }
        if readOnly, access(path, F_OK) != 0 {
            return "file \(path) does not exist"
        }
        if !readOnly, access(directory, W_OK | X_OK) != 0 {
            return "directory \(directory) is not writable"
        }
        return nil
    }

    private func failure(_ code: Int32, sql: String? = nil) -> SQLiteError {
        SQLiteError(code: code, connection: handle, sql: sql, path: path)
    }

    // MARK: Running SQL

    /// Runs a script of one or more statements, discarding any rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        let code = sqlite3_exec(handle, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw failure(code, sql: sql) }
    }

    /// A prepared statement for `sql`, reset and without bindings. Statements are cached by their text.
    ///
    /// If the cached statement is still in the middle of a result (a nested use of the same SQL), a
    /// separate statement is prepared so the outer iteration is not disturbed.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = statements[sql] {
            if !cached.isBusy {
                cached.reset()
                cached.clearBindings()
                return cached
            }
            return try compile(sql, persistent: false)
        }
        let statement = try compile(sql, persistent: true)
        if statements.count >= Database.statementCacheLimit {
            statements.removeAll()
        }
        statements[sql] = statement
        return statement
    }

    /// How many statements the cache holds.
    public var cachedStatementCount: Int { statements.count }

    private func compile(_ sql: String, persistent: Bool) throws(SQLiteError) -> Statement {
        var raw: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let result = sql.withCString { text -> (code: Int32, rest: String) in
            var tail: UnsafePointer<CChar>?
            let code = sqlite3_prepare_v3(handle, text, -1, flags, &raw, &tail)
            return (code, tail.map { String(cString: $0) } ?? "")
        }
        guard result.code == SQLITE_OK else { throw failure(result.code, sql: sql) }
        guard let raw else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "no statement in the SQL text", sql: sql, path: path)
        }
        let statement = Statement(handle: raw, sql: sql, path: path)
        if try containsStatement(result.rest) {
            // prepare() would otherwise run the first statement and silently drop the others.
            throw SQLiteError(code: SQLITE_MISUSE,
                              message: "more than one statement; use execute(_:) for scripts",
                              sql: sql, path: path)
        }
        return statement
    }

    /// Whether `sql` holds a statement, rather than only whitespace, semicolons and comments.
    private func containsStatement(_ sql: String) throws(SQLiteError) -> Bool {
        var rest = sql
        while rest.contains(where: { !$0.isWhitespace && $0 != ";" }) {
            var raw: OpaquePointer?
            let result = rest.withCString { text -> (code: Int32, rest: String) in
                var tail: UnsafePointer<CChar>?
                let code = sqlite3_prepare_v2(handle, text, -1, &raw, &tail)
                return (code, tail.map { String(cString: $0) } ?? "")
            }
            guard result.code == SQLITE_OK else { throw failure(result.code, sql: sql) }
            if let raw {
                sqlite3_finalize(raw)
                return true
            }
            if result.rest == rest { return false }
            rest = result.rest
        }
        return false
    }

    /// Runs one statement with `arguments`, discarding any rows.
    public func run(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {}
    }

    /// Every row of one statement, as values.
    public func query(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        var rows: [[SQLiteValue]] = []
        try forEachRow(sql, arguments) { statement in
            rows.append(statement.row())
        }
        return rows
    }

    /// Calls `body` with the statement positioned on each row in turn; the statement is reset afterwards.
    public func forEachRow(_ sql: String, _ arguments: [SQLiteValue] = [],
                           _ body: (Statement) throws(SQLiteError) -> Void) throws(SQLiteError) {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {
            try body(statement)
        }
    }

    // MARK: Transactions

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    ///
    /// The outermost level uses BEGIN IMMEDIATE, so the write lock is taken (waiting up to the busy
    /// timeout) before anything is read; a deferred transaction that later tries to write in WAL mode
    /// fails at once with SQLITE_BUSY. Nested calls use savepoints.
    public func transaction<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        if isInTransaction {
            return try savepoint(body)
        }
        try execute("BEGIN IMMEDIATE")
        let value: T
        do {
            value = try body()
            try execute("COMMIT")
        } catch {
            rollback()
            throw error
        }
        return value
    }

    private func savepoint<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "nanoedge_\(savepointDepth)"
        try execute("SAVEPOINT \(name)")
        do {
            let value = try body()
            try execute("RELEASE \(name)")
            return value
        } catch {
            if isInTransaction {
                try? execute("ROLLBACK TO \(name)")
                try? execute("RELEASE \(name)")
            }
            throw error
        }
    }

    private func rollback() {
        // Some errors (SQLITE_FULL, SQLITE_IOERR, …) already rolled the transaction back.
        if isInTransaction {
            try? execute("ROLLBACK")
        }
    }

    /// True inside an explicit transaction.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    // MARK: Facts about the connection

    /// The rowid of the last row inserted on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// How many rows the last INSERT, UPDATE or DELETE on this connection changed.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// `PRAGMA data_version`: changes when another connection commits, so a process can notice
    /// what a command-line tool wrote to the same file without reading it all again.
    public func dataVersion() throws(SQLiteError) -> Int64 {
        let rows = try query("PRAGMA data_version")
        return rows.first?.first?.integerValue ?? 0
    }

    /// `PRAGMA user_version`: the schema version that migrations keep.
    public func userVersion() throws(SQLiteError) -> Int {
        let rows = try query("PRAGMA user_version")
        return Int(rows.first?.first?.integerValue ?? 0)
    }

    public func setUserVersion(_ version: Int) throws(SQLiteError) {
        // PRAGMA takes no parameters, so the value goes into the text; it is an Int, not user text.
        try execute("PRAGMA user_version = \(version)")
    }
}

@available(*, unavailable, message: "a connection has a single owner; open another one per thread or process")
extension Database: Sendable {}
