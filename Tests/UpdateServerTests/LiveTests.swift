import CoAP
import CryptoEVP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSON
import Releases
import Rollout
import Testing
import UpdateServer
import UpdateStore

/// Runs a blocking child process on a thread of its own, so the server keeps its threads.
func runDetached(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try PostgresServer.run(tool, arguments) })
        }.start()
    }
}

let ngclientScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python/ngclient_fetch.py").path

/// Adds a device and returns its DTLS credentials.
func provision(_ service: UpdateService, _ id: String, group: String) async throws -> PSKCredentials {
    let (_, psk) = try await service.addDevice(id: id, board: "rpi4b", group: group)
    return PSKCredentials(identity: id, key: Hex.decode(psk)!)
}

/// Waits for the next notification whose target satisfies `matches`.
func nextAssignment(_ stream: inout AsyncStream<Result<CoAPResponse, CoAPError>>.Iterator,
                    timeout: Duration = .seconds(10), where matches: (String?) -> Bool) async throws -> String? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        guard let result = await stream.next() else { return nil }
        let response = try result.get()
        let json = try JSON.parse(response.payload)
        let target = json["target"]?.stringValue
        if matches(target) { return target }
    }
    return nil
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct LiveTests {
    /// python-tuf's ngclient, the reference client, refreshes from the running server and downloads.
    @Test func pythonTUFUpdaterRefreshesAndDownloadsARelease() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        let artifact = elfExecutable(size: 300_000)
        let work = try TemporaryDirectory()
        try await fixture.application(service).test(.live) { client in
            #expect(try await client.release(agentQuery + "&version=3.1.4&security_counter=1", artifact).0 == .created)
            let port = try #require(client.port)
            let result = try await runDetached("/usr/bin/env", ["python3", ngclientScript, "http://127.0.0.1:\(port)",
                                                                fixture.rootFile, work.path, "nanoedge-agent-3.1.4"])
            #expect(result.status == 0, "\(result.output)")
            let json = try JSON.parse(result.output)
            let target = json["targets"]?["nanoedge-agent-3.1.4"]
            #expect(target?["length"]?.intValue == Int64(artifact.count))
            #expect(target?["sha256"]?.stringValue == Hex.encode(Digest.sha256(artifact)))
            #expect(target?["custom"]?["version"]?.stringValue == "3.1.4")
            #expect(target?["custom"]?["kind"]?.stringValue == "binary")
            #expect(json["versions"]?["root"]?.intValue == 1)
            #expect((json["versions"]?["targets"]?.intValue ?? 0) >= 2)
        }
    }

    /// The server re-signs the timestamp on its own before it expires.
    @Test func timestampIsResignedBeforeItExpires() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        let before = try service.repository.newestVersion("timestamp")
        await service.tick()
        #expect(try service.repository.newestVersion("timestamp") == before, "a fresh timestamp is left alone")
        fixture.clock.advance(milliseconds: 17 * 3_600_000)
        let next = await service.tick()
        #expect(try service.repository.newestVersion("timestamp") == before + 1)
        #expect(next > fixture.clock.now)
    }

    /// A device observing `dev/<id>/deployment` is notified as soon as a deployment reaches it.
    @Test func pushNotifiesAnObservingDeviceAtOnce() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        let port = freeUDPPort()
        let hub = try await PushHub(host: "127.0.0.1", port: port, databaseLocation: fixture.options.databaseLocation)
        defer { hub.stop() }
        service.addNotifier(hub)
        try await fixture.application(service).test(.router) { client async throws in
            #expect(try await client.release(agentQuery + "&version=1.0.0", elfExecutable()).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "office"]).0 == .created)
        }
        let credentials = try await provision(service, "pi-1", group: "office")
        let device = try await CoAPClient.connect(host: "127.0.0.1", port: port, credentials: credentials)
        defer { device.close() }
        var notifications = device.observe(PushHub.path(device: "pi-1")).makeAsyncIterator()
        #expect(try await nextAssignment(&notifications) { _ in true } == nil, "nothing assigned yet")
        _ = try await service.createDeployment(target: "nanoedge-agent-1.0.0", group: "office",
                                               plan: RolloutPlan(waves: [.percent(100)]), allowDowngrade: false)
        #expect(try await nextAssignment(&notifications) { $0 != nil } == "nanoedge-agent-1.0.0")

        // Another device may not read pi-1's assignment.
        let intruder = try await provision(service, "pi-2", group: "office")
        let other = try await CoAPClient.connect(host: "127.0.0.1", port: port, credentials: intruder)
        defer { other.close() }
        let refused = await #expect(throws: CoAPError.self) {
            _ = try await other.request(CoAPRequest(.get, PushHub.path(device: "pi-1")))
        }
        #expect(refused?.code == .forbidden)
    }

    /// Two replicas on one PostgreSQL database: same state from both, and a deployment made on one
    /// is pushed by the other to the device that observes it there.
    @Test func replicasShareStateAndPushEachOthersDeployments() async throws {
        let fixture = try ServerFixture(.postgres)
        let replicaA = try await fixture.service()
        let replicaB = try await fixture.service()
        let portA = freeUDPPort()
        let portB = freeUDPPort()
        let hubA = try await PushHub(host: "127.0.0.1", port: portA, databaseLocation: fixture.options.databaseLocation)
        let hubB = try await PushHub(host: "127.0.0.1", port: portB, databaseLocation: fixture.options.databaseLocation)
        defer {
            hubA.stop()
            hubB.stop()
        }
        replicaA.addNotifier(hubA)
        replicaB.addNotifier(hubB)
        try await fixture.application(replicaA).test(.router) { client async throws in
            #expect(try await client.release(agentQuery + "&version=1.0.0", elfExecutable(seed: 1)).0 == .created)
            #expect(try await client.release(agentQuery + "&version=1.1.0", elfExecutable(seed: 2)).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "office"]).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "lab"]).0 == .created)
        }
        let credentials = try await provision(replicaA, "pi-1", group: "office")
        for index in 2...6 { _ = try await provision(replicaA, "pi-\(index)", group: index % 2 == 0 ? "office" : "lab") }

        // The device observes replica B, which learns of pi-1 through NOTIFY, asynchronously: until
        // then it answers 4.04, as it does for any device it does not know, and the device asks again.
        let device = try await CoAPClient.connect(host: "127.0.0.1", port: portB, credentials: credentials)
        defer { device.close() }
        var notifications = device.observe(PushHub.path(device: "pi-1")).makeAsyncIterator()
        let learnt = ContinuousClock.now + .seconds(10)
        while true {
            do {
                #expect(try await nextAssignment(&notifications) { _ in true } == nil)
                break
            } catch let error as CoAPError where error.code == .notFound && ContinuousClock.now < learnt {
                try await Task.sleep(for: .milliseconds(100))
                notifications = device.observe(PushHub.path(device: "pi-1")).makeAsyncIterator()
            }
        }

        // Replica A deploys; replica B pushes.
        let deployment = try await replicaA.createDeployment(target: "nanoedge-agent-1.0.0", group: "office",
                                                             plan: RolloutPlan(waves: [.percent(100)]), allowDowngrade: false)
        #expect(try await nextAssignment(&notifications) { $0 != nil } == "nanoedge-agent-1.0.0")

        // Both replicas answer the same.
        var answers: [String] = []
        for replica in [replicaA, replicaB] {
            answers.append(try await fixture.application(replica).test(.router) { client async throws -> String in
                let (_, deployments) = try await client.api("/api/v1/deployments")
                let (_, timestamp) = try await client.api("/metadata/timestamp.json", token: nil)
                return (deployments?.serialized() ?? "") + (timestamp?.serialized() ?? "")
            })
        }
        #expect(answers[0] == answers[1])
        #expect(answers[0].contains("\"id\":\(deployment.id)"))

        // Concurrent deployments on both replicas: each group ends with exactly one active rollout,
        // the newest, and every deployment lists each member once.
        let plan = RolloutPlan(waves: [.count(1)])
        async let a1 = replicaA.createDeployment(target: "nanoedge-agent-1.1.0", group: "office", plan: plan, allowDowngrade: false)
        async let b1 = replicaB.createDeployment(target: "nanoedge-agent-1.1.0", group: "office", plan: plan, allowDowngrade: false)
        async let a2 = replicaA.createDeployment(target: "nanoedge-agent-1.1.0", group: "lab", plan: plan, allowDowngrade: false)
        async let b2 = replicaB.createDeployment(target: "nanoedge-agent-1.0.0", group: "lab", plan: plan, allowDowngrade: true)
        let created = try await [a1, b1, a2, b2]
        #expect(Set(created.map(\.id)).count == 4)
        let all = try await replicaB.pool.run { store throws(StoreError) in try store.deployments() }
        for group in ["office", "lab"] {
            let mine = all.filter { $0.group == group }
            let active = mine.filter { $0.state.status == .active || $0.state.status == .completed }
            let newest = try #require(mine.max { $0.id < $1.id })
            #expect(active.map(\.id).contains(newest.id))
            #expect(mine.filter { $0.state.status == .active }.count <= 1)
            for record in mine {
                let members = try await replicaA.pool.run { store throws(StoreError) in try store.deploymentDevices(record.id) }
                #expect(members.map(\.position) == Array(0..<members.count))
                #expect(Set(members.map(\.device)).count == members.count)
            }
        }
        // pi-1 (office) ends with the newest office deployment's target, pushed through replica B.
        let newestOffice = try #require(all.filter { $0.group == "office" }.max { $0.id < $1.id })
        #expect(try await nextAssignment(&notifications) { $0 == newestOffice.target } == newestOffice.target)
    }
}
