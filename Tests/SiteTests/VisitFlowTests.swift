import JSON
import Site
import Testing

/// An in-memory registry: one entrance, one corridor, one meeting room, Alice invited.
struct Directory: SiteDirectory {
    var rooms = [
        Room(id: "entrance", name: "Entrance", kind: .entrance),
        Room(id: "corridor", name: "Corridor", kind: .corridor),
        Room(id: "room-1", name: "Room 1", kind: .meeting, guidance: .backward),
    ]
    var tags = ["tag-alice": Person(id: "alice", name: "Alice"), "tag-bob": Person(id: "bob", name: "Bob")]
    var meetings = [Meeting(id: "m1", title: "Sync", room: "room-1", startsAt: 1_000_000, endsAt: 5_000_000,
                            invitees: ["alice"], content: "agenda")]

    func room(id: String) -> Room? { rooms.first { $0.id == id } }
    func person(forTag tag: String) -> Person? { tags[tag] }
    func currentMeetings(for person: String, at now: Int64) -> [Meeting] {
        meetings.filter { $0.invitees.contains(person) && $0.isCurrent(at: now) }
    }
}

let site = [
    SiteDevice(id: "entrance-1", location: "entrance", roles: [.presence, .scanner]),
    SiteDevice(id: "corridor-1", location: "corridor", roles: [.guidance]),
    SiteDevice(id: "room-1", location: "room-1", roles: [.presence, .scanner, .display]),
]

func statuses(_ actions: [VisitAction]) -> [String] {
    actions.compactMap { if case .log(_, let status, _) = $0 { status.description } else { nil } }
}

@Suite struct VisitFlowTests {
    let directory = Directory()
    let start: Int64 = 2_000_000

    @Test func knownVisitorReachesEveryStageInOrder() {
        var flow = VisitFlow()
        var log: [String] = []
        var actions = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start)
        log += statuses(actions)
        #expect(actions.contains(.scan(device: "entrance-1", visit: 1, windowMilliseconds: 3000)))

        actions = flow.handle(.scanResult(device: "entrance-1", visit: 1, tags: [SeenTag(id: "tag-alice", rssi: -60)]),
                              devices: site, directory: directory, now: start + 3000)
        log += statuses(actions)
        #expect(actions.contains(.identify(visit: 1, person: "alice", meeting: "m1", room: "room-1")))
        #expect(actions.contains(.guide(device: "corridor-1", visit: 1, pattern: "chase:150:backward")))

        log += statuses(flow.handle(.guidanceStarted(device: "corridor-1", visit: 1), devices: site,
                                    directory: directory, now: start + 3100))
        actions = flow.handle(.motion(device: "room-1"), devices: site, directory: directory, now: start + 60_000)
        #expect(actions == [.scan(device: "room-1", visit: 1, windowMilliseconds: 3000)])

        actions = flow.handle(.scanResult(device: "room-1", visit: 1, tags: [SeenTag(id: "tag-alice", rssi: -50)]),
                              devices: site, directory: directory, now: start + 63_000)
        #expect(actions == [.stopGuidance(device: "corridor-1", visit: 1),
                            .present(device: "room-1", visit: 1, meeting: "m1")])
        actions = flow.handle(.presented(device: "room-1", visit: 1, meeting: "m1"), devices: site,
                              directory: directory, now: start + 63_500)
        log += statuses(actions)
        #expect(actions.last == .close(visit: 1))
        #expect(log == ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED", "GUIDED", "PRESENTED"])
        #expect(flow.visits.isEmpty)
        #expect(flow.nextDeadline == nil)
    }

    @Test(arguments: [
        ([SeenTag(id: "tag-stranger", rssi: -40)], "unknown tag"),
        ([], "no tag in range"),
        ([SeenTag(id: "tag-bob", rssi: -40)], "no meeting today for the tags seen"),
    ])
    func unauthenticatedVisitorsAreNotGuided(tags: [SeenTag], detail: String) {
        var flow = VisitFlow()
        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start)
        let actions = flow.handle(.scanResult(device: "entrance-1", visit: 1, tags: tags), devices: site,
                                  directory: directory, now: start + 3000)
        #expect(statuses(actions) == ["SCANNED", "NOT AUTHENTICATED"])
        #expect(actions.contains(.log(visit: 1, status: .not(.authenticated), detail: detail)))
        #expect(!actions.contains { if case .guide = $0 { true } else { false } })
        #expect(actions.last == .close(visit: 1))
    }

    @Test func strongestInvitedTagWinsOverAStrangerNextToIt() {
        var flow = VisitFlow()
        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start)
        let actions = flow.handle(.scanResult(device: "entrance-1", visit: 1, tags: [
            SeenTag(id: "tag-stranger", rssi: -30), SeenTag(id: "tag-alice", rssi: -70),
        ]), devices: site, directory: directory, now: start + 3000)
        #expect(statuses(actions) == ["SCANNED", "AUTHENTICATED"])
    }

    @Test func motionWhileScanningBelongsToTheSameVisit() {
        var flow = VisitFlow()
        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start)
        let again = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start + 500)
        #expect(again.isEmpty)
        #expect(flow.visits.count == 1)
    }

    @Test func deadlinesFailEachWaitingStage() {
        var flow = VisitFlow()
        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start)
        #expect(flow.nextDeadline == start + 8000)
        #expect(flow.tick(now: start + 7999).isEmpty)
        #expect(statuses(flow.tick(now: start + 8000)) == ["NOT SCANNED"])

        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start + 10_000)
        _ = flow.handle(.scanResult(device: "entrance-1", visit: 2, tags: [SeenTag(id: "tag-alice", rssi: -60)]),
                        devices: site, directory: directory, now: start + 13_000)
        let notGuided = flow.tick(now: start + 23_000)
        #expect(statuses(notGuided) == ["NOT GUIDED"])
        #expect(notGuided.first == .stopGuidance(device: "corridor-1", visit: 2))

        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start + 30_000)
        _ = flow.handle(.scanResult(device: "entrance-1", visit: 3, tags: [SeenTag(id: "tag-alice", rssi: -60)]),
                        devices: site, directory: directory, now: start + 33_000)
        _ = flow.handle(.guidanceStarted(device: "corridor-1", visit: 3), devices: site, directory: directory,
                        now: start + 33_100)
        let lost = flow.tick(now: start + 33_100 + 10 * 60 * 1000)
        #expect(statuses(lost) == ["NOT PRESENTED"])
        #expect(lost.first == .stopGuidance(device: "corridor-1", visit: 3))
    }

    @Test func aSiteWithoutACorridorCannotGuide() {
        var flow = VisitFlow()
        let noCorridor = site.filter { $0.id != "corridor-1" }
        _ = flow.handle(.motion(device: "entrance-1"), devices: noCorridor, directory: directory, now: start)
        let actions = flow.handle(.scanResult(device: "entrance-1", visit: 1, tags: [SeenTag(id: "tag-alice", rssi: -60)]),
                                  devices: noCorridor, directory: directory, now: start + 3000)
        #expect(statuses(actions) == ["SCANNED", "AUTHENTICATED", "NOT GUIDED"])
    }

    @Test func someoneElseInTheRoomDoesNotCountAsArrival() {
        var flow = VisitFlow()
        _ = flow.handle(.motion(device: "entrance-1"), devices: site, directory: directory, now: start)
        _ = flow.handle(.scanResult(device: "entrance-1", visit: 1, tags: [SeenTag(id: "tag-alice", rssi: -60)]),
                        devices: site, directory: directory, now: start + 3000)
        _ = flow.handle(.guidanceStarted(device: "corridor-1", visit: 1), devices: site, directory: directory, now: start + 3100)
        _ = flow.handle(.motion(device: "room-1"), devices: site, directory: directory, now: start + 5000)
        let other = flow.handle(.scanResult(device: "room-1", visit: 1, tags: [SeenTag(id: "tag-bob", rssi: -50)]),
                                devices: site, directory: directory, now: start + 8000)
        #expect(other.isEmpty)
        #expect(flow.visits[1]?.stage == .guided)
    }
}

@Suite struct WireTests {
    @Test func eventRoundTripsAndBecomesAScenarioInput() throws {
        let event = DeviceEvent(epoch: "e", seq: 3, kind: .scan, at: 42,
                                fields: ["visit": 7, "scan": 1, "tags": [["id": "t", "rssi": -61]]])
        let decoded = try DeviceEvent(json: try JSON.parse(event.json.bytes()))
        #expect(decoded == event)
        #expect(try decoded.visitInput(device: "d") == .scanResult(device: "d", visit: 7, tags: [SeenTag(id: "t", rssi: -61)]))
    }

    /// Integers a device sends are bounded where they are parsed, so the gateway's arithmetic cannot trap.
    @Test(arguments: [
        (#"{"epoch":"e","seq":9223372036854775807,"kind":"motion","at":1700000000000}"#, "field 'seq' is 9223372036854775807; it must be 1 or more and at most 9007199254740992"),
        (#"{"epoch":"e","seq":1,"kind":"motion","at":-9223372036854775808}"#, "field 'at' is -9223372036854775808; it must be epoch milliseconds between 2000-01-01"),
        (#"{"epoch":"e","seq":1,"kind":"motion","at":7258118400001}"#, "field 'at' is 7258118400001"),
        (#"{"epoch":"e","seq":1,"kind":"motion","at":946684799999}"#, "field 'at' is 946684799999"),
    ])
    func outOfRangeIntegersAreRefusedByName(text: String, message: String) {
        #expect { try DeviceEvent(wire: try JSON.parse(text)) } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func meetingTimesAreBoundedAndCurrentDoesNotOverflow() {
        let text = #"{"id":"m","title":"t","room":"r","starts_at":-9223372036854775808,"ends_at":1700000000000,"invitees":[]}"#
        #expect { try Meeting(json: try JSON.parse(text)) } throws: { error in
            "\(error)".contains("field 'starts_at' is -9223372036854775808")
        }
        let early = Meeting(id: "m", title: "t", room: "r", startsAt: .min, endsAt: .max, invitees: [], content: "")
        #expect(early.isCurrent(at: 1_700_000_000_000))
        let late = Meeting(id: "m", title: "t", room: "r", startsAt: .max, endsAt: .max, invitees: [], content: "")
        #expect(!late.isCurrent(at: -1_700_000_000_000))
        let soon = Meeting(id: "m", title: "t", room: "r", startsAt: 3_600_000, endsAt: 7_200_000, invitees: [], content: "")
        #expect(soon.isCurrent(at: 0) && !soon.isCurrent(at: -1))
    }

    @Test func theTimeWindowIsInclusive() throws {
        for at in [Timestamp.accepted.lowerBound, Timestamp.accepted.upperBound] {
            let text = #"{"epoch":"e","seq":9007199254740992,"kind":"motion","at":"# + String(at) + "}"
            #expect(try DeviceEvent(wire: try JSON.parse(text)).at == at)
        }
        #expect(Timestamp.iso8601(Timestamp.accepted.lowerBound) == "2000-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(Timestamp.accepted.upperBound) == "2200-01-01T00:00:00.000Z")
    }

    @Test(arguments: [
        (#"{"epoch":"e","seq":0,"kind":"motion","at":1}"#, "1 or more"),
        (#"{"epoch":"e","seq":1,"kind":"teleport","at":1}"#, "known kinds"),
        (#"{"epoch":"e","kind":"motion","at":1}"#, "seq"),
    ])
    func malformedEventsSayWhatIsWrong(text: String, message: String) {
        #expect { try DeviceEvent(json: try JSON.parse(text)) } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func commandsRoundTrip() throws {
        let commands = DeviceCommands(revision: 4, scan: .init(id: 2, visit: 1, windowMilliseconds: 3000),
                                      guidance: .init(visit: 1, pattern: "chase:150:forward"),
                                      display: nil)
        #expect(try DeviceCommands(json: try JSON.parse(commands.json.bytes())) == commands)
    }

    @Test func timestampsAreUTC() {
        #expect(Timestamp.iso8601(0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(1_795_323_221_011) == "2026-11-22T04:53:41.011Z")  // checked with Python's datetime
        #expect(Timestamp.iso8601(951_782_400_000) == "2000-02-29T00:00:00.000Z")
    }
}
