import Rollout
import Testing

/// FuzzUpdateServerBodies found `boundaries` trapping on a deployment body whose second wave is a
/// count near Int.max (`reached + size`).
@Suite struct PlanOverflowTests {
    @Test(arguments: [Int.max, Int.max - 1, Int.max / 2 + 1])
    func aHugeCountWaveTakesTheRest(count: Int) {
        let plan = RolloutPlan(waves: [.count(1), .count(count), .count(count)])
        #expect(plan.boundaries(deviceCount: 3) == [1, 3])
        #expect(plan.boundaries(deviceCount: 1) == [1])
    }

    @Test func ordinaryWavesAreUnchanged() {
        let plan = RolloutPlan(waves: [.percent(10), .count(2), .percent(50)])
        #expect(plan.boundaries(deviceCount: 20) == [2, 4, 14, 20])
    }
}
