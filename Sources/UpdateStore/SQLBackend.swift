import Postgres
import SQLite

/// A value bound to, or read from, either database.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case text(String)

    init(_ text: String?) { self = text.map { .text($0) } ?? .null }
    init(_ int: Int64?) { self = int.map { .int($0) } ?? .null }
}

/// One row; PostgreSQL hands integers back as text, so the accessors convert.
public struct SQLRow: Sendable {
    let values: [SQLValue]

    func text(_ index: Int) -> String {
        switch values[index] {
        case .text(let text): text
        case .int(let value): String(value)
        case .null: ""
        }
    }

    func optionalText(_ index: Int) -> String? {
        if case .null = values[index] { return nil }
        return text(index)
    }

    func int(_ index: Int) -> Int64 { optionalInt(index) ?? 0 }

    func optionalInt(_ index: Int) -> Int64? {
        switch values[index] {
        case .int(let value): value
        case .text(let text): Int64(text)
        case .null: nil
        }
    }
}

/// Which SQL the store speaks.
public enum SQLDialect: Sendable {
    case sqlite
    case postgres
}

/// The little the store needs from a database: statements with `?` parameters, scripts and
/// transactions. One store runs on either backend, so both are tested by the same tests.
public protocol SQLBackend: AnyObject {
    var dialect: SQLDialect { get }
    /// A description for messages (the SQLite path or the PostgreSQL URL without its password).
    var location: String { get }
    func execute(script: String) throws(StoreError)
    func rows(_ sql: String, _ arguments: [SQLValue]) throws(StoreError) -> [SQLRow]
    /// Runs `body` in a transaction that holds the write lock (SQLite) or that may lock rows with
    /// `FOR UPDATE` (PostgreSQL); rolled back if it throws.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T
}

// MARK: SQLite

public final class SQLiteBackend: SQLBackend {
    let database: Database
    public let dialect = SQLDialect.sqlite
    public var location: String { database.path }

    public init(path: String) throws(StoreError) {
        do {
            database = try Database(path: path)
            // Check-ins are repeated by every device every few minutes; losing the last ones in a
            // power cut costs nothing, while an fsync per check-in costs most of the throughput.
            // Releases and deployments are still atomic and crash-safe (WAL).
            try database.execute("PRAGMA synchronous = NORMAL")
        } catch {
            throw StoreError(.database, "cannot open the update server's database: \(error)")
        }
    }

    public func execute(script: String) throws(StoreError) {
        do { try database.execute(script) } catch { throw Self.wrap(error) }
    }

    public func rows(_ sql: String, _ arguments: [SQLValue]) throws(StoreError) -> [SQLRow] {
        let bound: [SQLiteValue] = arguments.map { value in
            switch value {
            case .null: .null
            case .int(let number): .integer(number)
            case .text(let text): .text(text)
            }
        }
        do {
            return try database.query(sql, bound).map { row in
                SQLRow(values: row.map { value in
                    switch value {
                    case .null: .null
                    case .integer(let number): .int(number)
                    case .text(let text): .text(text)
                    case .real(let number): .int(Int64(number))
                    case .blob(let bytes): .text(String(decoding: bytes, as: UTF8.self))
                    }
                })
            }
        } catch {
            throw Self.wrap(error)
        }
    }

    /// BEGIN IMMEDIATE: the write lock is taken first (waiting up to the busy timeout), so two
    /// connections cannot both read and then both write.
    public func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        if database.isInTransaction { return try body() }
        try execute(script: "BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute(script: "COMMIT")
            return value
        } catch {
            if database.isInTransaction { try? execute(script: "ROLLBACK") }
            throw error
        }
    }

    static func wrap(_ error: SQLiteError) -> StoreError {
        if error.isUniqueViolation { return StoreError(.conflict, "already exists (\(error.message))") }
        if error.isForeignKeyViolation { return StoreError(.notFound, "refers to something that does not exist (\(error.message))") }
        return StoreError(.database, "SQLite: \(error)", retryable: error.isBusy)
    }
}

// MARK: PostgreSQL

public final class PostgresBackend: SQLBackend {
    let connection: PostgresConnection
    public let dialect = SQLDialect.postgres
    public var location: String { connection.displayName }
    private var inTransaction = false

    public init(url: String) throws(StoreError) {
        do {
            connection = try PostgresConnection(url: url)
        } catch {
            throw StoreError(.database, error.description, retryable: true)
        }
    }

    public func execute(script: String) throws(StoreError) {
        do { try connection.execute(script) } catch { throw Self.wrap(error) }
    }

    public func rows(_ sql: String, _ arguments: [SQLValue]) throws(StoreError) -> [SQLRow] {
        let parameters: [PostgresValue] = arguments.map { value in
            switch value {
            case .null: .null
            case .int(let number): .integer(number)
            case .text(let text): .text(text)
            }
        }
        do {
            return try connection.query(Self.numberedParameters(sql), parameters).map { row in
                SQLRow(values: row.fields.map { $0.map { .text($0) } ?? .null })
            }
        } catch {
            throw Self.wrap(error)
        }
    }

    /// READ COMMITTED with explicit `FOR UPDATE` locks where the store reads before it writes; a
    /// deadlock or serialization failure is retried a few times.
    public func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        if inTransaction { return try body() }
        var attempt = 0
        while true {
            attempt += 1
            try execute(script: "BEGIN")
            inTransaction = true
            do {
                let value = try body()
                try execute(script: "COMMIT")
                inTransaction = false
                return value
            } catch {
                inTransaction = false
                try? execute(script: "ROLLBACK")
                if error.isRetryable, attempt < 5, connection.isOK { continue }
                throw error
            }
        }
    }

    /// `?` → `$1`, `$2`, … outside quoted text.
    static func numberedParameters(_ sql: String) -> String {
        var out = ""
        var number = 0
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == "?", !quoted {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }

    static func wrap(_ error: PostgresError) -> StoreError {
        if error.isUniqueViolation { return StoreError(.conflict, "already exists (\(error.message))") }
        if error.isForeignKeyViolation { return StoreError(.notFound, "refers to something that does not exist (\(error.message))") }
        return StoreError(.database, "PostgreSQL: \(error)", retryable: error.isRetryable || error.isConnectionFailure)
    }
}
