import Foundation
import Testing
@testable import Updater

/// A directory standing in for the boot FAT partition, and one for /proc/device-tree/chosen/bootloader.
private final class BootPartition {
    let dir = makeTemporaryDirectory("tryboot")
    var boot: String { dir + "/bootfs" }
    var deviceTree: String { dir + "/dt" }
    var reboots: [[String]] = []

    init() throws {
        try FileManager.default.createDirectory(atPath: boot, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: deviceTree, withIntermediateDirectories: true)
        booted(partition: 2, tryboot: false)
    }

    deinit { removeTree(dir) }

    /// What the bootloader reports for this boot (big-endian u32 each).
    func booted(partition: UInt32, tryboot: Bool) {
        func u32(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8((value >> $0) & 0xFF) } }
        try! writeFile(deviceTree + "/partition", u32(partition))
        try! writeFile(deviceTree + "/tryboot", u32(tryboot ? 1 : 0))
    }

    func controller() -> Tryboot {
        var configuration = Tryboot.Configuration(bootDirectory: boot)
        configuration.deviceTreeDirectory = deviceTree
        configuration.reboot = { argv throws(UpdateError) in self.reboots.append(argv) }
        return Tryboot(configuration: configuration)
    }

    var autoboot: String? { readText(boot + "/autoboot.txt") }
}

@Suite struct TrybootTests {
    @Test func templateInOtaParses() throws {
        let template = try #require(FileManager.default.contents(atPath: Agent.packageRoot + "/ota/tryboot/autoboot.txt"))
        #expect(Tryboot.parse(Array(template)) == Tryboot.Autoboot(committed: 2, trial: 3, generation: 0))
    }

    @Test func tryThenCommitSwapsThePartitions() throws {
        let pi = try BootPartition()
        let tryboot = pi.controller()
        try tryboot.initialize(committed: 2, trial: 3)
        #expect(pi.autoboot?.hasPrefix("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n") == true)
        #expect(Array(pi.autoboot!.utf8).count < 512)
        try tryboot.prepareTrial(partition: 3)
        try tryboot.startTrial()
        #expect(pi.reboots == [["reboot", "0 tryboot"]])
        // The bootloader ran partition 3 once, with the tryboot flag.
        pi.booted(partition: 3, tryboot: true)
        let committed = try tryboot.commit()
        #expect(committed.committed == 3 && committed.trial == 2)
        #expect(try pi.controller().read() == committed)
        #expect(pi.autoboot?.contains("[all]\ntryboot_a_b=1\nboot_partition=3\n") == true)
    }

    @Test func failedTryFallsBackAndCannotBeCommitted() throws {
        let pi = try BootPartition()
        let tryboot = pi.controller()
        try tryboot.initialize(committed: 2, trial: 3)
        try tryboot.startTrial()
        // The new OS hung; the watchdog reset the Pi, which booted the committed partition normally.
        pi.booted(partition: 2, tryboot: false)
        let before = pi.autoboot
        #expect { try tryboot.commit() } throws: { error in
            (error as? UpdateError)?.code == .invalidState && "\(error)".contains("did the try fail")
        }
        #expect(pi.autoboot == before)
        #expect { try tryboot.prepareTrial(partition: 2) } throws: { ($0 as? UpdateError)?.code == .invalidState }
    }

    @Test func tornPrimaryIsRepairedFromItsCopies() throws {
        let pi = try BootPartition()
        let tryboot = pi.controller()
        try tryboot.initialize(committed: 2, trial: 3)
        pi.booted(partition: 3, tryboot: true)
        let committed = try tryboot.commit()
        let good = Tryboot.render(committed)
        // Every length a torn in-place write can leave, and a flipped byte.
        var damaged: [[UInt8]] = (0..<good.count).map { Array(good.prefix($0)) }
        var flipped = good
        flipped[20] ^= 0x01
        damaged.append(flipped)
        for bytes in damaged {
            try writeFile(pi.boot + "/autoboot.txt", bytes)
            let read = try pi.controller().read()
            #expect(read == committed, "torn at \(bytes.count) bytes")
            #expect(FileManager.default.contents(atPath: pi.boot + "/autoboot.txt").map { Array($0) } == good)
        }
    }

    @Test func noValidCopyIsAClearError() throws {
        let pi = try BootPartition()
        try writeFile(pi.boot + "/autoboot.txt", Array("[all]\nboot_partition=".utf8))
        #expect { try pi.controller().read() } throws: { error in
            (error as? UpdateError)?.code == .corruptState && "\(error)".contains("os init")
        }
    }

    /// SIGKILL at every step of `update os commit`: the boot partition always holds a valid
    /// autoboot.txt (after the next read repairs it), naming the old or the new partition.
    @Test func killAtEveryStepOfACommit() throws {
        let pi = try BootPartition()
        func os(_ arguments: [String], environment: [String: String] = [:]) throws -> Agent.Result {
            try Agent.run(["update", "os", "--boot-dir", pi.boot, "--device-tree", pi.deviceTree] + arguments,
                          environment: environment)
        }
        #expect(try os(["init", "--committed", "2", "--trial", "3"]).status == 0)
        let initial = try #require(FileManager.default.contents(atPath: pi.boot + "/autoboot.txt"))
        pi.booted(partition: 3, tryboot: true)
        let trace = pi.dir + "/trace"
        #expect(try os(["commit"], environment: ["NANOEDGE_FAULT_TRACE": trace]).status == 0)
        let steps = (readText(trace) ?? "").split(separator: "\n").count
        #expect(steps >= 10)
        for step in 1...steps {
            for name in ["autoboot.txt", "autoboot.new", "autoboot.bak"] { try? FileManager.default.removeItem(atPath: pi.boot + "/" + name) }
            try initial.write(to: URL(fileURLWithPath: pi.boot + "/autoboot.txt"))
            let killed = try os(["commit"], environment: ["NANOEDGE_FAULT_AT": String(step)])
            #expect(killed.signal == SIGKILL, "step \(step): \(killed)")
            let status = try os(["status"])
            #expect(status.status == 0, "step \(step): \(status)")
            let committed = status.json?["committed"]?.intValue
            #expect(committed == 2 || committed == 3, "step \(step): \(status)")
            // The primary itself is whole again, as the bootloader needs it.
            let primary = try #require(FileManager.default.contents(atPath: pi.boot + "/autoboot.txt"))
            #expect(Tryboot.parse(Array(primary)).map { Int64($0.committed) } == committed, "step \(step)")
            if committed == 2 { #expect(try os(["commit"]).status == 0, "step \(step)") }
            #expect(try os(["status"]).json?["committed"] == 3, "step \(step)")
        }
    }
}
