import CoAP
import Foundation
import Gateway
import GatewayPolicy
import JSON
import Site
import Testing

/// A gateway on its own thread with a fresh database, and clients for provisioned identities.
final class RunningGateway: @unchecked Sendable {
    let directory: TemporaryDirectory
    let server: GatewayServer
    let port: UInt16
    let store: SiteStore
    private let thread: Thread
    private let finished = DispatchSemaphore(value: 0)

    static let keys: [String: [UInt8]] = [
        "entrance-1": Array(repeating: 0x11, count: 32),
        "admin": Array(repeating: 0x22, count: 32),
        // libcoap's coap-client takes the key as text.
        "tool-1": Array("coap-client-interop-key".utf8),
    ]

    init(policy: GatewayPolicy = GatewayPolicy(), devices: [(id: String, roles: [String])] = []) throws {
        directory = try TemporaryDirectory()
        port = UInt16.random(in: 20_000...40_000)
        let path = directory.file("site.db")
        store = try SiteStore(path: path)
        try store.provisionDevice(id: "entrance-1", key: Self.keys["entrance-1"]!, roles: ["presence", "scanner"],
                                  location: "entrance")
        try store.provisionDevice(id: "admin", key: Self.keys["admin"]!, roles: ["admin"], location: "")
        try store.provisionDevice(id: "tool-1", key: Self.keys["tool-1"]!, roles: [], location: "")
        for device in devices {
            try store.provisionDevice(id: device.id, key: Self.key(device.id), roles: device.roles, location: "entrance")
        }
        try store.addRoom(Room(id: "entrance", name: "Entrance", kind: .entrance))
        var options = GatewayOptions(databasePath: path, host: "127.0.0.1", port: port, printVisitLog: false)
        options.policy = policy
        server = try GatewayServer(options: options)
        // The server lives on its reactor thread from here on; the test only calls stop(), which is thread-safe.
        nonisolated(unsafe) let server = self.server
        let finished = self.finished
        thread = Thread {
            server.runOnLoop()
            finished.signal()
        }
        thread.start()
    }

    /// The fixed keys above, or one derived from the id for extra devices.
    static func key(_ identity: String) -> [UInt8] {
        keys[identity] ?? Array((identity + "-test-key-0123456789").utf8.prefix(32))
    }

    func client(_ identity: String, key: [UInt8]? = nil) async throws -> CoAPClient {
        try await CoAPClient.connect(host: "127.0.0.1", port: port,
                                     credentials: PSKCredentials(identity: identity, key: key ?? Self.key(identity)),
                                     ackTimeoutMilliseconds: 500, maxRetransmit: 2)
    }

    /// Stops the loop and waits for it: the server must not be freed while its thread still runs.
    deinit {
        server.stop()
        finished.wait()
    }
}

func post(_ path: String, _ json: JSON) -> CoAPRequest {
    CoAPRequest(.post, path, payload: json.bytes(), contentFormat: ContentFormat.json)
}

let registration = Registration(roles: [.presence, .scanner], location: "entrance", board: "sim",
                                version: "test", epoch: "e1")

@Suite(.serialized, .timeLimit(.minutes(3))) struct GatewayServerTests {
    @Test func registrationNamesTheDeviceByItsDTLSIdentity() async throws {
        let gateway = try RunningGateway()
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let response = try await client.request(post(SitePaths.register, registration.json))
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(response.code == .changed)
        let ack = try RegistrationAck(json: try JSON.parse(response.payload))
        #expect(ack.device == "entrance-1")
        #expect(ack.commands == "dev/entrance-1/cmd")
        #expect(ack.lastSeq == nil)
        #expect(try gateway.store.device(id: "entrance-1")?.board == "sim")
        // Its clock, for agents without NTP (docs/tuf.md): read while the request was under way.
        #expect(((before - 1)...(after + 1)).contains(ack.gatewayTime ?? 0),
                "time_ms \(String(describing: ack.gatewayTime)) outside \(before)...\(after)")
    }

    @Test func anAnswerWithoutTheGatewaysTimeStillReadsAndANegativeOneIsRefused() throws {
        let old = try RegistrationAck(json: ["device": "d", "commands": "dev/d/cmd", "last_seq": .null,
                                             "gateway_boot": "b"])
        #expect(old.gatewayTime == nil)
        #expect(throws: JSONError.self) {
            try RegistrationAck(json: ["device": "d", "commands": "dev/d/cmd", "gateway_boot": "b", "time_ms": -1])
        }
    }

    @Test func malformedJSONGetsBadRequestAndTheGatewayKeepsServing() async throws {
        let gateway = try RunningGateway()
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        let bad = CoAPRequest(.post, SitePaths.register, payload: Array("{\"roles\": [".utf8), contentFormat: ContentFormat.json)
        await #expect { try await client.request(bad) } throws: { error in
            let error = error as! CoAPError
            return error.code == .badRequest && error.message.contains("invalid JSON")
        }
        let wrongShape = post(SitePaths.register, ["roles": ["teleporter"], "location": "entrance", "epoch": "e"])
        await #expect { try await client.request(wrongShape) } throws: { error in
            let error = error as! CoAPError
            return error.code == .badRequest && error.message.contains("unknown role")
        }
        let ok = try await client.request(post(SitePaths.register, registration.json))
        #expect(ok.code == .changed)
    }

    @Test func oversizedBodyGets413() async throws {
        let gateway = try RunningGateway()
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        let huge = CoAPRequest(.post, SitePaths.events, payload: Array(repeating: 0x20, count: 20_000),
                               contentFormat: ContentFormat.json)
        await #expect { try await client.request(huge) } throws: { error in
            (error as! CoAPError).code == .requestEntityTooLarge
        }
        let ok = try await client.request(post(SitePaths.register, registration.json))
        #expect(ok.code == .changed)
    }

    @Test func unknownIdentityGetsNothingAndOthersStillConnect() async throws {
        let gateway = try RunningGateway()
        let stranger = try await gateway.client("stranger", key: Array(repeating: 0x33, count: 32))
        await #expect(throws: CoAPError.self) {
            try await stranger.request(CoAPRequest(.get, SitePaths.visits), timeoutMilliseconds: 3000)
        }
        stranger.close()
        let wrongKey = try await gateway.client("entrance-1", key: Array(repeating: 0x44, count: 32))
        await #expect(throws: CoAPError.self) {
            try await wrongKey.request(CoAPRequest(.get, SitePaths.visits), timeoutMilliseconds: 3000)
        }
        wrongKey.close()
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        #expect(try await client.request(CoAPRequest(.get, SitePaths.visits)).code == .content)
    }

    @Test func eventsAreRecordedOnceAndInOrder() async throws {
        let gateway = try RunningGateway()
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        _ = try await client.request(post(SitePaths.register, registration.json))
        let old = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000  // too old to start a visit
        let first = DeviceEvent(epoch: "e1", seq: 1, kind: .motion, at: old, fields: ["state": "start"])
        let created = try await client.request(post(SitePaths.events, first.json))
        #expect(created.code == .created)
        let again = try await client.request(post(SitePaths.events, first.json))
        #expect(again.code == .changed)
        #expect(try JSON.parse(again.payload)["duplicate"] == .bool(true))
        let gap = DeviceEvent(epoch: "e1", seq: 5, kind: .motion, at: old, fields: ["state": "end"])
        await #expect { try await client.request(post(SitePaths.events, gap.json)) } throws: { error in
            let error = error as! CoAPError
            return error.code == .conflict && error.message.contains("expected seq 2")
        }
        #expect(try gateway.store.deviceEvents(device: "entrance-1").map(\.seq) == [1])
        let ack = try RegistrationAck(json: try JSON.parse(
            try await client.request(post(SitePaths.register, registration.json)).payload))
        #expect(ack.lastSeq == 1)
    }

    @Test func outOfRangeIntegersGetBadRequestAndTheGatewayKeepsServing() async throws {
        let gateway = try RunningGateway()
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        _ = try await client.request(post(SitePaths.register, registration.json))
        let old = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
        func refused(_ event: DeviceEvent, naming field: String) async {
            await #expect { try await client.request(post(SitePaths.events, event.json)) } throws: { error in
                let error = error as! CoAPError
                return error.code == .badRequest && error.message.contains("'\(field)'")
            }
        }
        await refused(DeviceEvent(epoch: "e1", seq: 1, kind: .motion, at: .min, fields: ["state": "start"]), naming: "at")
        await refused(DeviceEvent(epoch: "e1", seq: 1, kind: .motion, at: .max, fields: ["state": "start"]), naming: "at")
        await refused(DeviceEvent(epoch: "e1", seq: .max, kind: .motion, at: old, fields: ["state": "start"]), naming: "seq")
        await refused(DeviceEvent(epoch: "e1", seq: 1, kind: .scan, at: old,
                                  fields: ["tags": [["id": "t", "rssi": .int(.min)]]]), naming: "rssi")
        // Nothing was lost: the next events are taken in order.
        for seq in Int64(1)...2 {
            let event = DeviceEvent(epoch: "e1", seq: seq, kind: .motion, at: old, fields: ["state": "end"])
            #expect(try await client.request(post(SitePaths.events, event.json)).code == .created)
        }
        // A row stored before seq was bounded: the next event must not compute Int64.max + 1.
        _ = try gateway.store.appendDeviceEvent(DeviceEventRecord(device: "entrance-1", epoch: "e0", seq: .max,
                                                                  kind: "motion", at: old, body: "{}", receivedAt: old))
        let after = DeviceEvent(epoch: "e0", seq: 1, kind: .motion, at: old, fields: ["state": "end"])
        #expect(try await client.request(post(SitePaths.events, after.json)).code == .created)
        #expect(try gateway.store.deviceEvents(device: "entrance-1").map(\.seq) == [1, 2, .max, 1])
        #expect(try await client.request(CoAPRequest(.get, SitePaths.visits)).code == .content)
    }

    @Test func registryWritesNeedAnAdminIdentity() async throws {
        let gateway = try RunningGateway()
        let device = try await gateway.client("entrance-1")
        defer { device.close() }
        let person = post(SitePaths.persons, Person(id: "ada", name: "Ada").json)
        await #expect { try await device.request(person) } throws: { error in
            (error as! CoAPError).code == .forbidden
        }
        let admin = try await gateway.client("admin")
        defer { admin.close() }
        #expect(try await admin.request(person).code == .created)
        let listed = try await device.request(CoAPRequest(.get, SitePaths.persons))
        #expect(try JSON.parse(listed.payload) == [Person(id: "ada", name: "Ada").json])
        let tagForNobody = post(SitePaths.tags, Tag(id: "t1", person: "nobody").json)
        await #expect { try await admin.request(tagForNobody) } throws: { error in
            (error as! CoAPError).code == .notFound
        }
    }
}
