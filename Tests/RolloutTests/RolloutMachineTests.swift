import Releases
import Rollout
import Testing

/// A clock the test moves by hand.
struct ManualClock {
    var now: Int64 = 1_000_000
    mutating func advance(seconds: Int64) { now += seconds * 1000 }
}

@Suite struct RolloutPlanTests {
    @Test(arguments: [
        ("5", Amount.count(5)), ("0", .count(0)), ("25%", .percent(25)), ("100%", .percent(100)),
    ])
    func parsesAmounts(text: String, expected: Amount) {
        #expect(Amount(text) == expected)
        #expect(Amount(text)?.description == text)
    }

    @Test(arguments: ["", "-1", "101%", "x%", "5 %", "1.5"])
    func refusesBadAmounts(text: String) {
        #expect(Amount(text) == nil)
    }

    @Test func percentWavesRoundUpAndTheRestFormsALastWave() {
        let plan = RolloutPlan(waves: [.percent(10), .percent(40)])
        #expect(plan.boundaries(deviceCount: 20) == [2, 10, 20])
        #expect(plan.boundaries(deviceCount: 5) == [1, 3, 5])
        #expect(plan.boundaries(deviceCount: 0) == [])
    }

    @Test func wavesStopAtTheGroupSize() {
        let plan = RolloutPlan(waves: [.count(3), .count(10), .count(10)])
        #expect(plan.boundaries(deviceCount: 8) == [3, 8])
        #expect(RolloutPlan(waves: [.percent(100)]).boundaries(deviceCount: 7) == [7])
        #expect(RolloutPlan(waves: [.count(0), .count(2)]).boundaries(deviceCount: 4) == [1, 3, 4])
    }

    @Test func thresholdsRoundDown() {
        #expect(Amount.percent(10).tolerated(of: 5) == 0)
        #expect(Amount.percent(10).tolerated(of: 20) == 2)
        #expect(Amount.count(3).tolerated(of: 1) == 3)
    }
}

@Suite struct RolloutMachineTests {
    /// Reports `outcome` for `positions`.
    func report(_ outcomes: inout [DeviceOutcome], _ positions: Range<Int>, _ outcome: DeviceOutcome) {
        for position in positions { outcomes[position] = outcome }
    }

    @Test func twentyDevicesInThreeWavesComplete() {
        var clock = ManualClock()
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.percent(10), .percent(40)]), deviceCount: 20)
        var outcomes = [DeviceOutcome](repeating: .pending, count: 20)
        var (state, actions) = machine.start(now: clock.now)
        #expect(actions == [.reach(0..<2)])
        #expect(machine.reachedCount(state) == 2)

        // One report of two: the wave waits.
        outcomes[0] = .success
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions.isEmpty)
        #expect(state.wave == 0)

        clock.advance(seconds: 30)
        outcomes[1] = .success
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions == [.reach(2..<10)])
        #expect(state.wave == 1)
        #expect(state.waveStartedAt == clock.now)

        report(&outcomes, 2..<10, .success)
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions == [.reach(10..<20)])
        #expect(state.status == .active)

        report(&outcomes, 10..<19, .success)
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions.isEmpty)
        #expect(state.status == .active)
        outcomes[19] = .success
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions == [.complete])
        #expect(state.status == .completed)
        #expect(machine.reachedCount(state) == 20)
    }

    @Test func failuresOverTheThresholdHaltTheFirstWave() {
        let clock = ManualClock()
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(5), .count(5)], maxFailures: .count(1)),
                                     deviceCount: 20)
        var outcomes = [DeviceOutcome](repeating: .pending, count: 20)
        var (state, _) = machine.start(now: clock.now)
        outcomes[0] = .failure
        var actions: [RolloutAction]
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions.isEmpty, "one failure is tolerated")
        outcomes[1] = .failure
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        guard case .halt(let reason)? = actions.first else {
            Issue.record("expected a halt, got \(actions)")
            return
        }
        #expect(reason.contains("2 failures among 5 devices"))
        #expect(state.status == .halted)
        #expect(machine.reachedCount(state) == 5)

        // The rest of the wave succeeds later: a halted rollout reaches nobody new.
        report(&outcomes, 2..<5, .success)
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now + 1)
        #expect(actions.isEmpty)
        #expect(machine.reachedCount(state) == 5)
    }

    @Test func percentThresholdCountsTheDevicesReached() {
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(10)], maxFailures: .percent(10)), deviceCount: 20)
        var outcomes = [DeviceOutcome](repeating: .pending, count: 20)
        var (state, _) = machine.start(now: 0)
        outcomes[0] = .failure
        var actions: [RolloutAction]
        (state, actions) = machine.step(state, outcomes: outcomes, now: 0)
        #expect(actions.isEmpty, "10% of 10 reached tolerates one")
        outcomes[1] = .failure
        (state, actions) = machine.step(state, outcomes: outcomes, now: 0)
        #expect(state.status == .halted)
    }

    @Test func aWaveWithinTheThresholdAdvancesOnceEveryDeviceReported() {
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(4)], maxFailures: .count(1)), deviceCount: 8)
        var outcomes = [DeviceOutcome](repeating: .pending, count: 8)
        var (state, _) = machine.start(now: 0)
        report(&outcomes, 0..<3, .success)
        outcomes[3] = .failure
        var actions: [RolloutAction]
        (state, actions) = machine.step(state, outcomes: outcomes, now: 0)
        #expect(actions == [.reach(4..<8)])
    }

    @Test func anUnboundedSoakSaturatesInsteadOfTrapping() {
        let clock = ManualClock()
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(2)], soakMilliseconds: .max), deviceCount: 4)
        let (state, _) = machine.start(now: clock.now)
        #expect(machine.nextDeadline(state) == .max)
        let (_, actions) = machine.step(state, outcomes: [.success, .pending, .pending, .pending], now: clock.now + 1)
        #expect(actions.isEmpty)
    }

    @Test func soakTimeAdvancesAWaveWithSilentDevices() {
        var clock = ManualClock()
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(2)], soakMilliseconds: 600_000), deviceCount: 4)
        var outcomes = [DeviceOutcome](repeating: .pending, count: 4)
        var (state, _) = machine.start(now: clock.now)
        outcomes[0] = .success
        #expect(machine.nextDeadline(state) == clock.now + 600_000)
        clock.advance(seconds: 599)
        var actions: [RolloutAction]
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions.isEmpty)
        clock.advance(seconds: 1)
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions == [.reach(2..<4)])
        #expect(machine.nextDeadline(state) == clock.now + 600_000)
        clock.advance(seconds: 600)
        (state, actions) = machine.step(state, outcomes: outcomes, now: clock.now)
        #expect(actions == [.complete])
        #expect(machine.nextDeadline(state) == nil)
    }

    @Test func resumeAcceptsTheFailuresSoFar() {
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(2)], maxFailures: .count(0)), deviceCount: 4)
        var outcomes = [DeviceOutcome](repeating: .pending, count: 4)
        var (state, _) = machine.start(now: 0)
        outcomes[0] = .failure
        var actions: [RolloutAction]
        (state, _) = machine.step(state, outcomes: outcomes, now: 0)
        #expect(state.status == .halted)
        (state, actions) = machine.resume(state, outcomes: outcomes, now: 10)
        #expect(state.status == .active)
        #expect(state.acknowledgedFailures == 1)
        #expect(actions.isEmpty, "device 1 has not reported yet")
        outcomes[1] = .success
        (state, actions) = machine.step(state, outcomes: outcomes, now: 11)
        #expect(actions == [.reach(2..<4)])
        outcomes[2] = .failure
        (state, actions) = machine.step(state, outcomes: outcomes, now: 12)
        #expect(state.status == .halted, "a new failure after resuming halts again")
    }

    @Test func operatorHaltStopsAnActiveRollout() {
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(1)]), deviceCount: 3)
        let (state, _) = machine.start(now: 0)
        let (halted, actions) = machine.halt(state, reason: "by operator")
        #expect(halted.status == .halted)
        #expect(actions == [.halt(reason: "by operator")])
        #expect(machine.halt(halted, reason: "again").1.isEmpty)
    }

    @Test func anEmptyGroupCompletesAtOnce() {
        let machine = RolloutMachine(plan: RolloutPlan(waves: [.count(1)]), deviceCount: 0)
        let (state, actions) = machine.start(now: 0)
        #expect(state.status == .completed)
        #expect(actions == [.complete])
    }
}

@Suite struct AssignmentResolverTests {
    func candidate(_ id: Int64, _ status: RolloutStatus = .active, position: Int = 0, reached: Int = 1,
                   _ outcome: DeviceOutcome = .pending) -> DeploymentCandidate {
        DeploymentCandidate(deployment: id, target: "app-\(id)", status: status, position: position,
                            reachedCount: reached, outcome: outcome)
    }

    @Test func newestReachedDeploymentWins() {
        #expect(AssignmentResolver.resolve([candidate(1), candidate(2)])?.deployment == 2)
        #expect(AssignmentResolver.resolve([candidate(2), candidate(1)])?.deployment == 2)
    }

    @Test func aDeviceNotYetReachedKeepsItsOldRelease() {
        let result = AssignmentResolver.resolve([candidate(1, .completed), candidate(2, .halted, position: 5, reached: 5)])
        #expect(result?.deployment == 1)
    }

    @Test func aFailedDeviceGoesBackToWhatItHadBefore() {
        let result = AssignmentResolver.resolve([candidate(1, .completed, .success), candidate(2, .halted, .failure)])
        #expect(result?.deployment == 1)
        #expect(AssignmentResolver.resolve([candidate(3, .active, .failure)]) == nil)
    }

    @Test func aHaltedDeploymentKeepsTheDevicesItReached() {
        #expect(AssignmentResolver.resolve([candidate(1, .completed), candidate(2, .halted, .success)])?.deployment == 2)
    }
}
