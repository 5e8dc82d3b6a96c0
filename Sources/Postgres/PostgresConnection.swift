import CPostgres

#if canImport(Glibc)
import Glibc
#endif

/// A value as a query parameter or a result field. Parameters and results travel in libpq's text
/// format; integers and byte strings are converted here.
public enum PostgresValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)

    public var text: String? {
        switch self {
        case .null: nil
        case .integer(let value): String(value)
        case .text(let value): value
        }
    }
}

/// One row of a result: text fields, nil for NULL.
public struct PostgresRow: Sendable, Hashable {
    public let fields: [String?]

    public func text(_ index: Int) -> String? { fields[index] }
    public func int(_ index: Int) -> Int64? { fields[index].flatMap { Int64($0) } }
}

/// A notification delivered to a connection that LISTENs on its channel.
public struct PostgresNotification: Sendable, Hashable {
    public let channel: String
    public let payload: String
    /// The backend process that sent it.
    public let senderPID: Int32
}

/// One libpq connection, owned by one thread at a time (libpq connections are not thread-safe).
public final class PostgresConnection {
    let raw: OpaquePointer
    /// The connection string without its password, for messages.
    public let displayName: String

    /// Connects with a `postgres://user:password@host:port/database?…` URL or a `key=value` string.
    public init(url: String) throws(PostgresError) {
        displayName = PostgresConnection.redact(url)
        guard let connection = PQconnectdb(url) else {
            throw PostgresError(sqlState: nil, message: "libpq could not allocate a connection (out of memory?)")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = PostgresConnection.errorMessage(connection)
            PQfinish(connection)
            throw PostgresError(sqlState: nil, message: "cannot connect to PostgreSQL at \(displayName): \(message)")
        }
        raw = connection
        // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
        PQsetNoticeProcessor(raw, { _, _ in }, nil)
    }

    deinit { PQfinish(raw) }

    /// The socket, for waiting on notifications with poll(2).
    public var socket: Int32 { PQsocket(raw) }

    /// The backend process id, to recognise one's own notifications.
    public var backendPID: Int32 { PQbackendPID(raw) }

    /// True while the connection is usable.
    public var isOK: Bool { PQstatus(raw) == CONNECTION_OK }

    /// Runs a script of one or more statements without parameters, discarding rows.
    public func execute(_ sql: String) throws(PostgresError) {
        let result = PQexec(raw, sql)
        defer { PQclear(result) }
        try check(result, sql: sql)
    }

    /// Runs one statement with `$1`, `$2`, … parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError) -> [PostgresRow] {
        let texts = parameters.map(\.text)
        // strdup'd C strings: libpq reads them during the call only.
        let pointers: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
        defer { for pointer in pointers { free(pointer) } }
        let result = pointers.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(1, buffer.count)) { values in
                PQexecParams(raw, sql, Int32(parameters.count), nil, parameters.isEmpty ? nil : values, nil, nil, 0)
            }
        }
        defer { PQclear(result) }
        try check(result, sql: sql)
        guard let result, PQresultStatus(result) == PGRES_TUPLES_OK else { return [] }
        let rows = Int(PQntuples(result))
        let columns = Int(PQnfields(result))
        var out: [PostgresRow] = []
        out.reserveCapacity(rows)
        for row in 0..<rows {
            var fields: [String?] = []
            fields.reserveCapacity(columns)
            for column in 0..<columns {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    fields.append(nil)
                } else {
                    fields.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            out.append(PostgresRow(fields: fields))
        }
        return out
    }

    /// Reads whatever arrived on the socket and returns the notifications in it. Call when the
    /// socket is readable; throws when the connection broke.
    public func notifications() throws(PostgresError) -> [PostgresNotification] {
        guard PQconsumeInput(raw) != 0 else {
            throw PostgresError(sqlState: nil, message: "lost the PostgreSQL connection: \(PostgresConnection.errorMessage(raw))")
        }
        var out: [PostgresNotification] = []
        while let notify = PQnotifies(raw) {
            out.append(PostgresNotification(channel: String(cString: notify.pointee.relname),
                                            payload: String(cString: notify.pointee.extra),
                                            senderPID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return out
    }

    /// Quotes an identifier (a channel or table name) for SQL text.
    public func quoteIdentifier(_ name: String) -> String {
        guard let quoted = PQescapeIdentifier(raw, name, name.utf8.count) else { return "\"\"" }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    private func check(_ result: OpaquePointer?, sql: String) throws(PostgresError) {
        guard let result else {
            throw PostgresError(sqlState: nil, message: PostgresConnection.errorMessage(raw), sql: sql)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return
        default:
            let state = nanoedge_pq_sqlstate(result).map { String(cString: $0) }
            var message = String(cString: PQresultErrorMessage(result))
            while message.last == "\n" { message.removeLast() }
            if let detail = nanoedge_pq_detail(result).map({ String(cString: $0) }), !detail.isEmpty {
                message += " (\(detail))"
            }
            throw PostgresError(sqlState: state, message: message, sql: sql)
        }
    }

    private static func errorMessage(_ connection: OpaquePointer) -> String {
        guard let text = PQerrorMessage(connection) else { return "unknown error" }
        var message = String(cString: text)
        while message.last == "\n" { message.removeLast() }
        return message
    }

    /// Drops the password from a URL (`postgres://user:secret@host` → `postgres://user@host`).
    static func redact(_ url: String) -> String {
        let bytes = Array(url.utf8)
        let marker = Array("://".utf8)
        guard let schemeEnd = (0..<max(0, bytes.count - 2)).first(where: { Array(bytes[$0..<$0 + 3]) == marker }) else {
            return url
        }
        let start = schemeEnd + 3
        guard let at = bytes[start...].firstIndex(of: UInt8(ascii: "@")),
              let colon = bytes[start..<at].firstIndex(of: UInt8(ascii: ":")) else { return url }
        return String(decoding: bytes[..<colon] + bytes[at...], as: UTF8.self)
    }

}

@available(*, unavailable, message: "a libpq connection has a single owner; open one per thread")
extension PostgresConnection: Sendable {}
