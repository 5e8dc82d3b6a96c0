import GatewayPolicy
import Testing

@Suite struct RateLimiterTests {
    let limits = RateLimiter.Limits(messagesPerSecond: 10, burstMessages: 5, bytesPerSecond: 2_000, burstBytes: 4_000)

    @Test func aBurstIsAllowedThenRefusedWithTheTimeToWait() {
        var limiter = RateLimiter(limits: limits)
        for _ in 0..<5 { #expect(limiter.admit(device: "d", bytes: 10, now: 0) == .allow) }
        #expect(limiter.admit(device: "d", bytes: 10, now: 0)
            == .limited(retryAfterMs: 100, reason: "more than 10 messages/s"))
        // One token every 100 ms.
        #expect(limiter.admit(device: "d", bytes: 10, now: 99) != .allow)
        #expect(limiter.admit(device: "d", bytes: 10, now: 100) == .allow)
    }

    @Test func extremeLimitsBuiltInCodeDoNotTrap() {
        var limiter = RateLimiter(limits: .init(messagesPerSecond: 1e-300, burstMessages: 1e300,
                                                bytesPerSecond: 1e-300, burstBytes: .infinity))
        _ = limiter.admit(device: "d", bytes: 10, now: 0)
        limiter.forgetIdle(now: 1)
        #expect(limiter.trackedDevices == 1)
    }

    @Test func devicesHaveTheirOwnBuckets() {
        var limiter = RateLimiter(limits: limits)
        for _ in 0..<5 { _ = limiter.admit(device: "flood", bytes: 0, now: 0) }
        #expect(limiter.admit(device: "flood", bytes: 0, now: 0) != .allow)
        #expect(limiter.admit(device: "calm", bytes: 0, now: 0) == .allow)
    }

    @Test func bytesAreLimitedToo() {
        var limiter = RateLimiter(limits: limits)
        #expect(limiter.admit(device: "d", bytes: 3_000, now: 0) == .allow)
        #expect(limiter.admit(device: "d", bytes: 2_000, now: 0)
            == .limited(retryAfterMs: 500, reason: "more than 2000 bytes/s"))
        #expect(limiter.admit(device: "d", bytes: 2_000, now: 500) == .allow)
    }

    @Test func aRefusedRequestTakesNothing() {
        var limiter = RateLimiter(limits: limits)
        #expect(limiter.admit(device: "d", bytes: 4_000, now: 0) == .allow)
        for _ in 0..<10 { #expect(limiter.admit(device: "d", bytes: 1_000, now: 0) != .allow) }
        // 500 ms later 1000 bytes have come back, whatever was refused meanwhile.
        #expect(limiter.admit(device: "d", bytes: 1_000, now: 500) == .allow)
    }

    @Test func aBodyLargerThanTheBurstNeverFits() {
        var limiter = RateLimiter(limits: limits)
        guard case .limited(let wait, let reason) = limiter.admit(device: "d", bytes: 5_000, now: 0) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(wait == -1)
        #expect(reason.contains("over the burst of 4000 bytes"))
    }

    @Test func idleDevicesAreForgotten() {
        var limiter = RateLimiter(limits: limits)
        _ = limiter.admit(device: "a", bytes: 0, now: 0)
        _ = limiter.admit(device: "b", bytes: 0, now: 10_000)
        limiter.forgetIdle(now: 10_000)
        #expect(limiter.trackedDevices == 1)
    }
}

@Suite struct LoadShedderTests {
    let settings = LoadShedder.Settings(windowMs: 100, tripBusyFraction: 0.5, coolDownMs: 1_000, fairShare: 0.3)

    @Test func aBusyWindowShedsTheHeavySenderOnly() {
        var shedder = LoadShedder(settings: settings, now: 0)
        // 90 requests from "flood" and 10 from "calm", 600 µs each: 60 ms busy out of 100.
        for i in 0..<100 {
            let device = i % 10 == 0 ? "calm" : "flood"
            #expect(shedder.admit(device: device, now: Int64(i)) == .allow)
            shedder.handled(device: device, micros: 600, now: Int64(i))
        }
        #expect(shedder.admit(device: "flood", now: 100) == .shed(retryAfterMs: 1_000))
        #expect(shedder.admit(device: "calm", now: 100) == .allow)
        #expect(shedder.trips == 1)
        #expect(shedder.admit(device: "flood", now: 1_099) == .shed(retryAfterMs: 1))
        #expect(shedder.admit(device: "flood", now: 1_100) == .allow)
        #expect(!shedder.isOpen)
    }

    @Test func aQuietWindowShedsNobody() {
        var shedder = LoadShedder(settings: settings, now: 0)
        for i in 0..<100 {
            shedder.handled(device: "flood", micros: 100, now: Int64(i))
        }
        #expect(shedder.admit(device: "flood", now: 100) == .allow)
        #expect(shedder.trips == 0)
    }

    @Test func evenLoadShedsNobody() {
        var shedder = LoadShedder(settings: settings, now: 0)
        for i in 0..<100 {
            shedder.handled(device: "d\(i % 5)", micros: 900, now: Int64(i))
        }
        // Each of 5 devices sent 20%: under the 30% fair share, so nobody is singled out.
        for d in 0..<5 { #expect(shedder.admit(device: "d\(d)", now: 100) == .allow) }
    }
}
