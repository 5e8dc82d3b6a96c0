import Site
import SQLite

/// A device known to the site: its DTLS credentials from provisioning and what it said when it registered.
public struct DeviceRecord: Sendable, Equatable {
    /// Also the device's DTLS PSK identity.
    public var id: String
    /// The DTLS pre-shared key.
    public var key: [UInt8]
    public var roles: [String]
    public var location: String
    public var board: String
    public var version: String
    /// Unix epoch milliseconds.
    public var lastSeen: Int64?
    public var registeredAt: Int64?

    public init(id: String, key: [UInt8], roles: [String], location: String, board: String = "",
                version: String = "", lastSeen: Int64? = nil, registeredAt: Int64? = nil) {
        self.id = id
        self.key = key
        self.roles = roles
        self.location = location
        self.board = board
        self.version = version
        self.lastSeen = lastSeen
        self.registeredAt = registeredAt
    }
}

/// An event a device reported. (device, epoch, seq) identifies it: a device starts a new epoch when it
/// loses its sequence counter (a reboot), so retransmissions of one event are recorded once.
public struct DeviceEventRecord: Sendable, Equatable {
    public var device: String
    public var epoch: String
    public var seq: Int64
    public var kind: String
    /// When it happened, by the device's clock (epoch ms).
    public var at: Int64
    /// JSON text.
    public var body: String
    /// When the gateway recorded it (epoch ms).
    public var receivedAt: Int64

    public init(device: String, epoch: String, seq: Int64, kind: String, at: Int64, body: String,
                receivedAt: Int64) {
        self.device = device
        self.epoch = epoch
        self.seq = seq
        self.kind = kind
        self.at = at
        self.body = body
        self.receivedAt = receivedAt
    }
}

/// A visit and the statuses it went through, oldest first.
public struct VisitSummary: Sendable, Equatable {
    public var id: Int64
    /// The entrance device that detected the visitor.
    public var device: String
    public var openedAt: Int64
    public var closedAt: Int64?
    public var person: String?
    public var meeting: String?
    public var room: String?
    public var statuses: [VisitStatus]

    public init(id: Int64, device: String, openedAt: Int64, closedAt: Int64? = nil, person: String? = nil,
                meeting: String? = nil, room: String? = nil, statuses: [VisitStatus] = []) {
        self.id = id
        self.device = device
        self.openedAt = openedAt
        self.closedAt = closedAt
        self.person = person
        self.meeting = meeting
        self.room = room
        self.statuses = statuses
    }

    public var isOpen: Bool { closedAt == nil }
}

/// Why a `SiteStore` call failed. New cases may be added, so match on the properties, not exhaustively.
public struct SiteStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Entity: String, Sendable {
        case device, person, tag, room, meeting, visit
    }

    private enum Code: Equatable, Sendable {
        case unknown(Entity, String)
        case duplicate(Entity, String)
        case unknownInvitee(person: String, meeting: String)
        case roomInUse(room: String, meetings: [String])
        case invalid(String)
        case schemaVersion(found: Int, supported: Int, readOnly: Bool)
        case corrupt(String)
        case database(SQLiteError)
    }

    private let code: Code

    private init(_ code: Code) { self.code = code }

    /// No `entity` with this id.
    public static func unknown(_ entity: Entity, _ id: String) -> Self { Self(.unknown(entity, id)) }
    /// An `entity` with this id already exists.
    public static func duplicate(_ entity: Entity, _ id: String) -> Self { Self(.duplicate(entity, id)) }
    /// A meeting invites a person who is not in the registry.
    public static func unknownInvitee(_ person: String, meeting: String) -> Self {
        Self(.unknownInvitee(person: person, meeting: meeting))
    }
    /// A room cannot be removed while meetings take place in it.
    public static func roomInUse(_ room: String, meetings: [String]) -> Self {
        Self(.roomInUse(room: room, meetings: meetings))
    }
    public static func invalid(_ reason: String) -> Self { Self(.invalid(reason)) }
    /// The file's schema is not the one this build uses (newer, e.g. after an OTA rollback).
    public static func schemaVersion(found: Int, supported: Int, readOnly: Bool = false) -> Self {
        Self(.schemaVersion(found: found, supported: supported, readOnly: readOnly))
    }
    public static func corrupt(_ reason: String) -> Self { Self(.corrupt(reason)) }
    public static func database(_ error: SQLiteError) -> Self { Self(.database(error)) }

    /// The id that was not found (for an API's 404).
    public var missingID: String? {
        switch code {
        case .unknown(_, let id), .unknownInvitee(let id, _): id
        default: nil
        }
    }

    /// The change conflicts with what is stored (for an API's 409).
    public var isConflict: Bool {
        switch code {
        case .duplicate, .roomInUse: true
        default: false
        }
    }

    /// The SQLite failure underneath, e.g. to tell a full disk (`isFull`) or a lock (`isBusy`).
    public var sqliteError: SQLiteError? {
        if case .database(let error) = code { return error }
        return nil
    }

    public var description: String {
        switch code {
        case .unknown(let entity, let id):
            "unknown \(entity.rawValue) \"\(id)\""
        case .duplicate(let entity, let id):
            "\(entity.rawValue) \"\(id)\" already exists"
        case .unknownInvitee(let person, let meeting):
            "meeting \"\(meeting)\" invites unknown person \"\(person)\""
        case .roomInUse(let room, let meetings):
            "room \"\(room)\" is still used by meetings \(meetings.map { "\"\($0)\"" }.joined(separator: ", "))"
        case .invalid(let reason):
            reason
        case .schemaVersion(let found, let supported, let readOnly):
            if found > supported {
                "the site database has schema version \(found), newer than this build supports (\(supported)); "
                    + "run the release that wrote it, or restore a backup"
            } else if readOnly {
                "the site database has schema version \(found) but this build needs \(supported); "
                    + "start the gateway once to migrate it"
            } else {
                "the site database has schema version \(found) but this build needs \(supported)"
            }
        case .corrupt(let reason):
            "the site database holds an invalid row: \(reason)"
        case .database(let error):
            error.description
        }
    }
}

/// The gateway's persistent state: device credentials, the registry, device events and visits.
///
/// One thread uses a store at a time (the gateway loop). Other processes, such as the CLI, open
/// their own store on the same file; WAL and the busy timeout of `Database` let them run side by side.
public final class SiteStore {
    let db: Database
    public var path: String { db.path }
    /// Migrations run by this open; 0 when the file was already current.
    public private(set) var migrationsApplied = 0

    /// The schema this build reads and writes: the number of migrations.
    public static var schemaVersion: Int { migrations.count }

    /// Opens the store at `path`, creating and migrating the schema unless `readOnly`.
    public init(path: String, readOnly: Bool = false) throws(SiteStoreError) {
        do {
            db = try Database(path: path, readOnly: readOnly)
        } catch {
            throw .database(error)
        }
        try migrate(readOnly: readOnly)
    }

    // MARK: Schema

    /// Append only: a released migration never changes, because files in the field already ran it.
    private static let migrations: [String] = [
        """
        CREATE TABLE devices (
            id TEXT PRIMARY KEY NOT NULL,
            key BLOB NOT NULL,
            location TEXT NOT NULL DEFAULT '',
            board TEXT NOT NULL DEFAULT '',
            version TEXT NOT NULL DEFAULT '',
            last_seen INTEGER,
            registered_at INTEGER
        ) STRICT;
        CREATE TABLE device_roles (
            device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (device, position)
        ) STRICT;

        CREATE TABLE persons (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL
        ) STRICT;
        CREATE TABLE tags (
            id TEXT PRIMARY KEY NOT NULL,
            person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            label TEXT NOT NULL DEFAULT ''
        ) STRICT;
        CREATE INDEX tags_person ON tags(person);
        CREATE TABLE rooms (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('entrance', 'corridor', 'meeting')),
            guidance TEXT NOT NULL CHECK (guidance IN ('forward', 'backward'))
        ) STRICT;
        CREATE TABLE meetings (
            id TEXT PRIMARY KEY NOT NULL,
            title TEXT NOT NULL,
            room TEXT NOT NULL REFERENCES rooms(id),
            starts_at INTEGER NOT NULL,
            ends_at INTEGER NOT NULL,
            content TEXT NOT NULL DEFAULT '',
            CHECK (ends_at >= starts_at)
        ) STRICT;
        CREATE INDEX meetings_room ON meetings(room);
        CREATE TABLE invitations (
            meeting TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            PRIMARY KEY (meeting, person)
        ) STRICT;
        CREATE INDEX invitations_person ON invitations(person);

        -- No foreign keys to devices: events are history and outlive a removed device.
        CREATE TABLE device_events (
            id INTEGER PRIMARY KEY,
            device TEXT NOT NULL,
            epoch TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            at INTEGER NOT NULL,
            body TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            UNIQUE (device, epoch, seq)
        ) STRICT;
        CREATE INDEX device_events_kind ON device_events(kind);

        -- Visits name persons, meetings and rooms without foreign keys, so history survives registry edits.
        -- AUTOINCREMENT keeps ids from being reused, which tailing the log relies on.
        CREATE TABLE visits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            device TEXT NOT NULL,
            opened_at INTEGER NOT NULL,
            closed_at INTEGER,
            person TEXT,
            meeting TEXT,
            room TEXT
        ) STRICT;
        CREATE INDEX visits_open ON visits(id) WHERE closed_at IS NULL;
        CREATE TABLE visit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            visit INTEGER NOT NULL REFERENCES visits(id),
            status TEXT NOT NULL,
            at INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        ) STRICT;
        CREATE INDEX visit_log_visit ON visit_log(visit, id);
        """,
        // 2: signed remote configs, and what each device reported applying.
        """
        CREATE TABLE remote_configs (
            role TEXT PRIMARY KEY NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            document TEXT NOT NULL,
            pushed_at INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE device_configs (
            device TEXT NOT NULL,
            role TEXT NOT NULL,
            version INTEGER NOT NULL,
            applied INTEGER NOT NULL,
            error TEXT NOT NULL DEFAULT '',
            reported_at INTEGER NOT NULL,
            PRIMARY KEY (device, role)
        ) STRICT;
        """,
    ]

    private func migrate(readOnly: Bool) throws(SiteStoreError) {
        let supported = SiteStore.schemaVersion
        let found = try sql { () throws(SQLiteError) in try db.userVersion() }
        if found == supported { return }
        if found > supported || found < 0 || readOnly {
            throw .schemaVersion(found: found, supported: supported, readOnly: readOnly)
        }
        // Read the version again under the write lock: another process may have migrated meanwhile.
        let result = try sql { () throws(SQLiteError) -> (found: Int, applied: Int) in
            try db.transaction { () throws(SQLiteError) -> (found: Int, applied: Int) in
                let current = try db.userVersion()
                guard (0..<supported).contains(current) else { return (current, 0) }
                for migration in SiteStore.migrations[current...] {
                    try db.execute(migration)
                }
                try db.setUserVersion(supported)
                return (current, supported - current)
            }
        }
        if result.found > supported || result.found < 0 {
            throw .schemaVersion(found: result.found, supported: supported)
        }
        migrationsApplied = result.applied
    }

    // MARK: Helpers

    func sql<T>(_ body: () throws(SQLiteError) -> T) throws(SiteStoreError) -> T {
        do {
            return try body()
        } catch {
            throw .database(error)
        }
    }

    func run(_ text: String, _ arguments: [SQLiteValue] = []) throws(SiteStoreError) {
        try sql { () throws(SQLiteError) in try db.run(text, arguments) }
    }

    func rows<T>(_ text: String, _ arguments: [SQLiteValue] = [],
                         _ decode: (Statement) throws(SiteStoreError) -> T) throws(SiteStoreError) -> [T] {
        let statement = try sql { () throws(SQLiteError) in try db.prepare(text) }
        defer { statement.reset() }
        try sql { () throws(SQLiteError) in try statement.bind(arguments) }
        var result: [T] = []
        while try sql({ () throws(SQLiteError) in try statement.step() }) {
            result.append(try decode(statement))
        }
        return result
    }

    private func exists(_ table: Table, _ id: String) throws(SQLiteError) -> Bool {
        try !db.query("SELECT 1 FROM \(table.rawValue) WHERE id = ?", [.text(id)]).isEmpty
    }

    private enum Table: String {
        case devices, persons, tags, rooms, meetings, visits
    }

    /// Turns a constraint failure into the registry error it means, by asking `explain` which row is
    /// missing or already there. The constraint is the check itself, so there is no race with the CLI;
    /// the explanation only runs after the change failed.
    private func failure(_ error: SQLiteError,
                         _ explain: () throws(SQLiteError) -> SiteStoreError?) -> SiteStoreError {
        guard error.isConstraintViolation, let specific = try? explain() else { return .database(error) }
        return specific
    }

    private func write<T>(_ body: () throws(SQLiteError) -> T,
                          explain: () throws(SQLiteError) -> SiteStoreError? = { nil }) throws(SiteStoreError) -> T {
        do {
            return try db.transaction(body)
        } catch {
            throw failure(error, explain)
        }
    }

    // MARK: Devices

    /// Creates a device or replaces its key, roles and location; what it reported at registration stays.
    public func provisionDevice(id: String, key: [UInt8], roles: [String], location: String) throws(SiteStoreError) {
        guard !key.isEmpty else { throw .invalid("device \"\(id)\" needs a non-empty key") }
        try write { () throws(SQLiteError) in
            try db.run("""
                INSERT INTO devices (id, key, location) VALUES (?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET key = excluded.key, location = excluded.location
                """, [.text(id), .blob(key), .text(location)])
            try replaceRoles(device: id, roles: roles)
        }
    }

    private func replaceRoles(device: String, roles: [String]) throws(SQLiteError) {
        try db.run("DELETE FROM device_roles WHERE device = ?", [.text(device)])
        for (position, role) in roles.enumerated() {
            try db.run("INSERT INTO device_roles (device, position, role) VALUES (?, ?, ?)",
                       [.text(device), .integer(Int64(position)), .text(role)])
        }
    }

    /// The DTLS PSK for a client's identity, or nil to refuse the handshake.
    public func deviceKey(identity: String) throws(SiteStoreError) -> [UInt8]? {
        try rows("SELECT key FROM devices WHERE id = ?", [.text(identity)]) { $0.blob(0) }.first
    }

    public func device(id: String) throws(SiteStoreError) -> DeviceRecord? {
        try devices(where: "WHERE id = ?", [.text(id)]).first
    }

    /// Every device, by id.
    public func devices() throws(SiteStoreError) -> [DeviceRecord] {
        try devices(where: "", [])
    }

    private func devices(where condition: String, _ arguments: [SQLiteValue]) throws(SiteStoreError) -> [DeviceRecord] {
        var records = try rows("""
            SELECT id, key, location, board, version, last_seen, registered_at FROM devices \(condition) ORDER BY id
            """, arguments) { row in
            DeviceRecord(id: row.text(0), key: row.blob(1), roles: [], location: row.text(2), board: row.text(3),
                         version: row.text(4), lastSeen: row.optionalInt64(5), registeredAt: row.optionalInt64(6))
        }
        for index in records.indices {
            records[index].roles = try rows("SELECT role FROM device_roles WHERE device = ? ORDER BY position",
                                            [.text(records[index].id)]) { $0.text(0) }
        }
        return records
    }

    public func removeDevice(id: String) throws(SiteStoreError) {
        try run("DELETE FROM devices WHERE id = ?", [.text(id)])
        guard db.changes > 0 else { throw .unknown(.device, id) }
    }

    /// Records what a provisioned device reported when it registered (board and version); it counts as
    /// seen at `at`. Roles and location are not among them: only provisioning sets those.
    public func recordRegistration(id: String, board: String, version: String, at: Int64) throws(SiteStoreError) {
        try run("""
            UPDATE devices SET board = ?, version = ?, registered_at = ?, last_seen = ? WHERE id = ?
            """, [.text(board), .text(version), .integer(at), .integer(at), .text(id)])
        guard db.changes > 0 else { throw .unknown(.device, id) }
    }

    /// Notes that the device was heard from at `at`.
    public func touch(id: String, at: Int64) throws(SiteStoreError) {
        try run("UPDATE devices SET last_seen = ? WHERE id = ?", [.integer(at), .text(id)])
        guard db.changes > 0 else { throw .unknown(.device, id) }
    }

    // MARK: Persons

    public func addPerson(_ person: Person) throws(SiteStoreError) {
        try write({ () throws(SQLiteError) in
            try db.run("INSERT INTO persons (id, name) VALUES (?, ?)", [.text(person.id), .text(person.name)])
        }, explain: { () throws(SQLiteError) in
            try exists(.persons, person.id) ? .duplicate(.person, person.id) : nil
        })
    }

    public func updatePerson(_ person: Person) throws(SiteStoreError) {
        try run("UPDATE persons SET name = ? WHERE id = ?", [.text(person.name), .text(person.id)])
        guard db.changes > 0 else { throw .unknown(.person, person.id) }
    }

    /// Removes the person with their tags and their invitations.
    public func removePerson(id: String) throws(SiteStoreError) {
        try run("DELETE FROM persons WHERE id = ?", [.text(id)])
        guard db.changes > 0 else { throw .unknown(.person, id) }
    }

    public func person(id: String) throws(SiteStoreError) -> Person? {
        try rows("SELECT id, name FROM persons WHERE id = ?", [.text(id)]) { row in
            Person(id: row.text(0), name: row.text(1))
        }.first
    }

    /// Every person, by id.
    public func persons() throws(SiteStoreError) -> [Person] {
        try rows("SELECT id, name FROM persons ORDER BY id") { row in
            Person(id: row.text(0), name: row.text(1))
        }
    }

    // MARK: Tags

    public func addTag(_ tag: Tag) throws(SiteStoreError) {
        try write({ () throws(SQLiteError) in
            try db.run("INSERT INTO tags (id, person, label) VALUES (?, ?, ?)",
                       [.text(tag.id), .text(tag.person), .text(tag.label)])
        }, explain: { () throws(SQLiteError) -> SiteStoreError? in
            if try exists(.tags, tag.id) { return .duplicate(.tag, tag.id) }
            if try !exists(.persons, tag.person) { return .unknown(.person, tag.person) }
            return nil
        })
    }

    public func removeTag(id: String) throws(SiteStoreError) {
        try run("DELETE FROM tags WHERE id = ?", [.text(id)])
        guard db.changes > 0 else { throw .unknown(.tag, id) }
    }

    public func tag(id: String) throws(SiteStoreError) -> Tag? {
        try rows("SELECT id, person, label FROM tags WHERE id = ?", [.text(id)]) { row in
            Tag(id: row.text(0), person: row.text(1), label: row.text(2))
        }.first
    }

    /// Every tag, by id.
    public func tags() throws(SiteStoreError) -> [Tag] {
        try rows("SELECT id, person, label FROM tags ORDER BY id") { row in
            Tag(id: row.text(0), person: row.text(1), label: row.text(2))
        }
    }

    /// The person who carries the tag, or nil for a tag the site does not know.
    public func person(forTag tagID: String) throws(SiteStoreError) -> Person? {
        try rows("SELECT p.id, p.name FROM tags t JOIN persons p ON p.id = t.person WHERE t.id = ?",
                 [.text(tagID)]) { row in
            Person(id: row.text(0), name: row.text(1))
        }.first
    }

    // MARK: Rooms

    public func addRoom(_ room: Room) throws(SiteStoreError) {
        try write({ () throws(SQLiteError) in
            try db.run("INSERT INTO rooms (id, name, kind, guidance) VALUES (?, ?, ?, ?)",
                       [.text(room.id), .text(room.name), .text(room.kind.rawValue), .text(room.guidance.rawValue)])
        }, explain: { () throws(SQLiteError) in
            try exists(.rooms, room.id) ? .duplicate(.room, room.id) : nil
        })
    }

    /// Removes a room that no meeting uses.
    public func removeRoom(id: String) throws(SiteStoreError) {
        try write({ () throws(SQLiteError) in
            try db.run("DELETE FROM rooms WHERE id = ?", [.text(id)])
        }, explain: { () throws(SQLiteError) -> SiteStoreError? in
            let meetings = try db.query("SELECT id FROM meetings WHERE room = ? ORDER BY id", [.text(id)])
                .compactMap { $0.first?.textValue }
            return meetings.isEmpty ? nil : .roomInUse(id, meetings: meetings)
        })
        guard db.changes > 0 else { throw .unknown(.room, id) }
    }

    public func room(id: String) throws(SiteStoreError) -> Room? {
        try rows("SELECT id, name, kind, guidance FROM rooms WHERE id = ?", [.text(id)], decodeRoom).first
    }

    /// Every room, by id.
    public func rooms() throws(SiteStoreError) -> [Room] {
        try rows("SELECT id, name, kind, guidance FROM rooms ORDER BY id", [], decodeRoom)
    }

    private func decodeRoom(_ row: Statement) throws(SiteStoreError) -> Room {
        let id = row.text(0)
        guard let kind = Room.Kind(rawValue: row.text(2)) else {
            throw .corrupt("room \"\(id)\" has kind \"\(row.text(2))\"")
        }
        guard let guidance = Room.Direction(rawValue: row.text(3)) else {
            throw .corrupt("room \"\(id)\" has guidance \"\(row.text(3))\"")
        }
        return Room(id: id, name: row.text(1), kind: kind, guidance: guidance)
    }

    // MARK: Meetings

    public func addMeeting(_ meeting: Meeting) throws(SiteStoreError) {
        try checkTimes(meeting)
        try write({ () throws(SQLiteError) in
            try db.run("""
                INSERT INTO meetings (id, title, room, starts_at, ends_at, content) VALUES (?, ?, ?, ?, ?, ?)
                """, [.text(meeting.id), .text(meeting.title), .text(meeting.room), .integer(meeting.startsAt),
                      .integer(meeting.endsAt), .text(meeting.content)])
            try insertInvitations(meeting)
        }, explain: { () throws(SQLiteError) -> SiteStoreError? in
            if try exists(.meetings, meeting.id) { return .duplicate(.meeting, meeting.id) }
            return try explainMeetingReferences(meeting)
        })
    }

    /// Replaces a meeting's title, room, times, content and invitees.
    public func updateMeeting(_ meeting: Meeting) throws(SiteStoreError) {
        try checkTimes(meeting)
        let found = try write({ () throws(SQLiteError) -> Bool in
            try db.run("""
                UPDATE meetings SET title = ?, room = ?, starts_at = ?, ends_at = ?, content = ? WHERE id = ?
                """, [.text(meeting.title), .text(meeting.room), .integer(meeting.startsAt),
                      .integer(meeting.endsAt), .text(meeting.content), .text(meeting.id)])
            guard db.changes > 0 else { return false }
            try db.run("DELETE FROM invitations WHERE meeting = ?", [.text(meeting.id)])
            try insertInvitations(meeting)
            return true
        }, explain: { () throws(SQLiteError) in
            try explainMeetingReferences(meeting)
        })
        guard found else { throw .unknown(.meeting, meeting.id) }
    }

    private func checkTimes(_ meeting: Meeting) throws(SiteStoreError) {
        guard meeting.endsAt >= meeting.startsAt else {
            throw .invalid("meeting \"\(meeting.id)\" ends (\(meeting.endsAt)) before it starts (\(meeting.startsAt))")
        }
    }

    private func insertInvitations(_ meeting: Meeting) throws(SQLiteError) {
        var seen: Set<String> = []
        var position: Int64 = 0
        for person in meeting.invitees where seen.insert(person).inserted {
            try db.run("INSERT INTO invitations (meeting, person, position) VALUES (?, ?, ?)",
                       [.text(meeting.id), .text(person), .integer(position)])
            position += 1
        }
    }

    private func explainMeetingReferences(_ meeting: Meeting) throws(SQLiteError) -> SiteStoreError? {
        if try !exists(.rooms, meeting.room) { return .unknown(.room, meeting.room) }
        for person in meeting.invitees where try !exists(.persons, person) {
            return .unknownInvitee(person, meeting: meeting.id)
        }
        return nil
    }

    public func removeMeeting(id: String) throws(SiteStoreError) {
        try run("DELETE FROM meetings WHERE id = ?", [.text(id)])
        guard db.changes > 0 else { throw .unknown(.meeting, id) }
    }

    public func meeting(id: String) throws(SiteStoreError) -> Meeting? {
        try meetings(from: "meetings m WHERE m.id = ?", [.text(id)]).first
    }

    /// Every meeting, by start time.
    public func meetings() throws(SiteStoreError) -> [Meeting] {
        try meetings(from: "meetings m", [])
    }

    /// The meetings `personID` is invited to that are current at `now` (see `Meeting.isCurrent(at:)`),
    /// by start time.
    public func currentMeetings(for personID: String, at now: Int64) throws(SiteStoreError) -> [Meeting] {
        // The SQL narrows by the same window so the index does the work; isCurrent stays the rule.
        let (latestStart, overflow) = now.addingReportingOverflow(Meeting.arrivalSlackMilliseconds)
        let candidates = try meetings(from: """
            meetings m JOIN invitations i ON i.meeting = m.id
            WHERE i.person = ? AND m.ends_at >= ? AND m.starts_at <= ?
            """, [.text(personID), .integer(now), .integer(overflow ? .max : latestStart)])
        return candidates.filter { $0.isCurrent(at: now) }
    }

    private func meetings(from source: String, _ arguments: [SQLiteValue]) throws(SiteStoreError) -> [Meeting] {
        var meetings = try rows("""
            SELECT m.id, m.title, m.room, m.starts_at, m.ends_at, m.content FROM \(source)
            ORDER BY m.starts_at, m.id
            """, arguments) { row in
            Meeting(id: row.text(0), title: row.text(1), room: row.text(2), startsAt: row.int64(3),
                    endsAt: row.int64(4), invitees: [], content: row.text(5))
        }
        for index in meetings.indices {
            meetings[index].invitees = try rows(
                "SELECT person FROM invitations WHERE meeting = ? ORDER BY position",
                [.text(meetings[index].id)]) { $0.text(0) }
        }
        return meetings
    }

    // MARK: Device events

    /// Records the event unless (device, epoch, seq) is already recorded. Returns whether it was new,
    /// so a retransmitted event is acknowledged again but acted on once.
    @discardableResult
    public func appendDeviceEvent(_ event: DeviceEventRecord) throws(SiteStoreError) -> Bool {
        try run("""
            INSERT INTO device_events (device, epoch, seq, kind, at, body, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (device, epoch, seq) DO NOTHING
            """, [.text(event.device), .text(event.epoch), .integer(event.seq), .text(event.kind),
                  .integer(event.at), .text(event.body), .integer(event.receivedAt)])
        return db.changes > 0
    }

    /// Recorded events in arrival order, optionally only one device's or one kind's.
    public func deviceEvents(device: String? = nil, kind: String? = nil) throws(SiteStoreError) -> [DeviceEventRecord] {
        var conditions: [String] = []
        var arguments: [SQLiteValue] = []
        if let device {
            conditions.append("device = ?")
            arguments.append(.text(device))
        }
        if let kind {
            conditions.append("kind = ?")
            arguments.append(.text(kind))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try rows("""
            SELECT device, epoch, seq, kind, at, body, received_at FROM device_events \(filter) ORDER BY id
            """, arguments) { row in
            DeviceEventRecord(device: row.text(0), epoch: row.text(1), seq: row.int64(2), kind: row.text(3),
                              at: row.int64(4), body: row.text(5), receivedAt: row.int64(6))
        }
    }

    /// The highest sequence number recorded for the device in this epoch.
    public func lastSeq(device: String, epoch: String) throws(SiteStoreError) -> Int64? {
        try rows("SELECT max(seq) FROM device_events WHERE device = ? AND epoch = ?",
                 [.text(device), .text(epoch)]) { $0.optionalInt64(0) }.first ?? nil
    }

    // MARK: Visits

    /// Opens a visit detected by the entrance `device`; returns its id.
    public func createVisit(device: String, at: Int64) throws(SiteStoreError) -> Int64 {
        try run("INSERT INTO visits (device, opened_at) VALUES (?, ?)", [.text(device), .integer(at)])
        return db.lastInsertRowID
    }

    /// Opens a visit under an id chosen by the caller (the scenario numbers its visits).
    public func createVisit(id: Int64, device: String, at: Int64) throws(SiteStoreError) {
        try run("INSERT INTO visits (id, device, opened_at) VALUES (?, ?, ?)", [.integer(id), .text(device), .integer(at)])
    }

    /// The highest visit id so far (0 when there is none).
    public func lastVisitID() throws(SiteStoreError) -> Int64 {
        try rows("SELECT coalesce(max(id), 0) FROM visits", []) { $0.int64(0) }.first ?? 0
    }

    /// Sets what the visit has learned so far; a nil argument keeps the stored value.
    public func updateVisit(id: Int64, person: String? = nil, meeting: String? = nil,
                            room: String? = nil) throws(SiteStoreError) {
        try run("""
            UPDATE visits SET person = coalesce(?, person), meeting = coalesce(?, meeting), room = coalesce(?, room)
            WHERE id = ?
            """, [SQLiteValue(person), SQLiteValue(meeting), SQLiteValue(room), .integer(id)])
        guard db.changes > 0 else { throw .unknown(.visit, String(id)) }
    }

    /// Closes the visit; closing it again keeps the first closing time.
    public func closeVisit(id: Int64, at: Int64) throws(SiteStoreError) {
        try run("UPDATE visits SET closed_at = coalesce(closed_at, ?) WHERE id = ?", [.integer(at), .integer(id)])
        guard db.changes > 0 else { throw .unknown(.visit, String(id)) }
    }

    /// Appends a status to the visit's log; returns the entry's id, which only grows.
    @discardableResult
    public func appendVisitLog(_ entry: VisitLogEntry) throws(SiteStoreError) -> Int64 {
        try write({ () throws(SQLiteError) -> Int64 in
            try db.run("INSERT INTO visit_log (visit, status, at, detail) VALUES (?, ?, ?, ?)",
                       [.integer(entry.visit), .text(entry.status.description), .integer(entry.at),
                        .text(entry.detail)])
            return db.lastInsertRowID
        }, explain: { () throws(SQLiteError) -> SiteStoreError? in
            try db.query("SELECT 1 FROM visits WHERE id = ?", [.integer(entry.visit)]).isEmpty
                ? .unknown(.visit, String(entry.visit)) : nil
        })
    }

    /// The visit's log, oldest first.
    public func visitLog(visit: Int64) throws(SiteStoreError) -> [VisitLogEntry] {
        try rows("SELECT visit, status, at, detail FROM visit_log WHERE visit = ? ORDER BY id",
                 [.integer(visit)], decodeLogEntry)
    }

    /// Log entries of every visit with an id above `entryID`, oldest first; pass the last id seen to tail.
    public func visitLog(after entryID: Int64 = 0) throws(SiteStoreError) -> [(id: Int64, entry: VisitLogEntry)] {
        try rows("SELECT id, visit, status, at, detail FROM visit_log WHERE id > ? ORDER BY id",
                 [.integer(entryID)]) { row throws(SiteStoreError) in
            (row.int64(0), try decodeLogEntry(row, from: 1))
        }
    }

    private func decodeLogEntry(_ row: Statement) throws(SiteStoreError) -> VisitLogEntry {
        try decodeLogEntry(row, from: 0)
    }

    private func decodeLogEntry(_ row: Statement, from first: Int) throws(SiteStoreError) -> VisitLogEntry {
        let text = row.text(first + 1)
        guard let status = VisitStatus(text) else {
            throw .corrupt("visit \(row.int64(first)) has status \"\(text)\"")
        }
        return VisitLogEntry(visit: row.int64(first), status: status, at: row.int64(first + 2),
                             detail: row.text(first + 3))
    }

    public func visit(id: Int64) throws(SiteStoreError) -> VisitSummary? {
        try visits(where: "WHERE id = ?", [.integer(id)]).first
    }

    /// Every visit, oldest first.
    public func visits() throws(SiteStoreError) -> [VisitSummary] {
        try visits(where: "", [])
    }

    /// Visits opened in [since, until), oldest first, for export.
    public func visits(openedFrom since: Int64, until: Int64) throws(SiteStoreError) -> [VisitSummary] {
        try visits(where: "WHERE opened_at >= ? AND opened_at < ?", [.integer(since), .integer(until)])
    }

    /// Device events of `kinds` that happened in [since, until) by the device's clock, with their row
    /// ids (a cursor for streaming: pass the last id as `afterID`).
    public func deviceEvents(kinds: [String], since: Int64, until: Int64,
                             afterID: Int64 = 0) throws(SiteStoreError) -> [(id: Int64, event: DeviceEventRecord)] {
        let marks = kinds.map { _ in "?" }.joined(separator: ", ")
        return try rows("""
            SELECT id, device, epoch, seq, kind, at, body, received_at FROM device_events
            WHERE kind IN (\(marks)) AND at >= ? AND at < ? AND id > ? ORDER BY id
            """, kinds.map { .text($0) } + [.integer(since), .integer(until), .integer(afterID)]) { row in
            (row.int64(0), DeviceEventRecord(device: row.text(1), epoch: row.text(2), seq: row.int64(3),
                                             kind: row.text(4), at: row.int64(5), body: row.text(6),
                                             receivedAt: row.int64(7)))
        }
    }

    /// Visits not closed yet, oldest first.
    public func openVisits() throws(SiteStoreError) -> [VisitSummary] {
        try visits(where: "WHERE closed_at IS NULL", [])
    }

    private func visits(where condition: String, _ arguments: [SQLiteValue]) throws(SiteStoreError) -> [VisitSummary] {
        var visits = try rows("""
            SELECT id, device, opened_at, closed_at, person, meeting, room FROM visits \(condition) ORDER BY id
            """, arguments) { row in
            VisitSummary(id: row.int64(0), device: row.text(1), openedAt: row.int64(2),
                         closedAt: row.optionalInt64(3), person: row.optionalText(4),
                         meeting: row.optionalText(5), room: row.optionalText(6))
        }
        for index in visits.indices {
            visits[index].statuses = try visitLog(visit: visits[index].id).map(\.status)
        }
        return visits
    }
}

@available(*, unavailable, message: "a store has a single owner; another thread or process opens its own")
extension SiteStore: Sendable {}
