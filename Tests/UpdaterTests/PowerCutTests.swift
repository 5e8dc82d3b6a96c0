import Foundation
import JSON
import Testing
@testable import Updater

/// Kills the updater with SIGKILL at every step boundary (between each write, fsync and rename) and
/// at random byte offsets while it stages, then plays the next start (`update boot`) and checks:
/// what runs is the old committed version or a trial of the new one, never a half-written slot;
/// and the update then finishes (or is rolled back and redone) cleanly.
@Suite(.serialized) struct PowerCutTests {
    static let old = script(version: "1.0.0", body: "exit 0")
    /// Large enough for many staging chunks (64 KiB each).
    static let new: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return script(version: "1.1.0", body: "exit 0") + (0..<600_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }()

    /// A provisioned device (1.0.0 committed) and the 1.1.0 release, copied fresh for each iteration.
    final class Fixture {
        let dir = makeTemporaryDirectory("powercut")
        let template: String
        let next: (info: String, artifact: String, target: TargetDescription)

        init() throws {
            template = dir + "/template"
            try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: true)
            try provisionThroughCLI(template)
            next = try release(dir, version: "1.1.0", artifact: PowerCutTests.new)
        }

        deinit { removeTree(dir) }

        func freshState(_ name: String) throws -> String {
            let state = dir + "/" + name
            removeTree(state)
            try FileManager.default.copyItem(atPath: template + "/state", toPath: state)
            return state
        }
    }

    /// The update's commands, in order, as the device runs them.
    static func operations(_ fixture: Fixture) -> [[String]] {
        [["install", "--target-info", fixture.next.info, "--artifact", fixture.next.artifact], ["boot"],
         ["health", "--ok"], ["commit"]]
    }

    /// Steps each operation passes, from a traced run without faults.
    static func steps(_ fixture: Fixture) throws -> [Int] {
        let state = try fixture.freshState("trace")
        var counts: [Int] = []
        for (index, operation) in operations(fixture).enumerated() {
            let trace = fixture.dir + "/trace-\(index)"
            let result = try Agent.update(state, operation, environment: ["NANOEDGE_FAULT_TRACE": trace])
            #expect(result.status == 0, "\(operation): \(result)")
            counts.append((readText(trace) ?? "").split(separator: "\n").count)
        }
        return counts
    }

    /// After a kill: a start must find either the committed 1.0.0 or a trial of the complete 1.1.0.
    static func checkAfterCrash(_ state: String, context: String) throws {
        let boot = try Agent.update(state, ["boot"])
        #expect(boot.status == 0, "\(context): boot after the kill failed: \(boot)")
        let current = linkDestination(state + "/current")
        let running = FileManager.default.contents(atPath: state + "/current/app").map { Array($0) }
        let status = try #require(try Agent.update(state, ["status"]).json, "\(context)")
        switch current {
        case "slots/a"?:
            #expect(running == old, "\(context): slot a changed")
            #expect(status["committed"]?["version"] == "1.0.0" && status["phase"] != "trial", "\(context): \(status)")
        case "slots/b"?:
            #expect(running == new, "\(context): current points at a slot that is not complete")
            let trial = status["phase"] == "trial" && status["candidate"]?["version"] == "1.1.0"
            let committed = status["phase"] == "idle" && status["committed"]?["version"] == "1.1.0"
            #expect(trial || committed, "\(context): \(status)")
        default:
            Issue.record("\(context): current is \(current ?? "missing")")
        }
    }

    /// Drives the device to 1.1.0 committed from wherever the crash left it, in a few commands.
    static func finish(_ state: String, _ fixture: Fixture, context: String) throws {
        for _ in 0..<6 {
            let status = try #require(try Agent.update(state, ["status"]).json)
            if status["phase"] == "idle" && status["committed"]?["version"] == "1.1.0" {
                #expect(linkDestination(state + "/current") == "slots/b", "\(context)")
                #expect(FileManager.default.contents(atPath: state + "/current/app").map { Array($0) } == new, "\(context)")
                return
            }
            let next: [String]
            switch status["phase"]?.stringValue {
            case "idle"?: next = operations(fixture)[0]
            case "staged"?: next = ["activate"]
            default: next = ["commit"]
            }
            let result = try Agent.update(state, next)
            #expect(result.status == 0, "\(context): \(next) failed: \(result)")
            if next != ["commit"] { _ = try Agent.update(state, ["boot"]) }
        }
        Issue.record("\(context): the update did not finish")
    }

    @Test func killAtEveryStepBoundary() throws {
        let fixture = try Fixture()
        let counts = try PowerCutTests.steps(fixture)
        #expect(counts[0] >= 15, "install should pass many write/fsync/rename boundaries: \(counts)")
        var iterations = 0
        for (index, operation) in PowerCutTests.operations(fixture).enumerated() {
            for step in 1...counts[index] {
                let state = try fixture.freshState("run")
                // Replay the operations before this one without faults.
                for earlier in PowerCutTests.operations(fixture).prefix(index) {
                    #expect(try Agent.update(state, earlier).status == 0)
                }
                let killed = try Agent.update(state, operation, environment: ["NANOEDGE_FAULT_AT": String(step)])
                let context = "\(operation[0]) killed at step \(step)"
                #expect(killed.signal == SIGKILL, "\(context): \(killed)")
                try PowerCutTests.checkAfterCrash(state, context: context)
                try PowerCutTests.finish(state, fixture, context: context)
                iterations += 1
            }
        }
        #expect(iterations == counts.reduce(0, +))
    }

    @Test func killAtRandomBytesWhileStaging() throws {
        let fixture = try Fixture()
        var generator = SystemRandomNumberGenerator()
        let iterations = 150
        for iteration in 0..<iterations {
            let offset = Int.random(in: 1..<PowerCutTests.new.count, using: &generator)
            let state = try fixture.freshState("bytes")
            let killed = try Agent.update(state, PowerCutTests.operations(fixture)[0],
                                          environment: ["NANOEDGE_FAULT_AFTER_BYTES": String(offset)])
            let context = "iteration \(iteration): install killed after \(offset) bytes"
            #expect(killed.signal == SIGKILL, "\(context): \(killed)")
            // The torn copy is never what runs: slot b holds at most a .part file.
            #expect(!FileManager.default.fileExists(atPath: state + "/slots/b/app"), "\(context)")
            try PowerCutTests.checkAfterCrash(state, context: context)
            #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/slots/b").isEmpty, "\(context)")
            try PowerCutTests.finish(state, fixture, context: context)
        }
    }
}
