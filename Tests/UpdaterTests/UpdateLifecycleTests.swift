import Testing
@testable import Updater

func target(_ version: String, kind: TargetKind = .binary, boards: [String] = ["rpi4b"], counter: Int64 = 0,
            minimum: String? = nil, window: Int64 = 10_000, attempts: Int = 3, timeout: Int64 = 60_000) -> TargetDescription {
    TargetDescription(name: "nanoedge-agent-\(version)", length: 4, sha256: String(repeating: "0", count: 64), kind: kind,
                      version: Version(version)!, boards: boards, securityCounter: counter,
                      minimumVersion: minimum.flatMap(Version.init),
                      health: HealthPolicy(windowMilliseconds: window, maxAttempts: attempts, timeoutMilliseconds: timeout),
                      fileName: "app")
}

/// A lifecycle with 1.0.0 committed in slot a and `next` staged in slot b.
private func staged(_ next: TargetDescription) throws -> UpdateLifecycle {
    var machine = UpdateLifecycle(committed: Installed(slot: .a, target: target("1.0.0")))
    _ = try machine.handle(.stageStarted(Installed(slot: .b, target: next)))
    _ = try machine.handle(.stageFinished)
    return machine
}

@Suite struct UpdateLifecycleTests {
    @Test func healthyTrialCommitsAfterTheWindow() throws {
        var machine = try staged(target("1.1.0", window: 10_000))
        var clock: Int64 = 1_000
        #expect(try machine.handle(.activate(now: clock)) == [.persist, .switchCurrent(.b), .launch(.b)])
        clock += 50
        #expect(try machine.handle(.started(now: clock)) == [.persist, .switchCurrent(.b)])
        #expect(machine.expectedCurrent == .b)
        clock += 500
        #expect(try machine.handle(.health(ok: true, reason: "", now: clock)) == [.persist])
        #expect(machine.nextDeadline == clock + 10_000)
        clock += 9_999
        #expect(try machine.handle(.tick(now: clock)) == [])
        clock += 1
        let actions = try machine.handle(.tick(now: clock))
        #expect(actions.first == .persist)
        #expect(actions.contains(.retire(.a)))
        #expect(actions.last == .finished(Outcome(result: .committed, version: Version("1.1.0")!, reason: "healthy")))
        #expect(machine.committed?.slot == .b && machine.phase == .idle)
        #expect(machine.inactiveSlot == .a)
    }

    @Test func failedHealthRollsBack() throws {
        var machine = try staged(target("1.1.0"))
        _ = try machine.handle(.activate(now: 0))
        _ = try machine.handle(.started(now: 10))
        _ = try machine.handle(.health(ok: true, reason: "", now: 20))
        let actions = try machine.handle(.health(ok: false, reason: "PIR self-test failed", now: 30))
        #expect(actions.prefix(3) == [.persist, .switchCurrent(.a), .retire(.b)])
        #expect(machine.committed?.target.version == Version("1.0.0"))
        #expect(machine.lastOutcome?.result == .rolledBack)
        #expect(machine.lastOutcome?.reason.contains("PIR self-test failed") == true)
    }

    @Test func crashLoopRollsBackAfterTheAttemptLimit() throws {
        var machine = try staged(target("1.1.0", attempts: 3))
        _ = try machine.handle(.activate(now: 0))
        for start in 1...3 {
            _ = try machine.handle(.started(now: Int64(start) * 100))
            #expect(machine.phase == .trial(Installed(slot: .b, target: target("1.1.0", attempts: 3)), attempt: start,
                                            startedAt: Int64(start) * 100))
        }
        let actions = try machine.handle(.started(now: 400))
        #expect(actions.contains(.switchCurrent(.a)))
        #expect(machine.lastOutcome?.result == .rolledBack)
        #expect(machine.expectedCurrent == .a)
    }

    @Test func trialWithoutHealthTimesOut() throws {
        var machine = try staged(target("1.1.0", timeout: 5_000))
        _ = try machine.handle(.activate(now: 0))
        _ = try machine.handle(.started(now: 100))
        #expect(machine.nextDeadline == 5_100)
        #expect(try machine.handle(.tick(now: 5_099)) == [])
        #expect(try machine.handle(.tick(now: 5_100)).contains(.switchCurrent(.a)))
        #expect(machine.lastOutcome?.result == .rolledBack)
    }

    @Test func restartInsideTheWindowStartsItOver() throws {
        var machine = try staged(target("1.1.0", window: 1_000))
        _ = try machine.handle(.activate(now: 0))
        _ = try machine.handle(.started(now: 0))
        _ = try machine.handle(.health(ok: true, reason: "", now: 100))
        _ = try machine.handle(.started(now: 900))
        #expect(try machine.handle(.tick(now: 1_200)) == [])  // the old window would have ended at 1_100
        _ = try machine.handle(.health(ok: true, reason: "", now: 1_300))
        #expect(try machine.handle(.tick(now: 2_300)).contains(.persist))
        #expect(machine.committed?.slot == .b)
    }

    @Test func interruptedStagingIsClearedAtStart() throws {
        var machine = UpdateLifecycle(committed: Installed(slot: .a, target: target("1.0.0")))
        _ = try machine.handle(.stageStarted(Installed(slot: .b, target: target("1.1.0"))))
        let actions = try machine.handle(.started(now: 0))
        #expect(actions.prefix(3) == [.clearSlot(.b), .persist, .switchCurrent(.a)])
        #expect(machine.phase == .idle && machine.lastOutcome?.result == .failed)
    }

    @Test func transitionsOutOfOrderAreRefused() throws {
        var machine = UpdateLifecycle(committed: Installed(slot: .a, target: target("1.0.0")))
        #expect { try machine.handle(.activate(now: 0)) } throws: { ($0 as? UpdateError)?.code == .invalidState }
        #expect { try machine.handle(.commit) } throws: { ($0 as? UpdateError)?.code == .invalidState }
        #expect { try machine.handle(.stageStarted(Installed(slot: .a, target: target("1.1.0")))) } throws: {
            ($0 as? UpdateError)?.code == .invalidState
        }
        #expect(machine.phase == .idle)
    }

    @Test func admissionRules() throws {
        let machine = UpdateLifecycle(committed: Installed(slot: .a, target: target("1.2.0", counter: 2)))
        #expect(machine.refusal(of: target("1.3.0", counter: 2), board: "rpi4b") == nil)
        #expect(machine.refusal(of: target("1.3.0", boards: ["rpi5"], counter: 2), board: "rpi4b")?.contains("rpi5") == true)
        #expect(machine.refusal(of: target("1.1.0", counter: 2), board: "rpi4b")?.contains("not newer") == true)
        #expect(machine.refusal(of: target("1.2.0", counter: 2), board: "rpi4b") != nil)
        // A deliberate downgrade carries a higher security counter.
        #expect(machine.refusal(of: target("1.1.0", counter: 3), board: "rpi4b") == nil)
        // Below the floor: never, whatever the version.
        #expect(machine.refusal(of: target("9.0.0", counter: 1), board: "rpi4b")?.contains("security counter") == true)
        #expect(machine.refusal(of: target("1.4.0", counter: 2, minimum: "1.3.0"), board: "rpi4b")?.contains("1.3.0") == true)
    }

    @Test func stateFileRoundTrips() throws {
        var machine = try staged(target("1.1.0", counter: 4))
        _ = try machine.handle(.activate(now: 0))
        _ = try machine.handle(.started(now: 5))
        let candidate = Installed(slot: .b, target: target("1.1.0", counter: 4))
        let decoded = try UpdaterStateFile.decode(UpdaterStateFile.encode(machine, bootID: "boot-1"), path: "state.json",
                                                  bootID: "boot-1")
        #expect(decoded.committed == machine.committed)
        #expect(decoded.phase == .trial(candidate, attempt: 1, startedAt: 5))
        _ = try machine.handle(.health(ok: true, reason: "", now: 7))
        let windowed = try UpdaterStateFile.decode(UpdaterStateFile.encode(machine, bootID: "boot-1"), path: "state.json",
                                                   bootID: "boot-1")
        #expect(windowed.phase == .healthWindow(candidate, attempt: 1, startedAt: 5, since: 7))
        // Times of another boot mean nothing now.
        let rebooted = try UpdaterStateFile.decode(UpdaterStateFile.encode(machine, bootID: "boot-1"), path: "state.json",
                                                   bootID: "boot-2")
        #expect(rebooted.phase == .trial(candidate, attempt: 1, startedAt: nil))
        #expect { try UpdaterStateFile.decode(Array("{\"format\":1,".utf8), path: "state.json") } throws: {
            ($0 as? UpdateError)?.code == .corruptState
        }
    }

    @Test(arguments: [("1.2.10", "1.2.9", true), ("1.0.0", "1.0.0-rc.1", true), ("2.0", "1.99.99", true),
                      ("1.0", "1.0.0", false), ("0.9.1", "0.10.0", false)])
    func versionsOrder(a: String, b: String, greater: Bool) {
        #expect((Version(a)! > Version(b)!) == greater)
    }
}
