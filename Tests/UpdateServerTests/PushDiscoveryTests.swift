import CoAP
import Foundation
import HummingbirdTesting
import Testing
import UpdateServer

/// The push endpoint's `/.well-known/core` must not be a list of the fleet's device ids.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PushDiscoveryTests {
    @Test func wellKnownCoreListsOnlyTheAskingDevice() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client async throws in
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "office"]).0 == .created)
        }
        var credentials: [PSKCredentials] = []
        for id in ["pi-1", "pi-2", "lobby-screen"] {
            credentials.append(try await provision(service, id, group: "office"))
        }
        let port = freeUDPPort()
        let hub = try await PushHub(host: "127.0.0.1", port: port, databaseLocation: fixture.options.databaseLocation)
        defer { hub.stop() }
        let device = try await CoAPClient.connect(host: "127.0.0.1", port: port, credentials: credentials[0])
        defer { device.close() }
        let response = try await device.request(CoAPRequest(.get, ".well-known/core"))
        let links = String(decoding: response.payload, as: UTF8.self)
        #expect(response.contentFormat == ContentFormat.linkFormat)
        #expect(links == "</dev/pi-1/deployment>;rt=\"nanoedge.deployment\";ct=50;obs")
        #expect(!links.contains("pi-2") && !links.contains("lobby-screen"), "other devices' ids: \(links)")
        // The device still observes its own resource at the path it builds from its id.
        var notifications = device.observe(PushHub.path(device: "pi-1")).makeAsyncIterator()
        #expect(try await nextAssignment(&notifications) { _ in true } == nil, "nothing assigned yet")
    }
}
