import Gateway
import Site
import SQLite
import Testing

@Suite struct SiteStoreTests {
    let directory: TemporaryDirectory
    let store: SiteStore

    init() throws {
        directory = try TemporaryDirectory()
        store = try SiteStore(path: directory.file("site.db"))
    }

    static let hour: Int64 = 60 * 60 * 1000

    /// A registry with two persons, their tags and a meeting room.
    func seedRegistry() throws {
        try store.addPerson(Person(id: "ada", name: "Ada"))
        try store.addPerson(Person(id: "bob", name: "Bob"))
        try store.addTag(Tag(id: "tag-ada", person: "ada", label: "badge"))
        try store.addTag(Tag(id: "tag-bob", person: "bob"))
        try store.addRoom(Room(id: "entrance", name: "Entrance", kind: .entrance))
        try store.addRoom(Room(id: "blue", name: "Blue room", kind: .meeting, guidance: .backward))
    }

    func meeting(_ id: String, startsAt: Int64, endsAt: Int64, invitees: [String] = ["ada"],
                 room: String = "blue") -> Meeting {
        Meeting(id: id, title: "Meeting \(id)", room: room, startsAt: startsAt, endsAt: endsAt,
                invitees: invitees, content: "<h1>\(id)</h1>")
    }

    // MARK: Devices

    @Test func provisioningStoresTheKeyForItsIdentity() throws {
        try store.provisionDevice(id: "pi-entrance", key: [1, 2, 3], roles: ["entrance"], location: "hall")
        #expect(try store.deviceKey(identity: "pi-entrance") == [1, 2, 3])
        #expect(try store.deviceKey(identity: "stranger") == nil)
        #expect(try store.device(id: "pi-entrance")
                == DeviceRecord(id: "pi-entrance", key: [1, 2, 3], roles: ["entrance"], location: "hall"))
    }

    @Test func reprovisioningReplacesCredentialsButKeepsWhatTheDeviceReported() throws {
        try store.provisionDevice(id: "pi-1", key: [1], roles: ["corridor"], location: "east")
        try store.recordRegistration(id: "pi-1", board: "rpi4b", version: "1.2.0", at: 1000)
        #expect(try store.device(id: "pi-1")?.roles == ["corridor"])
        #expect(try store.device(id: "pi-1")?.location == "east")
        try store.touch(id: "pi-1", at: 2000)
        try store.provisionDevice(id: "pi-1", key: [9, 9], roles: ["entrance"], location: "hall")
        #expect(try store.device(id: "pi-1")
                == DeviceRecord(id: "pi-1", key: [9, 9], roles: ["entrance"], location: "hall", board: "rpi4b",
                                version: "1.2.0", lastSeen: 2000, registeredAt: 1000))
    }

    @Test func devicesAreListedAndRemoved() throws {
        try store.provisionDevice(id: "b", key: [2], roles: [], location: "")
        try store.provisionDevice(id: "a", key: [1], roles: ["x", "y"], location: "")
        #expect(try store.devices().map(\.id) == ["a", "b"])
        #expect(try store.devices().first?.roles == ["x", "y"])
        try store.removeDevice(id: "a")
        #expect(try store.devices().map(\.id) == ["b"])
        #expect(try store.deviceKey(identity: "a") == nil)
    }

    @Test func unknownDevicesAreReported() throws {
        #expect(throws: SiteStoreError.unknown(.device, "ghost")) { try store.removeDevice(id: "ghost") }
        #expect(throws: SiteStoreError.unknown(.device, "ghost")) { try store.touch(id: "ghost", at: 1) }
        #expect(throws: SiteStoreError.unknown(.device, "ghost")) {
            try store.recordRegistration(id: "ghost", board: "sim", version: "0", at: 1)
        }
        #expect(throws: SiteStoreError.self) { try store.provisionDevice(id: "x", key: [], roles: [], location: "") }
    }

    // MARK: Registry

    @Test func registryRoundTrips() throws {
        try seedRegistry()
        #expect(try store.persons() == [Person(id: "ada", name: "Ada"), Person(id: "bob", name: "Bob")])
        #expect(try store.tag(id: "tag-ada") == Tag(id: "tag-ada", person: "ada", label: "badge"))
        #expect(try store.tags().map(\.id) == ["tag-ada", "tag-bob"])
        #expect(try store.person(forTag: "tag-bob") == Person(id: "bob", name: "Bob"))
        #expect(try store.person(forTag: "tag-unknown") == nil)
        #expect(try store.room(id: "blue") == Room(id: "blue", name: "Blue room", kind: .meeting, guidance: .backward))
        #expect(try store.rooms().map(\.id) == ["blue", "entrance"])

        let planned = meeting("m1", startsAt: 10 * Self.hour, endsAt: 11 * Self.hour, invitees: ["bob", "ada"])
        try store.addMeeting(planned)
        #expect(try store.meeting(id: "m1") == planned)
        #expect(try store.meetings() == [planned])

        try store.updatePerson(Person(id: "ada", name: "Ada Lovelace"))
        #expect(try store.person(id: "ada")?.name == "Ada Lovelace")

        var moved = planned
        moved.title = "Moved"
        moved.room = "entrance"
        moved.invitees = ["ada"]
        try store.updateMeeting(moved)
        #expect(try store.meeting(id: "m1") == moved)

        try store.removeTag(id: "tag-bob")
        #expect(try store.tag(id: "tag-bob") == nil)
        try store.removeMeeting(id: "m1")
        #expect(try store.meetings().isEmpty)
        try store.removeRoom(id: "blue")
        #expect(try store.room(id: "blue") == nil)
    }

    @Test func removingAPersonRemovesTheirTagsAndInvitations() throws {
        try seedRegistry()
        try store.addMeeting(meeting("m1", startsAt: 0, endsAt: Self.hour, invitees: ["ada", "bob"]))
        try store.removePerson(id: "ada")
        #expect(try store.person(id: "ada") == nil)
        #expect(try store.tags().map(\.id) == ["tag-bob"])
        #expect(try store.meeting(id: "m1")?.invitees == ["bob"])
    }

    @Test func duplicateIDsAreRejected() throws {
        try seedRegistry()
        try store.addMeeting(meeting("m1", startsAt: 0, endsAt: 1))
        #expect(throws: SiteStoreError.duplicate(.person, "ada")) {
            try store.addPerson(Person(id: "ada", name: "Other"))
        }
        #expect(throws: SiteStoreError.duplicate(.tag, "tag-ada")) {
            try store.addTag(Tag(id: "tag-ada", person: "bob"))
        }
        #expect(throws: SiteStoreError.duplicate(.room, "blue")) {
            try store.addRoom(Room(id: "blue", name: "Again", kind: .corridor))
        }
        #expect(throws: SiteStoreError.duplicate(.meeting, "m1")) {
            try store.addMeeting(meeting("m1", startsAt: 5, endsAt: 6))
        }
        #expect(try store.person(id: "ada")?.name == "Ada")
        #expect(try store.tag(id: "tag-ada")?.person == "ada")
    }

    @Test func missingReferencesAreNamed() throws {
        try seedRegistry()
        #expect(throws: SiteStoreError.unknown(.person, "eve")) {
            try store.addTag(Tag(id: "tag-eve", person: "eve"))
        }
        #expect(throws: SiteStoreError.unknown(.room, "attic")) {
            try store.addMeeting(meeting("m1", startsAt: 0, endsAt: 1, room: "attic"))
        }
        #expect(throws: SiteStoreError.unknownInvitee("eve", meeting: "m2")) {
            try store.addMeeting(meeting("m2", startsAt: 0, endsAt: 1, invitees: ["ada", "eve"]))
        }
        // Nothing of a rejected meeting is kept.
        #expect(try store.meetings().isEmpty)

        try store.addMeeting(meeting("m3", startsAt: 0, endsAt: 1))
        #expect(throws: SiteStoreError.unknownInvitee("zed", meeting: "m3")) {
            try store.updateMeeting(meeting("m3", startsAt: 0, endsAt: 1, invitees: ["bob", "zed"]))
        }
        #expect(try store.meeting(id: "m3")?.invitees == ["ada"])
    }

    @Test func unknownIDsAreReported() throws {
        #expect(throws: SiteStoreError.unknown(.person, "eve")) { try store.updatePerson(Person(id: "eve", name: "")) }
        #expect(throws: SiteStoreError.unknown(.person, "eve")) { try store.removePerson(id: "eve") }
        #expect(throws: SiteStoreError.unknown(.tag, "t")) { try store.removeTag(id: "t") }
        #expect(throws: SiteStoreError.unknown(.room, "r")) { try store.removeRoom(id: "r") }
        #expect(throws: SiteStoreError.unknown(.meeting, "m")) { try store.removeMeeting(id: "m") }
        #expect(throws: SiteStoreError.unknown(.meeting, "m")) {
            try store.updateMeeting(meeting("m", startsAt: 0, endsAt: 1, invitees: []))
        }
    }

    @Test func errorsDescribeThemselves() {
        #expect(SiteStoreError.unknown(.person, "eve").description == "unknown person \"eve\"")
        #expect(SiteStoreError.unknown(.person, "eve").missingID == "eve")
        #expect(SiteStoreError.duplicate(.tag, "t1").description == "tag \"t1\" already exists")
        #expect(SiteStoreError.duplicate(.tag, "t1").isConflict)
        #expect(SiteStoreError.unknownInvitee("eve", meeting: "m1").description
                == "meeting \"m1\" invites unknown person \"eve\"")
    }

    @Test func roomUsedByAMeetingIsKept() throws {
        try seedRegistry()
        try store.addMeeting(meeting("m1", startsAt: 0, endsAt: 1))
        #expect(throws: SiteStoreError.roomInUse("blue", meetings: ["m1"])) { try store.removeRoom(id: "blue") }
        #expect(try store.room(id: "blue") != nil)
    }

    @Test func meetingThatEndsBeforeItStartsIsRejected() throws {
        try seedRegistry()
        #expect(throws: SiteStoreError.self) { try store.addMeeting(meeting("m1", startsAt: 10, endsAt: 5)) }
    }

    // MARK: Current meetings

    /// The meeting runs 10:00–11:00; a visitor may arrive from 09:00 (the arrival slack).
    @Test(arguments: [
        (8 * hour + 59 * 60 * 1000, false),
        (9 * hour, true),
        (10 * hour + 30 * 60 * 1000, true),
        (11 * hour, true),
        (11 * hour + 1, false),
    ])
    func currentMeetingsFollowTheWindow(now: Int64, expected: Bool) throws {
        try seedRegistry()
        try store.addMeeting(meeting("m1", startsAt: 10 * Self.hour, endsAt: 11 * Self.hour))
        #expect(try store.currentMeetings(for: "ada", at: now).map(\.id) == (expected ? ["m1"] : []))
        #expect(try store.currentMeetings(for: "bob", at: now).isEmpty)
    }

    @Test func currentMeetingsAreOrderedByStart() throws {
        try seedRegistry()
        try store.addMeeting(meeting("late", startsAt: 10 * Self.hour, endsAt: 12 * Self.hour))
        try store.addMeeting(meeting("early", startsAt: 9 * Self.hour, endsAt: 11 * Self.hour))
        try store.addMeeting(meeting("other", startsAt: 9 * Self.hour, endsAt: 11 * Self.hour, invitees: ["bob"]))
        try store.addMeeting(meeting("past", startsAt: 1 * Self.hour, endsAt: 2 * Self.hour))
        let current = try store.currentMeetings(for: "ada", at: 10 * Self.hour)
        #expect(current.map(\.id) == ["early", "late"])
        #expect(current.allSatisfy { $0.isCurrent(at: 10 * Self.hour) })
        #expect(current.first?.invitees == ["ada"])
    }

    // MARK: Device events

    func event(_ device: String, _ epoch: String, _ seq: Int64, kind: String = "motion",
               at: Int64 = 0) -> DeviceEventRecord {
        DeviceEventRecord(device: device, epoch: epoch, seq: seq, kind: kind, at: at,
                          body: "{\"seq\":\(seq)}", receivedAt: at + 5)
    }

    @Test func deviceEventsAreRecordedExactlyOnce() throws {
        #expect(try store.appendDeviceEvent(event("pi-1", "e1", 1)))
        #expect(try store.appendDeviceEvent(event("pi-1", "e1", 2)))
        // A retransmission, even with a different body, is not recorded again.
        var retransmitted = event("pi-1", "e1", 2)
        retransmitted.body = "{}"
        #expect(try !store.appendDeviceEvent(retransmitted))
        // After a reboot the device starts a new epoch at 1.
        #expect(try store.appendDeviceEvent(event("pi-1", "e2", 1)))
        // The same numbers from another device are a different event.
        #expect(try store.appendDeviceEvent(event("pi-2", "e1", 1)))

        let recorded = try store.deviceEvents()
        #expect(recorded.map { "\($0.device)/\($0.epoch)/\($0.seq)" }
                == ["pi-1/e1/1", "pi-1/e1/2", "pi-1/e2/1", "pi-2/e1/1"])
        #expect(recorded[1] == event("pi-1", "e1", 2))
        #expect(try store.lastSeq(device: "pi-1", epoch: "e1") == 2)
        #expect(try store.lastSeq(device: "pi-1", epoch: "e2") == 1)
        #expect(try store.lastSeq(device: "pi-3", epoch: "e1") == nil)
    }

    @Test func deviceEventsKeepArrivalOrderAndFilter() throws {
        try store.appendDeviceEvent(event("pi-1", "e1", 3, kind: "motion", at: 30))
        try store.appendDeviceEvent(event("pi-2", "e1", 1, kind: "scan", at: 10))
        try store.appendDeviceEvent(event("pi-1", "e1", 1, kind: "scan", at: 20))
        #expect(try store.deviceEvents().map(\.at) == [30, 10, 20])
        #expect(try store.deviceEvents(device: "pi-1").map(\.seq) == [3, 1])
        #expect(try store.deviceEvents(kind: "scan").map(\.device) == ["pi-2", "pi-1"])
        #expect(try store.deviceEvents(device: "pi-1", kind: "scan").map(\.seq) == [1])
        #expect(try store.deviceEvents(device: "pi-9").isEmpty)
    }

    // MARK: Visits

    @Test func visitLifecycleAndLog() throws {
        let first = try store.createVisit(device: "pi-entrance", at: 100)
        let second = try store.createVisit(device: "pi-entrance", at: 200)
        #expect(second > first)

        try store.appendVisitLog(VisitLogEntry(visit: first, status: .init(.detected), at: 100))
        try store.appendVisitLog(VisitLogEntry(visit: second, status: .init(.detected), at: 200))
        try store.appendVisitLog(VisitLogEntry(visit: first, status: .init(.scanned), at: 103, detail: "2 tags"))
        try store.appendVisitLog(VisitLogEntry(visit: second, status: .not(.authenticated), at: 204,
                                               detail: "unknown tag"))
        try store.updateVisit(id: first, person: "ada")
        try store.updateVisit(id: first, meeting: "m1", room: "blue")
        try store.closeVisit(id: second, at: 205)
        try store.closeVisit(id: second, at: 999)

        #expect(try store.visitLog(visit: first) == [
            VisitLogEntry(visit: first, status: .init(.detected), at: 100),
            VisitLogEntry(visit: first, status: .init(.scanned), at: 103, detail: "2 tags"),
        ])
        let summaries = try store.visits()
        #expect(summaries == [
            VisitSummary(id: first, device: "pi-entrance", openedAt: 100, person: "ada", meeting: "m1", room: "blue",
                         statuses: [.init(.detected), .init(.scanned)]),
            VisitSummary(id: second, device: "pi-entrance", openedAt: 200, closedAt: 205,
                         statuses: [.init(.detected), .not(.authenticated)]),
        ])
        #expect(try store.openVisits().map(\.id) == [first])
        #expect(try store.visit(id: second)?.statuses.map(\.description) == ["DETECTED", "NOT AUTHENTICATED"])
    }

    @Test func visitLogCanBeTailed() throws {
        let visit = try store.createVisit(device: "pi-entrance", at: 0)
        let firstID = try store.appendVisitLog(VisitLogEntry(visit: visit, status: .init(.detected), at: 1))
        let all = try store.visitLog()
        #expect(all.map(\.id) == [firstID])
        try store.appendVisitLog(VisitLogEntry(visit: visit, status: .init(.scanned), at: 2))
        let newer = try store.visitLog(after: firstID)
        #expect(newer.map(\.entry.status) == [.init(.scanned)])
        #expect(try store.visitLog(after: newer[0].id).isEmpty)
    }

    @Test func unknownVisitsAreReported() throws {
        #expect(throws: SiteStoreError.unknown(.visit, "42")) {
            try store.appendVisitLog(VisitLogEntry(visit: 42, status: .init(.detected), at: 0))
        }
        #expect(throws: SiteStoreError.unknown(.visit, "42")) { try store.updateVisit(id: 42, person: "ada") }
        #expect(throws: SiteStoreError.unknown(.visit, "42")) { try store.closeVisit(id: 42, at: 0) }
    }

    // MARK: Several connections and reopening

    @Test func secondStoreOnTheSameFileSeesWrites() throws {
        let cli = try SiteStore(path: store.path)
        try store.addPerson(Person(id: "ada", name: "Ada"))
        #expect(try cli.person(id: "ada") == Person(id: "ada", name: "Ada"))
        try cli.addPerson(Person(id: "bob", name: "Bob"))
        #expect(try store.persons().map(\.id) == ["ada", "bob"])

        let visit = try store.createVisit(device: "pi-entrance", at: 1)
        try store.appendVisitLog(VisitLogEntry(visit: visit, status: .init(.detected), at: 1))
        #expect(try cli.visitLog().map(\.entry.visit) == [visit])

        let reader = try SiteStore(path: store.path, readOnly: true)
        #expect(try reader.persons().count == 2)
        #expect(reader.migrationsApplied == 0)
        do {
            try reader.addPerson(Person(id: "eve", name: "Eve"))
            Issue.record("wrote through a read-only store")
        } catch {
            #expect(error.sqliteError?.isReadOnly == true)
        }
    }

    @Test func reopeningMigratesNothingTwice() throws {
        #expect(store.migrationsApplied == SiteStore.schemaVersion)
        try store.addPerson(Person(id: "ada", name: "Ada"))
        let path = store.path
        let reopened = try SiteStore(path: path)
        #expect(reopened.migrationsApplied == 0)
        #expect(try reopened.persons().map(\.id) == ["ada"])
        let database = try Database(path: path)
        #expect(try database.userVersion() == SiteStore.schemaVersion)
    }

    /// A newer schema comes from a later release, e.g. before an OTA rollback; this build must not touch it.
    @Test(arguments: [SiteStore.schemaVersion + 1, -1])
    func unsupportedSchemaIsRefused(version: Int) throws {
        let path = directory.file("other.db")
        let database = try Database(path: path)
        try database.setUserVersion(version)
        #expect(throws: SiteStoreError.schemaVersion(found: version, supported: SiteStore.schemaVersion)) {
            try SiteStore(path: path)
        }
        #expect(try database.userVersion() == version)
    }

    @Test func readOnlyStoreNeedsAMigratedFile() throws {
        let path = directory.file("fresh.db")
        _ = try Database(path: path)
        #expect(throws: SiteStoreError.schemaVersion(found: 0, supported: SiteStore.schemaVersion, readOnly: true)) {
            try SiteStore(path: path, readOnly: true)
        }
    }
}
