import Foundation
import Releases
import Rollout
import Testing
import UpdateStore

/// A group of simulated devices in a fresh store, with two releases of one app.
struct Fleet {
    let directory: TemporaryDirectory
    let location: String
    let store: UpdateStore
    let devices: [String]

    init(_ backend: Backend, devices count: Int = 20) throws {
        directory = try TemporaryDirectory()
        location = try backend.location(in: directory)
        store = try UpdateStore.open(location)
        try store.addGroup(name: "office", at: 1)
        devices = (0..<count).map { String(format: "pi-%02d", $0) }
        for device in devices {
            try store.addDevice(id: device, board: "rpi4b", group: "office", tokenHash: "hash-\(device)", psk: "00", at: 1)
        }
        for version in ["1.0.0", "1.1.0"] {
            let custom = TargetCustom(kind: .binary, name: "app", version: ReleaseVersion(version)!, boards: ["rpi4b"])
            try store.addRelease(ReleaseRecord(target: "app-\(version)", custom: custom, sha256: String(repeating: "a", count: 64),
                                               length: 10, createdAt: 1))
        }
    }

    func target(of device: String) throws -> String? { try store.assignment(device: device)?.0.target }

    func report(_ device: String, _ deployment: DeploymentRecord, _ outcome: UpdateReport.Outcome, at now: Int64) throws -> [AssignmentChange] {
        try store.report(device: device, UpdateReport(deployment: deployment.id, target: deployment.target, outcome: outcome,
                                                      error: outcome == .failure ? "health check failed" : nil), at: now)
    }

    /// Devices told about `deployment`, in order.
    func reached(_ deployment: Int64) throws -> [String] {
        let record = try #require(try store.deployment(id: deployment))
        return try store.deploymentDevices(deployment).filter { $0.position < record.reachedCount }.map(\.device)
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct UpdateStoreTests {
    /// The store holds device tokens' hashes and PSKs: created 0600, and its -wal too.
    @Test func anSQLiteStoreIsCreated0600() throws {
        let fleet = try Fleet(.sqlite, devices: 1)
        for file in [fleet.location, fleet.location + "-wal"] {
            var info = stat()
            #expect(stat(file, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600, "\(file)")
        }
    }

    @Test(arguments: Backend.allCases)
    func twentyDevicesInThreeWavesComplete(backend: Backend) throws {
        let fleet = try Fleet(backend)
        let plan = RolloutPlan(waves: [.percent(10), .percent(40)], maxFailures: .count(0))
        let (deployment, first) = try fleet.store.createDeployment(target: "app-1.0.0", group: "office", plan: plan, at: 100)
        #expect(first == [AssignmentChange(deployment: deployment.id, devices: ["pi-00", "pi-01"])])
        #expect(try fleet.target(of: "pi-00") == "app-1.0.0")
        #expect(try fleet.target(of: "pi-02") == nil, "not reached yet")

        var now: Int64 = 200
        var reachedInOrder: [[String]] = [first[0].devices]
        while let record = try fleet.store.deployment(id: deployment.id), record.state.status == .active {
            let reached = try fleet.reached(deployment.id)
            for device in reached where try fleet.store.deploymentDevices(deployment.id).first(where: { $0.device == device })?.outcome == .pending {
                now += 1
                for change in try fleet.report(device, record, .success, at: now) where !change.devices.isEmpty {
                    reachedInOrder.append(change.devices)
                }
            }
        }
        let final = try #require(try fleet.store.deployment(id: deployment.id))
        #expect(final.state.status == .completed)
        #expect(reachedInOrder.map(\.count) == [2, 8, 10])
        #expect(Set(reachedInOrder.joined()) == Set(fleet.devices))
        for device in fleet.devices { #expect(try fleet.target(of: device) == "app-1.0.0") }
        let progress = try fleet.store.progress(final)
        let counts: [Int] = [progress.reached, progress.succeeded, progress.failed, progress.pending]
        #expect(counts == [20, 20, 0, 0])
    }

    @Test(arguments: Backend.allCases)
    func failuresOverTheThresholdHaltAndLaterWavesKeepTheOldRelease(backend: Backend) throws {
        let fleet = try Fleet(backend)
        // Everyone runs 1.0.0 first.
        let (old, _) = try fleet.store.createDeployment(target: "app-1.0.0", group: "office", plan: RolloutPlan(waves: [.percent(100)]), at: 10)
        for device in fleet.devices { _ = try fleet.report(device, old, .success, at: 11) }
        #expect(try fleet.store.deployment(id: old.id)?.state.status == .completed)

        let plan = RolloutPlan(waves: [.count(5), .count(5)], maxFailures: .count(1))
        let (new, first) = try fleet.store.createDeployment(target: "app-1.1.0", group: "office", plan: plan, at: 20)
        let wave1 = first[0].devices
        #expect(wave1 == ["pi-00", "pi-01", "pi-02", "pi-03", "pi-04"])
        _ = try fleet.report("pi-00", new, .failure, at: 21)
        _ = try fleet.report("pi-01", new, .success, at: 22)
        let halting = try fleet.report("pi-02", new, .failure, at: 23)
        #expect(halting.allSatisfy { Set($0.devices).isSubset(of: ["pi-02"]) }, "nobody new is reached")
        let halted = try #require(try fleet.store.deployment(id: new.id))
        #expect(halted.state.status == .halted)
        #expect(halted.state.haltReason?.contains("2 failures") == true)

        // Late reports from the first wave do not restart it.
        _ = try fleet.report("pi-03", new, .success, at: 24)
        _ = try fleet.report("pi-04", new, .success, at: 25)
        #expect(try fleet.reached(new.id) == wave1)
        #expect(try fleet.store.tick(at: 1_000_000).isEmpty)

        // Later waves never see 1.1.0; failed devices go back to 1.0.0; the others keep 1.1.0.
        for device in fleet.devices.dropFirst(5) { #expect(try fleet.target(of: device) == "app-1.0.0") }
        #expect(try fleet.target(of: "pi-00") == "app-1.0.0")
        #expect(try fleet.target(of: "pi-02") == "app-1.0.0")
        #expect(try fleet.target(of: "pi-01") == "app-1.1.0")

        // A report from a device the halted rollout never reached changes nothing.
        let refused = #expect(throws: StoreError.self) { try fleet.report("pi-10", new, .success, at: 26) }
        #expect(refused?.code == .invalid)
        #expect(try fleet.store.deploymentDevices(new.id).first { $0.device == "pi-10" }?.outcome == .pending)
    }

    @Test(arguments: Backend.allCases)
    func resumeGoesOnFromTheHaltedWave(backend: Backend) throws {
        let fleet = try Fleet(backend, devices: 6)
        let plan = RolloutPlan(waves: [.count(2), .count(2)], maxFailures: .count(0))
        let (deployment, _) = try fleet.store.createDeployment(target: "app-1.1.0", group: "office", plan: plan, at: 1)
        _ = try fleet.report("pi-00", deployment, .failure, at: 2)
        #expect(try fleet.store.deployment(id: deployment.id)?.state.status == .halted)
        let (resumed, _) = try fleet.store.resume(deployment: deployment.id, at: 3)
        #expect(resumed.state.status == .active)
        let changes = try fleet.report("pi-01", deployment, .success, at: 4)
        #expect(changes.flatMap(\.devices).contains("pi-02"))
        let halt = #expect(throws: StoreError.self) { try fleet.store.resume(deployment: deployment.id, at: 5) }
        #expect(halt?.code == .conflict)
    }

    @Test(arguments: Backend.allCases)
    func aNewDeploymentSupersedesAnActiveOne(backend: Backend) throws {
        let fleet = try Fleet(backend, devices: 4)
        let slow = RolloutPlan(waves: [.count(1)])
        let (first, _) = try fleet.store.createDeployment(target: "app-1.0.0", group: "office", plan: slow, at: 1)
        let (second, _) = try fleet.store.createDeployment(target: "app-1.1.0", group: "office", plan: slow, at: 2)
        #expect(try fleet.store.deployment(id: first.id)?.state.status == .superseded)
        #expect(try fleet.target(of: "pi-00") == "app-1.1.0")
        #expect(second.state.status == .active)
    }

    @Test(arguments: Backend.allCases)
    func aDeviceThatJoinsLateGetsTheGroupsRelease(backend: Backend) throws {
        let fleet = try Fleet(backend, devices: 2)
        let (deployment, _) = try fleet.store.createDeployment(target: "app-1.0.0", group: "office",
                                                               plan: RolloutPlan(waves: [.percent(100)]), at: 1)
        for device in fleet.devices { _ = try fleet.report(device, deployment, .success, at: 2) }
        let changes = try fleet.store.addDevice(id: "late", board: "rpi4b", group: "office", tokenHash: "late", psk: "00", at: 3)
        #expect(changes.contains(AssignmentChange(deployment: deployment.id, devices: ["late"])))
        #expect(try fleet.target(of: "late") == "app-1.0.0")
    }

    @Test(arguments: Backend.allCases)
    func badInputChangesNothing(backend: Backend) throws {
        let fleet = try Fleet(backend, devices: 3)
        let (deployment, _) = try fleet.store.createDeployment(target: "app-1.0.0", group: "office",
                                                               plan: RolloutPlan(waves: [.count(1)]), at: 1)
        let wrongTarget = #expect(throws: StoreError.self) {
            try fleet.store.report(device: "pi-00", UpdateReport(deployment: deployment.id, target: "app-1.1.0", outcome: .success), at: 2)
        }
        #expect(wrongTarget?.code == .invalid)
        let unknown = #expect(throws: StoreError.self) {
            try fleet.store.report(device: "pi-00", UpdateReport(deployment: 999, target: "app-1.0.0", outcome: .success), at: 2)
        }
        #expect(unknown?.code == .notFound)
        #expect(try fleet.store.deploymentDevices(deployment.id).allSatisfy { $0.outcome == .pending })
        let noGroup = #expect(throws: StoreError.self) {
            try fleet.store.createDeployment(target: "app-1.0.0", group: "nowhere", plan: RolloutPlan(waves: [.count(1)]), at: 3)
        }
        #expect(noGroup?.code == .notFound)
        let duplicate = #expect(throws: StoreError.self) {
            try fleet.store.addDevice(id: "pi-00", board: "rpi4b", group: "office", tokenHash: "other", psk: "00", at: 4)
        }
        #expect(duplicate?.code == .conflict)
        #expect(try fleet.store.deployments().count == 1)
    }

    /// Two connections (two replicas) deploy to the same group at once: the group row serialises
    /// them, exactly one stays active, and every device has one position in each.
    @Test(arguments: Backend.allCases)
    func concurrentDeploymentsDoNotCorruptEachOther(backend: Backend) async throws {
        let fleet = try Fleet(backend, devices: 30)
        let location = fleet.location
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for (index, target) in ["app-1.0.0", "app-1.1.0", "app-1.0.0", "app-1.1.0"].enumerated() {
                group.addTask {
                    let store = try UpdateStore.open(location)
                    return try store.createDeployment(target: target, group: "office",
                                                      plan: RolloutPlan(waves: [.count(3)]), at: Int64(100 + index)).0.id
                }
            }
            var ids: [Int64] = []
            for try await id in group { ids.append(id) }
            #expect(Set(ids).count == 4)
        }
        let deployments = try fleet.store.deployments()
        #expect(deployments.count == 4)
        #expect(deployments.filter { $0.state.status == .active }.count == 1)
        #expect(deployments.filter { $0.state.status == .superseded }.count == 3)
        let newest = try #require(deployments.max { $0.id < $1.id })
        #expect(newest.state.status == .active)
        for deployment in deployments {
            let entries = try fleet.store.deploymentDevices(deployment.id)
            #expect(entries.map(\.position) == Array(0..<30))
            #expect(Set(entries.map(\.device)) == Set(fleet.devices))
        }
        #expect(try fleet.target(of: "pi-00") == newest.target)
    }
}
