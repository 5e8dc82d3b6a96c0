import CSQLite

/// A prepared statement. Parameter and column indexes follow SQLite: parameters from 1, columns from 0.
///
/// Reset a statement when done with it (the `Database` helpers do): a statement left mid-result keeps
/// its read transaction open, which pins an old snapshot and stops WAL checkpoints.
public final class Statement {
    let handle: OpaquePointer
    public let sql: String
    private let path: String

    init(handle: OpaquePointer, sql: String, path: String) {
        self.handle = handle
        self.sql = sql
        self.path = path
    }

    deinit {
        sqlite3_finalize(handle)
    }

    private func failure(_ code: Int32) -> SQLiteError {
        SQLiteError(code: code, connection: sqlite3_db_handle(handle), sql: sql, path: path)
    }

    // MARK: Binding

    public var parameterCount: Int { Int(sqlite3_bind_parameter_count(handle)) }

    /// Binds one parameter; `index` starts at 1.
    public func bind(_ value: SQLiteValue, at index: Int) throws(SQLiteError) {
        let position = Int32(index)
        let code: Int32
        switch value {
        case .null:
            code = sqlite3_bind_null(handle, position)
        case .integer(let number):
            code = sqlite3_bind_int64(handle, position, number)
        case .real(let number):
            code = sqlite3_bind_double(handle, position, number)
        case .text(let string):
            // withCString never hands out a null pointer, which SQLite would bind as NULL instead of "".
            code = string.withCString { pointer in
                sqlite3_bind_text(handle, position, pointer, Int32(string.utf8.count), nanoedge_sqlite_transient)
            }
        case .blob(let bytes):
            if bytes.isEmpty {
                // An empty array may have no storage, and a null pointer would bind NULL.
                code = sqlite3_bind_zeroblob(handle, position, 0)
            } else {
                code = bytes.withUnsafeBytes { buffer in
                    sqlite3_bind_blob(handle, position, buffer.baseAddress, Int32(buffer.count),
                                      nanoedge_sqlite_transient)
                }
            }
        }
        guard code == SQLITE_OK else { throw failure(code) }
    }

    /// Clears earlier bindings and binds `values` to parameters 1, 2, …
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        guard values.count == parameterCount else {
            throw SQLiteError(code: SQLITE_RANGE,
                              message: "\(values.count) values for \(parameterCount) parameters",
                              sql: sql, path: path)
        }
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            try bind(value, at: offset + 1)
        }
    }

    public func bind(_ values: SQLiteValue...) throws(SQLiteError) {
        try bind(values)
    }

    public func clearBindings() {
        sqlite3_clear_bindings(handle)
    }

    // MARK: Stepping

    /// Runs the statement to its next row. Returns true while a row is available, false when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        default:
            let error = failure(code)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Rewinds the statement so it can run again; bindings are kept.
    public func reset() {
        // The result code repeats the last step's error, which step() already reported.
        sqlite3_reset(handle)
    }

    /// True between a step that returned a row and the next reset.
    public var isBusy: Bool { sqlite3_stmt_busy(handle) != 0 }

    // MARK: Columns

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func columnName(_ index: Int) -> String {
        sqlite3_column_name(handle, Int32(index)).map { String(cString: $0) } ?? ""
    }

    public func isNull(_ index: Int) -> Bool {
        sqlite3_column_type(handle, Int32(index)) == SQLITE_NULL
    }

    public func int64(_ index: Int) -> Int64 {
        sqlite3_column_int64(handle, Int32(index))
    }

    public func double(_ index: Int) -> Double {
        sqlite3_column_double(handle, Int32(index))
    }

    public func text(_ index: Int) -> String {
        // Pointer first, then length: that is the order SQLite documents for a stable conversion.
        guard let pointer = sqlite3_column_text(handle, Int32(index)) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    public func blob(_ index: Int) -> [UInt8] {
        guard let pointer = sqlite3_column_blob(handle, Int32(index)) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public func optionalInt64(_ index: Int) -> Int64? {
        isNull(index) ? nil : int64(index)
    }

    public func optionalText(_ index: Int) -> String? {
        isNull(index) ? nil : text(index)
    }

    public func value(_ index: Int) -> SQLiteValue {
        switch sqlite3_column_type(handle, Int32(index)) {
        case SQLITE_INTEGER: .integer(int64(index))
        case SQLITE_FLOAT: .real(double(index))
        case SQLITE_TEXT: .text(text(index))
        case SQLITE_BLOB: .blob(blob(index))
        default: .null
        }
    }

    /// Every column of the current row.
    public func row() -> [SQLiteValue] {
        (0..<columnCount).map(value)
    }
}

@available(*, unavailable, message: "a statement belongs to its connection's single owner")
extension Statement: Sendable {}
