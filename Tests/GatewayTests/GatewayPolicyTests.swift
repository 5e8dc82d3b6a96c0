import CoAP
import Foundation
import Gateway
import GatewayPolicy
import JSON
import Site
import Synchronization
import Testing

private func milliseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1_000_000
}

private func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

/// Round-trip times of `count` GETs of /devices, paced at `intervalMs`.
private func latencies(_ client: CoAPClient, count: Int, intervalMs: UInt64) async throws -> [Double] {
    var samples: [Double] = []
    for _ in 0..<count {
        let start = milliseconds()
        let response = try await client.request(CoAPRequest(.get, SitePaths.devices))
        #expect(response.code == .content)
        samples.append(milliseconds() - start)
        try await Task.sleep(nanoseconds: intervalMs * 1_000_000)
    }
    return samples
}

private final class Tally: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    private let maxAges = Mutex<Set<UInt32>>([])
    func add(_ key: String, maxAge: UInt32? = nil) {
        counts.withLock { $0[key, default: 0] += 1 }
        if let maxAge { maxAges.withLock { _ = $0.insert(maxAge) } }
    }
    subscript(key: String) -> Int { counts.withLock { $0[key] ?? 0 } }
    var sawMaxAge: Bool { maxAges.withLock { !$0.isEmpty } }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct GatewayPolicyTests {
    @Test func aFloodingDeviceIsLimitedWhileWellBehavedDevicesKeepTheirLatency() async throws {
        var policy = GatewayPolicy()
        policy.rate = .init(messagesPerSecond: 50, burstMessages: 50, bytesPerSecond: 64 * 1024, burstBytes: 128 * 1024)
        let gateway = try RunningGateway(policy: policy, devices: [("calm-1", ["presence"]), ("flood-1", ["presence"])])
        let calm = try await gateway.client("calm-1")
        let flood = try await gateway.client("flood-1")
        defer { calm.close(); flood.close() }

        let unloaded = try await latencies(calm, count: 60, intervalMs: 25)

        // The misbehaving device: 16 requests in flight, as fast as the gateway answers.
        let tally = Tally()
        let flooding = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        while !Task.isCancelled {
                            do throws(CoAPError) {
                                _ = try await flood.request(CoAPRequest(.get, SitePaths.devices), timeoutMilliseconds: 2_000)
                                tally.add("ok")
                            } catch {
                                tally.add(error.code.map { "\($0)" } ?? "\(error.kind)", maxAge: error.retryAfterSeconds)
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let loaded = try await latencies(calm, count: 60, intervalMs: 25)
        flooding.cancel()
        _ = await flooding.result

        let refused = tally["\(CoAPCode.tooManyRequests)"] + tally["\(CoAPCode.serviceUnavailable)"]
        #expect(refused > tally["ok"], "the flood is mostly refused: \(refused) refused, \(tally["ok"]) served")
        #expect(tally.sawMaxAge, "refusals carry Max-Age")
        let before = percentile(unloaded, 0.99)
        let during = percentile(loaded, 0.99)
        print("policy flood: p99 unloaded \(before) ms, under flood \(during) ms; refused \(refused), served \(tally["ok"])")
        // Loose on purpose: two cores are shared by the gateway, the flood and this test.
        #expect(during <= max(2 * before, before + 15), "p99 unloaded \(before) ms, under flood \(during) ms")
        let counters = try await onLoop(gateway) { $0.policyCounters }
        #expect(counters.rateLimited + counters.shed == refused)
    }

    @Test func accessRulesRefuseWhatARoleMayNotDo() async throws {
        let gateway = try RunningGateway(devices: [("corridor-1", ["guidance"])])
        let corridor = try await gateway.client("corridor-1")
        let entrance = try await gateway.client("entrance-1")
        defer { corridor.close(); entrance.close() }
        #expect(try await entrance.request(post(SitePaths.register, registration.json)).code == .changed)
        await #expect {
            try await corridor.request(CoAPRequest(.get, SitePaths.content, query: "meeting=m1"))
        } throws: { error in
            let error = error as! CoAPError
            return error.code == .forbidden
                && error.message.contains("corridor-1 (roles: guidance) may not GET /content")
        }
        // Observing another device's commands is refused too.
        let registered = try await corridor.request(post(SitePaths.register, Registration(
            roles: [.guidance], location: "entrance", board: "sim", version: "t", epoch: "e").json))
        #expect(registered.code == .changed)
        await #expect {
            try await corridor.request(CoAPRequest(.get, SitePaths.commands(device: "entrance-1")))
        } throws: { error in (error as! CoAPError).code == .forbidden }
    }

    @Test func aRateLimitedEventIsRefusedWithoutBeingStored() async throws {
        var policy = GatewayPolicy()
        policy.rate = .init(messagesPerSecond: 1, burstMessages: 2, bytesPerSecond: 64 * 1024, burstBytes: 128 * 1024)
        let gateway = try RunningGateway(policy: policy)
        let client = try await gateway.client("entrance-1")
        defer { client.close() }
        #expect(try await client.request(post(SitePaths.register, registration.json)).code == .changed)
        let first = DeviceEvent(epoch: "e1", seq: 1, kind: .fault, at: Timestamp.accepted.lowerBound + 1,
                                fields: ["message": "x"])
        #expect(try await client.request(post(SitePaths.events, first.json)).code == .created)
        let second = DeviceEvent(epoch: "e1", seq: 2, kind: .fault, at: Timestamp.accepted.lowerBound + 2,
                                 fields: ["message": "y"])
        await #expect {
            try await client.request(post(SitePaths.events, second.json))
        } throws: { error in
            let error = error as! CoAPError
            return error.code == .tooManyRequests && error.retryAfterSeconds == 1
                && error.message.contains("over its rate limit (more than 1 messages/s)")
        }
        #expect(try gateway.store.deviceEvents(device: "entrance-1").map(\.seq) == [1])
    }
}

/// Reads gateway state on its loop thread.
private func onLoop<T: Sendable>(_ gateway: RunningGateway, _ read: @escaping @Sendable (GatewayServer) -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        nonisolated(unsafe) let server = gateway.server
        server.execute { continuation.resume(returning: read(server)) }
    }
}
