import Foundation
import Gateway
import SQLite
import Testing

/// A directory under the system temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nanoedge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite struct SQLiteTests {
    let directory: TemporaryDirectory
    let db: Database

    init() throws {
        directory = try TemporaryDirectory()
        db = try Database(path: directory.file("test.db"))
    }

    static let values: [SQLiteValue] = [
        .null,
        .integer(0), .integer(.min), .integer(.max),
        .real(3.25), .real(-1e300),
        .text(""), .text("Grüße 🌍"), .text("a\u{0}b"),
        .blob([]), .blob([0, 1, 0x7F, 0xFF]),
    ]

    @Test(arguments: values)
    func bindAndReadBack(value: SQLiteValue) throws {
        try db.execute("CREATE TABLE t (v ANY) STRICT")
        try db.run("INSERT INTO t (v) VALUES (?)", [value])
        let statement = try db.prepare("SELECT v FROM t")
        defer { statement.reset() }
        #expect(try statement.step())
        #expect(statement.value(0) == value)
        #expect(statement.isNull(0) == value.isNull)
        switch value {
        case .null: break
        case .integer(let number): #expect(statement.int64(0) == number)
        case .real(let number): #expect(statement.double(0) == number)
        case .text(let string): #expect(statement.text(0) == string)
        case .blob(let bytes): #expect(statement.blob(0) == bytes)
        }
        #expect(try !statement.step())
    }

    @Test func bindsVariadicallyAndByIndex() throws {
        let statement = try db.prepare("SELECT ?, ?, ?")
        try statement.bind(1, "two", 3.5)
        #expect(try statement.step())
        #expect(statement.row() == [.integer(1), .text("two"), .real(3.5)])
        statement.reset()
        try statement.bind(.blob([9]), at: 2)
        #expect(try statement.step())
        #expect(statement.row() == [.integer(1), .blob([9]), .real(3.5)])
        statement.reset()
        #expect(throws: SQLiteError.self) { try statement.bind([1]) }
        #expect(throws: SQLiteError.self) { try statement.bind(.null, at: 4) }
    }

    @Test func queryReturnsRowsAndOptionalReaders() throws {
        try db.execute("""
            CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
            INSERT INTO t (name) VALUES ('a'), (NULL);
            """)
        #expect(try db.query("SELECT id, name FROM t ORDER BY id") == [[1, "a"], [2, .null]])
        #expect(try db.query("SELECT name FROM t WHERE id = ?", [2]) == [[.null]])
        var names: [String?] = []
        try db.forEachRow("SELECT name FROM t ORDER BY id") { row in
            names.append(row.optionalText(0))
        }
        #expect(names == ["a", nil])
    }

    @Test func transactionCommitsAndReturnsTheValue() throws {
        try db.execute("CREATE TABLE t (v INTEGER)")
        let id = try db.transaction { () throws(SQLiteError) -> Int64 in
            try db.run("INSERT INTO t (v) VALUES (1)")
            return db.lastInsertRowID
        }
        #expect(id == 1)
        #expect(!db.isInTransaction)
        #expect(try db.query("SELECT count(*) FROM t") == [[1]])
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        try db.execute("CREATE TABLE t (v INTEGER UNIQUE)")
        #expect(throws: SQLiteError.self) {
            try db.transaction { () throws(SQLiteError) in
                try db.run("INSERT INTO t (v) VALUES (1)")
                try db.run("INSERT INTO t (v) VALUES (1)")
            }
        }
        #expect(!db.isInTransaction)
        #expect(try db.query("SELECT count(*) FROM t") == [[0]])
    }

    @Test func nestedTransactionRollsBackOnlyItsOwnChanges() throws {
        try db.execute("CREATE TABLE t (v INTEGER UNIQUE)")
        try db.transaction { () throws(SQLiteError) in
            try db.run("INSERT INTO t (v) VALUES (1)")
            do throws(SQLiteError) {
                try db.transaction { () throws(SQLiteError) in
                    try db.run("INSERT INTO t (v) VALUES (2)")
                    try db.run("INSERT INTO t (v) VALUES (1)")
                }
                Issue.record("the inner transaction should have failed")
            } catch {
                #expect(error.isConstraintViolation)
            }
            #expect(db.isInTransaction)
        }
        #expect(try db.query("SELECT v FROM t") == [[1]])
    }

    @Test func constraintViolationsAreRecognised() throws {
        try db.execute("""
            CREATE TABLE parent (id TEXT PRIMARY KEY);
            CREATE TABLE child (parent TEXT REFERENCES parent(id));
            INSERT INTO parent VALUES ('p');
            """)
        let insert = "INSERT INTO parent VALUES ('p')"
        do {
            try db.run(insert)
            Issue.record("duplicate key accepted")
        } catch {
            #expect(error.isConstraintViolation)
            #expect(error.isUniqueViolation)
            #expect(!error.isForeignKeyViolation)
            #expect(error.sql == insert)
            #expect(error.description.contains("UNIQUE constraint failed: parent.id"))
            #expect(error.description.contains(insert))
        }
        // Foreign keys are on for every connection.
        do {
            try db.run("INSERT INTO child VALUES ('missing')")
            Issue.record("dangling reference accepted")
        } catch {
            #expect(error.isConstraintViolation)
            #expect(error.isForeignKeyViolation)
        }
    }

    @Test func preparedStatementsAreCachedBySQL() throws {
        let first = try db.prepare("SELECT 1")
        let second = try db.prepare("SELECT 1")
        #expect(first === second)
        #expect(db.cachedStatementCount == 1)
        _ = try db.prepare("SELECT 2")
        #expect(db.cachedStatementCount == 2)
        // A reused statement comes back without old bindings.
        let bound = try db.prepare("SELECT ?")
        try bound.bind(7)
        #expect(try bound.step())
        bound.reset()
        let again = try db.prepare("SELECT ?")
        #expect(again === bound)
        #expect(try again.step())
        #expect(again.isNull(0))
        // While it is still in the middle of a result, a separate statement is handed out.
        let meanwhile = try db.prepare("SELECT ?")
        #expect(meanwhile !== again)
        again.reset()
        #expect(try db.prepare("SELECT ?") === again)
    }

    @Test func nestedUseOfTheSameSQLDoesNotDisturbTheOuterIteration() throws {
        try db.execute("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3);")
        var pairs: [[Int64]] = []
        try db.forEachRow("SELECT v FROM t ORDER BY v") { outer throws(SQLiteError) in
            let inner = try db.query("SELECT v FROM t ORDER BY v").map { $0[0].integerValue! }
            pairs.append([outer.int64(0)] + inner)
        }
        #expect(pairs == [[1, 1, 2, 3], [2, 1, 2, 3], [3, 1, 2, 3]])
    }

    @Test func prepareRejectsMoreThanOneStatement() throws {
        #expect(throws: SQLiteError.self) { try db.prepare("SELECT 1; SELECT 2") }
        _ = try db.prepare("SELECT 1; -- only a comment follows")
    }

    @Test func missingDirectoryGivesAReadableError() throws {
        let path = directory.file("missing/site.db")
        do {
            _ = try Database(path: path)
            Issue.record("opened \(path)")
        } catch {
            #expect(error.isCannotOpen)
            #expect(error.description.contains("cannot open database \(path)"))
            #expect(error.description.contains("directory \(directory.file("missing")) does not exist"))
        }
    }

    @Test func readOnlyConnectionCannotWrite() throws {
        try db.execute("CREATE TABLE t (v INTEGER)")
        let reader = try Database(path: db.path, readOnly: true)
        #expect(try reader.query("SELECT count(*) FROM t") == [[0]])
        do {
            try reader.run("INSERT INTO t VALUES (1)")
            Issue.record("wrote through a read-only connection")
        } catch {
            #expect(error.isReadOnly)
        }
    }

    @Test func userVersionChangesAndRowCounts() throws {
        #expect(try db.userVersion() == 0)
        try db.setUserVersion(3)
        #expect(try db.userVersion() == 3)
        #expect(try db.query("PRAGMA journal_mode") == [["wal"]])
        try db.execute("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2);")
        #expect(db.lastInsertRowID == 2)
        try db.run("UPDATE t SET v = v + 1")
        #expect(db.changes == 2)
    }

    @Test func lockHeldByAnotherConnectionIsBusy() throws {
        try db.execute("CREATE TABLE t (v INTEGER)")
        let other = try Database(path: db.path)
        try other.execute("PRAGMA busy_timeout = 0")
        try db.execute("BEGIN IMMEDIATE")
        defer { try? db.execute("ROLLBACK") }
        do {
            try other.run("INSERT INTO t VALUES (1)")
            Issue.record("two writers at once")
        } catch {
            #expect(error.isBusy)
        }
    }

    @Test func fullDatabaseSaysSo() throws {
        try db.execute("CREATE TABLE t (v BLOB)")
        let pages = try db.query("PRAGMA page_count")[0][0].integerValue!
        try db.execute("PRAGMA max_page_count = \(pages + 1)")
        do {
            try db.run("INSERT INTO t VALUES (?)", [.blob(Array(repeating: 1, count: 64 * 1024))])
            Issue.record("inserted past max_page_count")
        } catch {
            #expect(error.isFull)
            #expect(error.description.hasPrefix("the disk is full: free space on"))
            #expect(error.description.contains(db.path))
        }
    }
}

/// The mode bits of a file, or nil if it is missing.
func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
}

/// Databases hold device keys and tokens: nobody but the owner (and a group the site chose) may read them.
@Suite struct DatabaseModeTests {
    @Test func aNewDatabaseAndItsWALAndSHMAre0600() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("state.db")
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t (x INTEGER)")
        try db.execute("INSERT INTO t VALUES (1)")
        #expect(fileMode(path) == 0o600)
        #expect(fileMode(path + "-wal") == 0o600)
        #expect(fileMode(path + "-shm") == 0o600)
    }

    @Test func anExistingDatabaseLosesWhatOthersCouldReadAndKeepsItsGroup() throws {
        let directory = try TemporaryDirectory()
        let open = directory.file("open.db")
        let grouped = directory.file("grouped.db")
        for (path, mode) in [(open, mode_t(0o644)), (grouped, 0o640)] {
            _ = try Database(path: path)
            chmod(path, mode)
        }
        _ = try Database(path: open)
        _ = try Database(path: grouped)
        #expect(fileMode(open) == 0o640)
        #expect(fileMode(grouped) == 0o640)
    }

    @Test func theSiteStoreIsCreated0600() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("site.db")
        let store = try SiteStore(path: path)
        try store.provisionDevice(id: "pi-1", key: Array(repeating: 1, count: 32), roles: ["presence"], location: "entrance")
        #expect(fileMode(path) == 0o600)
        #expect(fileMode(path + "-wal") == 0o600)
    }
}
