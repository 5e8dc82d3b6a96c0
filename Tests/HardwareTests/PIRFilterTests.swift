import Hardware
import Testing

private func filter(warmup: Int64 = 0, minHigh: Int64 = 50, hold: Int64 = 2_000, stuckHigh: Int64 = 10_000,
                    startedAt: Int64 = 0, lineHigh: Bool = false) -> PIRFilter {
    PIRFilter(configuration: .init(warmupMs: warmup, minHighMs: minHigh, holdMs: hold, stuckHighMs: stuckHigh),
              startedAt: startedAt, lineHigh: lineHigh)
}

private func rise(_ time: Int64) -> LineEdge { LineEdge(rising: true, timestamp: time) }
private func fall(_ time: Int64) -> LineEdge { LineEdge(rising: false, timestamp: time) }

@Suite struct PIRFilterTests {
    @Test func edgesDuringWarmUpAreIgnored() {
        var pir = filter(warmup: 1_000)
        #expect(pir.edge(rise(100)) == [])
        #expect(pir.edge(fall(300)) == [])
        #expect(pir.nextDeadline == nil)
        #expect(pir.tick(now: 5_000) == [])
        #expect(pir.isWarmedUp)
        #expect(pir.edge(rise(5_000)) == [])
        #expect(pir.tick(now: 5_050) == [.motionStarted(at: 5_050)])
    }

    @Test func lineStillHighAfterWarmUpCountsFromWarmUpEnd() {
        var pir = filter(warmup: 1_000)
        #expect(pir.edge(rise(500)) == [])
        #expect(pir.nextDeadline == 1_050)
        #expect(pir.tick(now: 1_049) == [])
        #expect(pir.tick(now: 1_050) == [.motionStarted(at: 1_050)])
    }

    @Test func shortPulseIsAGlitch() {
        var pir = filter(minHigh: 50)
        #expect(pir.edge(rise(100)) == [])
        #expect(pir.nextDeadline == 150)
        #expect(pir.edge(fall(149)) == [])
        #expect(pir.nextDeadline == nil)
        #expect(pir.tick(now: 10_000) == [])
        #expect(!pir.isMotionActive)
    }

    @Test func motionStartIsStampedWhenMinHighIsReachedEvenIfTickedLate() {
        var pir = filter(minHigh: 50)
        _ = pir.edge(rise(100))
        #expect(pir.tick(now: 900) == [.motionStarted(at: 150)])
        #expect(pir.isMotionActive)
    }

    @Test func fallingEdgeAfterLongPulseStartsMotionWithoutATick() {
        var pir = filter(minHigh: 50, hold: 2_000)
        _ = pir.edge(rise(100))
        #expect(pir.edge(fall(400)) == [.motionStarted(at: 150)])
        #expect(pir.nextDeadline == 2_400)
    }

    @Test func motionEndsHoldAfterTheLineWentLow() {
        var pir = filter(minHigh: 50, hold: 2_000)
        _ = pir.edge(rise(0))
        _ = pir.tick(now: 50)
        #expect(pir.edge(fall(1_000)) == [])
        #expect(pir.tick(now: 2_999) == [])
        #expect(pir.tick(now: 3_000) == [.motionEnded(at: 3_000)])
        #expect(pir.nextDeadline == nil)
        #expect(!pir.isMotionActive)
    }

    @Test func risingEdgeWithinHoldRetriggers() {
        var pir = filter(minHigh: 50, hold: 2_000)
        _ = pir.edge(rise(0))
        #expect(pir.tick(now: 50) == [.motionStarted(at: 50)])
        _ = pir.edge(fall(1_000))
        #expect(pir.edge(rise(2_000)) == [])  // no second start
        #expect(pir.edge(fall(2_500)) == [])
        #expect(pir.tick(now: 3_000) == [])  // the first hold would have ended here
        #expect(pir.nextDeadline == 4_500)
        #expect(pir.tick(now: 4_500) == [.motionEnded(at: 4_500)])
    }

    @Test func risingEdgeAfterHoldIsNewMotion() {
        var pir = filter(minHigh: 0, hold: 500)
        #expect(pir.edge(rise(0)) == [.motionStarted(at: 0)])
        _ = pir.edge(fall(100))
        #expect(pir.edge(rise(700)) == [.motionEnded(at: 600), .motionStarted(at: 700)])
    }

    @Test func lateTickReportsEverythingThatHappenedInOrder() {
        var pir = filter(minHigh: 50, hold: 2_000, stuckHigh: 10_000)
        _ = pir.edge(rise(0))
        #expect(pir.tick(now: 60_000) == [.motionStarted(at: 50), .motionEnded(at: 10_000), .sensorFault(stuckSince: 0)])
    }

    @Test func stuckHighIsAFaultUntilTheLineGoesLow() {
        var pir = filter(minHigh: 50, hold: 2_000, stuckHigh: 10_000)
        _ = pir.edge(rise(0))
        #expect(pir.tick(now: 50) == [.motionStarted(at: 50)])
        #expect(pir.nextDeadline == 10_000)
        #expect(pir.tick(now: 10_000) == [.motionEnded(at: 10_000), .sensorFault(stuckSince: 0)])
        #expect(pir.isFaulted)
        #expect(pir.nextDeadline == nil)
        #expect(pir.tick(now: 50_000) == [])
        #expect(pir.edge(fall(60_000)) == [.sensorRecovered(at: 60_000)])
        #expect(!pir.isFaulted)
        #expect(pir.nextDeadline == nil)  // recovery is not motion, so there is no hold to end
        _ = pir.edge(rise(61_000))
        #expect(pir.tick(now: 61_050) == [.motionStarted(at: 61_050)])
    }

    @Test func minHighZeroStartsOnTheRisingEdge() {
        var pir = filter(minHigh: 0, hold: 500)
        #expect(pir.edge(rise(1_234)) == [.motionStarted(at: 1_234)])
        #expect(pir.edge(fall(1_300)) == [])
        #expect(pir.tick(now: 1_800) == [.motionEnded(at: 1_800)])
    }

    @Test func lineHighAtStartIsNotMissed() {
        var pir = filter(minHigh: 50, stuckHigh: 10_000, startedAt: 100, lineHigh: true)
        #expect(pir.tick(now: 150) == [.motionStarted(at: 150)])
        #expect(pir.tick(now: 10_100) == [.motionEnded(at: 10_100), .sensorFault(stuckSince: 100)])
    }

    @Test func repeatedAndOutOfOrderEdgesAreHarmless() {
        var pir = filter(minHigh: 50, hold: 1_000)
        _ = pir.edge(rise(1_000))
        #expect(pir.edge(rise(1_010)) == [])  // no level change
        #expect(pir.nextDeadline == 1_050)
        _ = pir.tick(now: 2_000)
        #expect(pir.edge(fall(1_500)) == [])  // stamped in the past: taken as now
        #expect(pir.nextDeadline == 3_000)
        #expect(pir.edge(fall(2_100)) == [])
    }

    @Test func holdZeroEndsOnTheFallingEdge() {
        var pir = filter(minHigh: 0, hold: 0)
        #expect(pir.edge(rise(10)) == [.motionStarted(at: 10)])
        #expect(pir.edge(fall(20)) == [.motionEnded(at: 20)])
    }

    @Test(arguments: [1, 250, 2_000, 30_000] as [Int64])
    func holdLength(hold: Int64) {
        var pir = filter(minHigh: 0, hold: hold)
        _ = pir.edge(rise(10))
        _ = pir.edge(fall(20))
        #expect(pir.nextDeadline == 20 + hold)
        #expect(pir.tick(now: 20 + hold) == [.motionEnded(at: 20 + hold)])
    }
}
