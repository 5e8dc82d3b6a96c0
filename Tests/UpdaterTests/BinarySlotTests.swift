import DurableFile
import Foundation
import JSON
import Testing
@testable import Updater

private func updater(_ stateDir: String, calls: FileSystemCalls = .live) throws -> Updater {
    var configuration = Updater.Configuration(stateDirectory: stateDir, board: "sim")
    configuration.calls = calls
    return try Updater(configuration: configuration)
}

/// A device with 1.0.0 committed in slot a.
private func provisioned(_ dir: String) throws -> Updater {
    let first = try release(dir, version: "1.0.0", artifact: script(version: "1.0.0"))
    let updater = try updater(dir + "/state")
    try updater.stage(target: first.target, from: first.artifact)
    #expect(try updater.activate() == .restartRequired(executable: dir + "/state/current/app"))
    _ = try updater.boot()
    try updater.commit()
    return updater
}

@Suite struct BinarySlotTests {
    @Test func stageActivateCommitSwitchesCurrent() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        let device = try provisioned(dir)
        #expect(linkDestination(dir + "/state/current") == "slots/a")
        #expect(readText(dir + "/state/current/app") == String(decoding: script(version: "1.0.0"), as: UTF8.self))

        let next = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0"))
        try device.stage(target: next.target, from: next.artifact)
        #expect(linkDestination(dir + "/state/current") == "slots/a")  // staging touches only slot b
        #expect(FileManager.default.isExecutableFile(atPath: dir + "/state/slots/b/app"))
        _ = try device.activate()
        #expect(linkDestination(dir + "/state/current") == "slots/b")
        let boot = try device.boot()
        #expect(boot.trialAttempt == 1 && boot.running?.target.version == Version("1.1.0"))
        #expect(try device.healthReport(ok: true) == nil)
        #expect(try device.commit().result == .committed)
    }

    @Test func committedStateSurvivesReopening() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        do {
            let device = try provisioned(dir)
            let next = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0"))
            try device.stage(target: next.target, from: next.artifact)
            _ = try device.activate()
            try device.commit()
        }
        let reopened = try updater(dir + "/state")
        #expect(reopened.lifecycle.committed?.target.version == Version("1.1.0"))
        #expect(reopened.lifecycle.committed?.slot == .b)
    }

    @Test func rollbackReturnsToTheCommittedSlot() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        let device = try provisioned(dir)
        let next = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0"))
        try device.stage(target: next.target, from: next.artifact)
        _ = try device.activate()
        _ = try device.boot()
        let outcome = try device.healthReport(ok: false, reason: "not registered")
        #expect(outcome?.result == .rolledBack)
        #expect(linkDestination(dir + "/state/current") == "slots/a")
        #expect(device.lifecycle.committed?.target.version == Version("1.0.0"))
    }

    @Test func tamperedArtifactIsRefusedAndTheSlotLeftClean() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        let device = try provisioned(dir)
        let next = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0"))
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: next.artifact)))
        bytes[3] ^= 0x20
        try writeFile(next.artifact, bytes)
        #expect { try device.stage(target: next.target, from: next.artifact) } throws: {
            ($0 as? UpdateError)?.code == .verification
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/state/slots/b").isEmpty)
        #expect(device.lifecycle.phase == .idle && device.lifecycle.lastOutcome?.result == .failed)
        #expect(linkDestination(dir + "/state/current") == "slots/a")
    }

    @Test func targetForAnotherBoardIsRefusedWithoutTouchingAnything() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        let other = try release(dir, version: "1.1.0", artifact: script(version: "1.1.0"), boards: ["rpi5"])
        let stateBefore: String?
        do {
            let device = try provisioned(dir)
            stateBefore = readText(dir + "/state/updater/state.json")
            #expect { try device.stage(target: other.target, from: other.artifact) } throws: { error in
                let error = error as? UpdateError
                return error?.code == .refused && error?.description.contains("rpi5") == true
            }
        }
        #expect(readText(dir + "/state/updater/state.json") == stateBefore)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/state/slots/b").isEmpty)
        // And through the command line: exit 3, state unchanged.
        let result = try Agent.update(dir + "/state", ["install", "--target-info", other.info, "--artifact", other.artifact])
        #expect(result.status == 3, "\(result)")
        #expect(result.stderr.contains("rpi5"))
        #expect(readText(dir + "/state/updater/state.json") == stateBefore)
    }

    @Test func olderVersionIsRefused() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        let device = try provisioned(dir)
        let older = try release(dir, version: "0.9.0", artifact: script(version: "0.9.0"))
        #expect { try device.stage(target: older.target, from: older.artifact) } throws: {
            ($0 as? UpdateError)?.code == .refused
        }
        let sanctioned = try release(dir, version: "0.9.0", artifact: script(version: "0.9.0"), counter: 1)
        try device.stage(target: sanctioned.target, from: sanctioned.artifact)
        #expect(device.lifecycle.phase == .staged(Installed(slot: .b, target: sanctioned.target)))
    }

    @Test func diskFullWhileStagingLeavesTheSlotCleanAndSaysSo() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        _ = try provisioned(dir)
        var calls = FileSystemCalls.live
        var budget = 10  // bytes the "disk" still takes for the artifact
        let live = FileSystemCalls.live
        calls.write = { fd, bytes in
            var path = [CChar](repeating: 0, count: 512)
            let count = readlink("/proc/self/fd/\(fd)", &path, 511)
            let name = count > 0 ? String(decoding: path[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            guard name.hasSuffix(".part") else { return live.write(fd, bytes) }
            if budget <= 0 {
                errno = ENOSPC
                return -1
            }
            let written = live.write(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(budget)))
            budget -= written
            return written
        }
        let device = try updater(dir + "/state", calls: calls)
        let next = try release(dir, version: "1.1.0", artifact: [UInt8](repeating: 0x41, count: 100_000))
        #expect { try device.stage(target: next.target, from: next.artifact) } throws: { error in
            let error = error as? UpdateError
            return error?.code == .diskFull && error?.description.contains("free space") == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/state/slots/b").isEmpty)
        #expect(device.lifecycle.phase == .idle)
        #expect(device.lifecycle.committed?.target.version == Version("1.0.0"))
        #expect(linkDestination(dir + "/state/current") == "slots/a")
    }

    @Test func secondUpdaterOnTheSameStateIsRefused() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        let first = try updater(dir + "/state")
        #expect { try updater(dir + "/state") } throws: { ($0 as? UpdateError)?.code == .locked }
        _ = first
    }
}
