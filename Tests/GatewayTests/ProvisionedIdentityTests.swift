import CoAP
import Foundation
import Gateway
import GatewayPolicy
import JSON
import Site
import Testing

/// A device's roles and location are what it was provisioned with: registering cannot change them,
/// events are checked against them, and registry reads are scoped by them.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ProvisionedIdentityTests {
    static let now = Int64(Date().timeIntervalSince1970 * 1000)

    /// The gateway of RunningGateway plus a corridor, two meeting rooms with a display each, Alice with
    /// her tag and a meeting of hers going on now in room-1.
    static func site(policy: GatewayPolicy = GatewayPolicy()) throws -> RunningGateway {
        let gateway = try RunningGateway(policy: policy)
        let store = gateway.store
        try store.addRoom(Room(id: "corridor", name: "Corridor", kind: .corridor))
        try store.addRoom(Room(id: "room-1", name: "Room 1", kind: .meeting))
        try store.addRoom(Room(id: "room-2", name: "Room 2", kind: .meeting))
        for (id, roles, location) in [("corridor-1", ["guidance"], "corridor"),
                                      ("room-1", ["presence", "scanner", "display"], "room-1"),
                                      ("room-2", ["display"], "room-2")] {
            try store.provisionDevice(id: id, key: RunningGateway.key(id), roles: roles, location: location)
        }
        try store.addPerson(Person(id: "alice", name: "Alice Martin"))
        try store.addTag(Tag(id: "tag-alice", person: "alice", label: "badge"))
        try store.addMeeting(Meeting(id: "sync", title: "Weekly sync", room: "room-1", startsAt: now - 600_000,
                                     endsAt: now + 3_600_000, invitees: ["alice"], content: "agenda of the sync"))
        try store.addMeeting(Meeting(id: "board", title: "Board", room: "room-2", startsAt: now - 600_000,
                                     endsAt: now + 3_600_000, invitees: ["alice"], content: "board secrets"))
        return gateway
    }

    static func registration(_ roles: [DeviceRole], at location: String) -> JSON {
        Registration(roles: roles, location: location, board: "sim", version: "test", epoch: "e1").json
    }

    static func refused(_ client: CoAPClient, _ request: CoAPRequest, saying text: String) async {
        await #expect { try await client.request(request) } throws: { error in
            let error = error as! CoAPError
            // The message is the JSON body; compare its text unescaped.
            let message = (try? JSON.parse(Array(error.message.utf8)))?["error"]?.stringValue ?? error.message
            return error.code == .forbidden && message.contains(text)
        }
    }

    @Test func aRegistrationClaimingOtherRolesOrAnotherLocationIsRefusedAndChangesNothing() async throws {
        let gateway = try Self.site()
        let corridor = try await gateway.client("corridor-1")
        defer { corridor.close() }
        await Self.refused(corridor, post(SitePaths.register, Self.registration([.presence, .scanner], at: "entrance")),
                           saying: "corridor-1 claims roles presence, scanner but was provisioned with guidance "
                               + "and location \"entrance\" but was provisioned at \"corridor\"")
        await Self.refused(corridor, post(SitePaths.register, Self.registration([.guidance, .scanner], at: "corridor")),
                           saying: "re-provision the device")
        await Self.refused(corridor, post(SitePaths.register, Self.registration([.guidance], at: "entrance")),
                           saying: "location \"entrance\"")
        let device = try #require(try gateway.store.device(id: "corridor-1"))
        #expect(device.roles == ["guidance"])
        #expect(device.location == "corridor")
        #expect(device.registeredAt == nil)

        // The provisioned roles and location, or none at all, are accepted and reported back by `devices`.
        #expect(try await corridor.request(post(SitePaths.register, Self.registration([.guidance], at: "corridor"))).code
                == .changed)
        #expect(try await corridor.request(post(SitePaths.register, Self.registration([], at: ""))).code == .changed)
        let listed = try JSON.parse(try await corridor.request(CoAPRequest(.get, SitePaths.devices)).payload)
        let entry = try #require(listed.arrayValue?.first { $0["id"]?.stringValue == "corridor-1" })
        #expect(entry["roles"] == ["guidance"])
        #expect(entry["location"] == "corridor")
        #expect(entry["online"] == .bool(true))
    }

    @Test func eventKindsAreCheckedAgainstTheProvisionedRoles() async throws {
        let gateway = try Self.site()
        let corridor = try await gateway.client("corridor-1")
        defer { corridor.close() }
        #expect(try await corridor.request(post(SitePaths.register, Self.registration([.guidance], at: "corridor"))).code
                == .changed)
        let old = Self.now - 3_600_000
        await Self.refused(corridor, post(SitePaths.events, DeviceEvent(epoch: "e1", seq: 1, kind: .motion, at: old,
                                                                         fields: ["state": "start"]).json),
                           saying: "corridor-1 (provisioned roles: guidance) may not report motion events")
        await Self.refused(corridor, post(SitePaths.events, DeviceEvent(epoch: "e1", seq: 1, kind: .scan, at: old,
                                                                         fields: ["tags": []]).json),
                           saying: "may not report scan events; they come from a device with the role scanner")
        await Self.refused(corridor, post(SitePaths.events, DeviceEvent(epoch: "e1", seq: 1, kind: .presented, at: old,
                                                                         fields: ["visit": 1, "meeting": "sync"]).json),
                           saying: "may not report presented events")
        #expect(try gateway.store.deviceEvents(device: "corridor-1").isEmpty, "a refused event is not recorded")
        // Its own kinds go through, in order, as seq 1 and 2.
        let guidance = DeviceEvent(epoch: "e1", seq: 1, kind: .guidance, at: old, fields: ["visit": 1, "active": false])
        #expect(try await corridor.request(post(SitePaths.events, guidance.json)).code == .created)
        let fault = DeviceEvent(epoch: "e1", seq: 2, kind: .fault, at: old, fields: ["message": "LED driver hot"])
        #expect(try await corridor.request(post(SitePaths.events, fault.json)).code == .created)
        #expect(try gateway.store.deviceEvents(device: "corridor-1").map(\.kind) == ["guidance", "fault"])
    }

    /// The arm64 rig's entrance: entrance-1 holds presence and scanner but runs presence alone (its kernel has
    /// no Bluetooth), and entrance-scan scans. The visit's scan goes to the device that runs the scanner.
    @Test func scansGoToTheDeviceThatRunsTheScannerNotOneThatMerelyMayScan() async throws {
        let gateway = try RunningGateway(devices: [(id: "entrance-scan", roles: ["scanner"])])
        let entrance = try await gateway.client("entrance-1")
        let scanner = try await gateway.client("entrance-scan")
        defer { entrance.close(); scanner.close() }
        #expect(try await entrance.request(post(SitePaths.register, Self.registration([.presence], at: "entrance")))
            .code == .changed)
        #expect(try await scanner.request(post(SitePaths.register, Self.registration([.scanner], at: "entrance")))
            .code == .changed)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try await entrance.request(post(SitePaths.events, DeviceEvent(epoch: "e1", seq: 1, kind: .motion,
                                                                               at: now, fields: ["state": "start"]).json))
            .code == .created)
        func scanRequest(_ client: CoAPClient, _ id: String) async throws -> DeviceCommands.Scan? {
            let response = try await client.request(CoAPRequest(.get, SitePaths.commands(device: id)))
            return try DeviceCommands(json: JSON.parse(response.payload)).scan
        }
        #expect(try await scanRequest(scanner, "entrance-scan")?.visit == 1)
        #expect(try await scanRequest(entrance, "entrance-1") == nil)
    }

    /// The attack of issue 11: a guidance Pi registers as an entrance scanner, reads Alice's tag id and
    /// posts motion and a scan, so the visit log shows her AUTHENTICATED although she never came.
    @Test func aGuidancePiCannotCauseAnAuthenticatedVisit() async throws {
        let gateway = try Self.site()
        let corridor = try await gateway.client("corridor-1")
        defer { corridor.close() }
        await Self.refused(corridor, post(SitePaths.register, Self.registration([.presence, .scanner], at: "entrance")),
                           saying: "corridor-1 claims roles")
        await Self.refused(corridor, CoAPRequest(.get, SitePaths.tags), saying: "may not GET /registry/tags")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        await Self.refused(corridor, post(SitePaths.events, DeviceEvent(epoch: "e1", seq: 1, kind: .motion, at: now,
                                                                         fields: ["state": "start"]).json),
                           saying: "may not report motion events")
        // Had the motion counted, the gateway would now ask this Pi to scan for that visit.
        let commands = try? await corridor.request(CoAPRequest(.get, SitePaths.commands(device: "corridor-1")))
        let visit = commands.flatMap { try? JSON.parse($0.payload) }?["scan"]?["visit"]?.intValue ?? 1
        await Self.refused(corridor, post(SitePaths.events, DeviceEvent(
            epoch: "e1", seq: 2, kind: .scan, at: now,
            fields: ["visit": .int(visit), "tags": [["id": "tag-alice", "rssi": -40]]]).json),
                           saying: "may not report scan events")
        #expect(try gateway.store.visits().isEmpty)
        let log = try gateway.store.visitLog().map { "\($0.entry.status) \($0.entry.detail)" }
        #expect(!log.contains { $0.hasPrefix("AUTHENTICATED") }, "visit log: \(log)")
        #expect(try gateway.store.device(id: "corridor-1")?.roles == ["guidance"])
    }

    @Test func registryReadsAreScopedByRole() async throws {
        let gateway = try Self.site()
        let corridor = try await gateway.client("corridor-1")
        let entrance = try await gateway.client("entrance-1")
        let display = try await gateway.client("room-2")
        let admin = try await gateway.client("admin")
        defer { corridor.close(); entrance.close(); display.close(); admin.close() }

        // Tag ids: scanners and admins only.
        await Self.refused(corridor, CoAPRequest(.get, SitePaths.tags), saying: "corridor-1 (roles: guidance)")
        await Self.refused(display, CoAPRequest(.get, SitePaths.tags, query: "id=tag-alice"), saying: "room-2")
        #expect(try JSON.parse(try await entrance.request(CoAPRequest(.get, SitePaths.tags)).payload)
                == [Tag(id: "tag-alice", person: "alice", label: "badge").json])
        #expect(try await admin.request(CoAPRequest(.get, SitePaths.tags)).code == .content)

        // Meetings: everyone sees when and where; content goes to the display in the room and to admins.
        func contents(_ client: CoAPClient) async throws -> [String: String?] {
            let list = try JSON.parse(try await client.request(CoAPRequest(.get, SitePaths.meetings)).payload)
            var result: [String: String?] = [:]
            for meeting in list.arrayValue ?? [] {
                result[meeting["id"]?.stringValue ?? "?"] = .some(meeting["content"]?.stringValue)
            }
            return result
        }
        #expect(try await contents(corridor) == ["sync": nil, "board": nil])
        #expect(try await contents(entrance) == ["sync": nil, "board": nil])
        #expect(try await contents(display) == ["sync": nil, "board": "board secrets"])
        #expect(try await contents(admin) == ["sync": "agenda of the sync", "board": "board secrets"])
        let one = try JSON.parse(try await corridor.request(CoAPRequest(.get, SitePaths.meetings, query: "id=sync")).payload)
        #expect(one["title"] == "Weekly sync")
        #expect(one["content"] == nil)

        // `content` itself: the display of another room is refused.
        await Self.refused(display, CoAPRequest(.get, SitePaths.content, query: "meeting=sync"),
                           saying: "room-2 may not read the content of meeting 'sync': it is for the display in room-1")
        let board = try JSON.parse(try await display.request(CoAPRequest(.get, SitePaths.content, query: "meeting=board")).payload)
        #expect(board["content"] == "board secrets")
    }

    /// The handlers keep the scope when a site's access rules are looser than the standard ones.
    @Test func aLooseAccessRuleDoesNotWidenTheScope() async throws {
        var policy = GatewayPolicy()
        policy.access.rules += [AccessPolicy.Rule(role: "*", method: "GET", pattern: "registry/**"),
                                AccessPolicy.Rule(role: "*", method: "GET", pattern: "content")]
        let gateway = try Self.site(policy: policy)
        let corridor = try await gateway.client("corridor-1")
        defer { corridor.close() }
        await Self.refused(corridor, CoAPRequest(.get, SitePaths.tags),
                           saying: "corridor-1 (roles: guidance) may not read tag ids: they are for scanners and admins")
        await Self.refused(corridor, CoAPRequest(.get, SitePaths.content, query: "meeting=sync"),
                           saying: "corridor-1 may not read the content of meeting 'sync'")
    }

    /// libcoap's own `/.well-known/core` lists every registered device's command resource, and so the
    /// site's device ids; the gateway's shows the shared resources and the asker's own commands only.
    @Test func discoveryShowsADeviceItsOwnCommandsAndNoOtherDevicesIds() async throws {
        let gateway = try Self.site()
        let corridor = try await gateway.client("corridor-1")
        let display = try await gateway.client("room-2")
        defer { corridor.close(); display.close() }
        _ = try await corridor.request(post(SitePaths.register, Self.registration([.guidance], at: "corridor")))
        _ = try await display.request(post(SitePaths.register, Self.registration([.display], at: "room-2")))
        let response = try await corridor.request(CoAPRequest(.get, ".well-known/core"))
        let links = String(decoding: response.payload, as: UTF8.self)
        #expect(response.contentFormat == ContentFormat.linkFormat)
        #expect(links.contains("</\(SitePaths.register)>;rt=\"nanoedge.register\";ct=50"), "\(links)")
        #expect(links.contains("</dev/corridor-1/cmd>;rt=\"nanoedge.commands\";ct=50;obs"), "\(links)")
        #expect(!links.contains("room-2"), "another device's id: \(links)")
    }
}
