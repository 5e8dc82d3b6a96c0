@testable import Agent
import JSON
import Site
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

private func temporaryDirectory() -> String {
    var template = Array("/tmp/nanoedge-eventlog-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed: errno \(errno)")
    return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}


private func readBytes(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        bytes += chunk[0..<count]
        if count < chunk.count { return bytes }
    }
}

private func writeBytes(_ path: String, _ bytes: [UInt8]) {
    guard let file = fopen(path, "wb") else { preconditionFailure("fopen \(path): errno \(errno)") }
    _ = fwrite(bytes, 1, bytes.count, file)
    fclose(file)
}

private func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A scratch directory for one test; the log lives in its "events" subdirectory (created by the log).
private struct Scratch: ~Copyable {
    let root = temporaryDirectory()
    var directory: String { root + "/events" }
    var logFile: String { directory + "/events.log" }
    deinit { removeTree(root) }
}

@discardableResult
private func motion(_ log: EventLog, _ index: Int) throws -> DeviceEvent {
    try log.append(kind: .motion, at: 1_700_000_000_000 + Int64(index), fields: ["state": "start", "n": .int(Int64(index))])
}

/// Syscalls that fail on demand. Keyed by the file's last path component ("events.log", "acked", …);
/// temp files count as the file they replace.
private final class FaultySystem {
    private var names: [Int32: String] = [:]
    /// errno for every write to the named file.
    var writeFailures: [String: Int32] = [:]
    /// Write this many bytes of the next write to the named file, then fail with the errno.
    var partialWrite: (name: String, bytes: Int, errno: Int32)?
    var fsyncFailures: [String: Int32] = [:]
    /// errno for renames onto the named file.
    var renameFailures: [String: Int32] = [:]
    /// The process dies just before renaming onto the named file.
    var crashBeforeRenameTo: String?
    /// Once this many more bytes are written, the "process dies": the write is cut there and every
    /// later call that changes the disk fails (descriptors still close, as the kernel would).
    var crashAfterBytes: Int?
    private(set) var crashed = false

    private static func name(_ path: String) -> String {
        var last = String(path.split(separator: "/").last ?? "")
        if last.hasSuffix(".tmp") { last.removeLast(4) }
        return last
    }

    private func fail(_ code: Int32) -> Int32 {
        errno = code
        return -1
    }

    var system: EventLogSystem {
        let live = EventLogSystem.live
        return EventLogSystem(
            open: { path, flags, mode in
                if self.crashed { return self.fail(EIO) }
                let fd = live.open(path, flags, mode)
                if fd >= 0 { self.names[fd] = FaultySystem.name(path) }
                return fd
            },
            read: { fd, buffer in live.read(fd, buffer) },
            write: { fd, bytes in
                if self.crashed { return Int(self.fail(EIO)) }
                let name = self.names[fd] ?? ""
                if let code = self.writeFailures[name] { return Int(self.fail(code)) }
                if let partial = self.partialWrite, partial.name == name {
                    self.partialWrite = nil
                    _ = live.write(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(partial.bytes)))
                    return Int(self.fail(partial.errno))
                }
                if let budget = self.crashAfterBytes, bytes.count > budget {
                    _ = live.write(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(budget)))
                    self.crashed = true
                    return Int(self.fail(EIO))
                }
                let written = live.write(fd, bytes)
                if written > 0, let budget = self.crashAfterBytes { self.crashAfterBytes = budget - written }
                return written
            },
            fsync: { fd in
                if self.crashed { return self.fail(EIO) }
                if let code = self.fsyncFailures[self.names[fd] ?? ""] { return self.fail(code) }
                return live.fsync(fd)
            },
            ftruncate: { fd, length in self.crashed ? self.fail(EIO) : live.ftruncate(fd, length) },
            rename: { from, to in
                if self.crashed { return self.fail(EIO) }
                if self.crashBeforeRenameTo == FaultySystem.name(to) {
                    self.crashed = true
                    return self.fail(EIO)
                }
                if let code = self.renameFailures[FaultySystem.name(to)] { return self.fail(code) }
                return live.rename(from, to)
            },
            unlink: { path in self.crashed ? self.fail(EIO) : live.unlink(path) },
            mkdir: { path, mode in self.crashed ? self.fail(EIO) : live.mkdir(path, mode) },
            close: { fd in
                self.names[fd] = nil
                return live.close(fd)
            })
    }
}

private func openLog(_ directory: String, _ faults: FaultySystem, compactAbove threshold: Int64 = EventLog.defaultCompactionThreshold)
    throws(EventLogError) -> EventLog
{
    try EventLog(directory: directory, system: faults.system, compactionThreshold: threshold)
}

// MARK: - Tests

@Suite struct EventLogTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        #expect(String(decoding: CRC32.hex(0x0A0B_0C0D), as: UTF8.self) == "0a0b0c0d")
    }

    @Test func appendAcknowledgeAndReopenKeepEpochSeqAndPending() throws {
        let scratch = Scratch()
        var appended: [DeviceEvent] = []
        let epoch: String
        do {
            let log = try EventLog(directory: scratch.directory)
            epoch = log.epoch
            #expect(log.lastSeq == 0 && log.ackedSeq == 0 && log.pending.isEmpty)
            for index in 1...3 { appended.append(try motion(log, index)) }
            #expect(appended.map(\.seq) == [1, 2, 3])
            #expect(appended.allSatisfy { $0.epoch == epoch })
            try log.acknowledge(through: 1)
            #expect(log.pending == Array(appended[1...]))
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.epoch == epoch)
        #expect(log.lastSeq == 3)
        #expect(log.ackedSeq == 1)
        #expect(log.pending == Array(appended[1...]))
        #expect(log.recovery == nil)
        #expect(try motion(log, 4).seq == 4)
    }

    @Test func acknowledgedEventsAreNotReplayedAfterReopen() throws {
        let scratch = Scratch()
        do {
            let log = try EventLog(directory: scratch.directory)
            for index in 1...5 { try motion(log, index) }
            try log.acknowledge(through: 5)
            #expect(log.pending.isEmpty)
            // Everything acknowledged: the file is compacted to nothing.
            #expect(readBytes(scratch.logFile) == [])
        }
        do {
            let log = try EventLog(directory: scratch.directory)
            #expect(log.pending.isEmpty)
            #expect(log.lastSeq == 5 && log.ackedSeq == 5)
            #expect(try motion(log, 6).seq == 6)
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.pending.map(\.seq) == [6])
    }

    @Test func aHundredAppendsComeBackInOrder() throws {
        let scratch = Scratch()
        var appended: [DeviceEvent] = []
        do {
            let log = try EventLog(directory: scratch.directory)
            for index in 1...100 {
                appended.append(try log.append(kind: .scan, at: Int64(index),
                                               fields: ["tags": [["id": .string("t\(index)"), "rssi": -60]],
                                                       "visit": .int(Int64(index))]))
            }
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.pending.count == 100)
        #expect(log.pending.map(\.seq) == Array(1...100))
        #expect(log.pending == appended)
    }

    enum Damage: String, CaseIterable, Sendable {
        case truncatedMidRecord, garbageWithoutLineEnd, garbageLine, emptyLine
    }

    @Test(arguments: Damage.allCases)
    func aTornOrGarbledTailIsDroppedAndTheLogStaysAppendable(damage: Damage) throws {
        let scratch = Scratch()
        do {
            let log = try EventLog(directory: scratch.directory)
            for index in 1...3 { try motion(log, index) }
        }
        var bytes = readBytes(scratch.logFile) ?? []
        let size = bytes.count
        let survivors: [Int64]
        switch damage {
        case .truncatedMidRecord:
            bytes.removeLast(7)
            survivors = [1, 2]
        case .garbageWithoutLineEnd:
            bytes += Array("4 0000".utf8)
            survivors = [1, 2, 3]
        case .garbageLine:
            bytes += Array("4 deadbeef {\"not\":\"an event\"}\n".utf8)
            survivors = [1, 2, 3]
        case .emptyLine:
            bytes += [0x0A, 0x0A]
            survivors = [1, 2, 3]
        }
        writeBytes(scratch.logFile, bytes)

        do {
            let log = try EventLog(directory: scratch.directory)
            #expect(log.pending.map(\.seq) == survivors)
            let recovery = try #require(log.recovery)
            #expect(recovery.offset + recovery.droppedBytes == Int64(bytes.count))
            #expect(recovery.offset <= Int64(size))
            let next = try motion(log, 9)
            #expect(next.seq == survivors.last! + 1)
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.recovery == nil)
        #expect(log.pending.map(\.seq) == survivors + [survivors.last! + 1])
    }

    @Test func aCorruptCRCStopsRecoveryThere() throws {
        let scratch = Scratch()
        do {
            let log = try EventLog(directory: scratch.directory)
            for index in 1...4 { try motion(log, index) }
        }
        var bytes = readBytes(scratch.logFile) ?? []
        // Flip one bit inside record 2's JSON: its line is intact, its CRC no longer matches.
        let lineStarts = [0] + bytes.indices.filter { bytes[$0] == 0x0A }.map { $0 + 1 }
        let target = bytes[lineStarts[1]...].firstIndex(of: UInt8(ascii: "{"))! + 3
        bytes[target] ^= 0x01
        writeBytes(scratch.logFile, bytes)

        let log = try EventLog(directory: scratch.directory)
        #expect(log.pending.map(\.seq) == [1])
        let recovery = try #require(log.recovery)
        #expect(recovery.offset == Int64(lineStarts[1]))
        #expect(recovery.reason.contains("CRC"))
        #expect(try motion(log, 2).seq == 2)
        #expect(readBytes(scratch.logFile)?.filter { $0 == 0x0A }.count == 2)
    }

    @Test func aRecordOutOfSequenceStopsRecovery() throws {
        let scratch = Scratch()
        do {
            let log = try EventLog(directory: scratch.directory)
            for index in 1...3 { try motion(log, index) }
        }
        // Drop record 2 entirely: record 3 now follows record 1.
        let bytes = readBytes(scratch.logFile) ?? []
        let lines = bytes.split(separator: 0x0A).map { Array($0) + [0x0A] }
        writeBytes(scratch.logFile, lines[0] + lines[2])
        let log = try EventLog(directory: scratch.directory)
        #expect(log.pending.map(\.seq) == [1])
        #expect(log.recovery?.reason.contains("expected") == true)
    }

    @Test func diskFullOnAppendThrowsAReadableErrorAndLeavesTheLogConsistent() throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        do {
            let log = try openLog(scratch.directory, faults)
            try motion(log, 1)
            faults.writeFailures["events.log"] = ENOSPC
            let error = try #require(throws: EventLogError.self) { try motion(log, 2) }
            #expect(error.code == .diskFull)
            #expect(error.errno == ENOSPC)
            #expect(error.path == scratch.logFile)
            #expect(error.description.contains(scratch.logFile))
            #expect(error.description.contains("ENOSPC"))
            #expect(error.description.contains("the disk is full: free space on the file system holding \(scratch.directory)"))
            #expect(error.description.contains("not recorded"))
            #expect(log.pending.map(\.seq) == [1])
            #expect(log.lastSeq == 1)

            faults.writeFailures = [:]
            #expect(try motion(log, 3).seq == 2)
            #expect(log.pending.map(\.seq) == [1, 2])
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.recovery == nil)
        #expect(log.pending.map(\.seq) == [1, 2])
        #expect(log.pending.last?.fields["n"] == .int(3))
    }

    @Test func aPartialWriteIsRolledBackBeforeTheNextAppend() throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        do {
            let log = try openLog(scratch.directory, faults)
            try motion(log, 1)
            let before = readBytes(scratch.logFile)
            faults.partialWrite = ("events.log", 10, ENOSPC)
            #expect(throws: EventLogError.self) { try motion(log, 2) }
            #expect(readBytes(scratch.logFile) == before)
            #expect(try motion(log, 3).seq == 2)
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.recovery == nil)
        #expect(log.pending.map { $0.fields["n"] } == [.int(1), .int(3)])
    }

    @Test func anIOErrorOnFsyncFailsTheAppend() throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        let log = try openLog(scratch.directory, faults)
        try motion(log, 1)
        faults.fsyncFailures["events.log"] = EIO
        let error = try #require(throws: EventLogError.self) { try motion(log, 2) }
        #expect(error.code == .io)
        #expect(error.description.contains("EIO"))
        #expect(log.pending.map(\.seq) == [1])
        faults.fsyncFailures = [:]
        #expect(try motion(log, 2).seq == 2)
    }

    @Test(arguments: [1, 10, 30])
    func aCrashPartWayThroughAnAppendLosesOnlyThatEvent(bytesWritten: Int) throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        do {
            let log = try openLog(scratch.directory, faults)
            try motion(log, 1)
            try motion(log, 2)
            faults.crashAfterBytes = bytesWritten
            #expect(throws: EventLogError.self) { try motion(log, 3) }
            #expect(faults.crashed)
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.pending.map(\.seq) == [1, 2])
        #expect(log.recovery?.droppedBytes == Int64(bytesWritten))
        #expect(try motion(log, 3).seq == 3)
    }

    @Test func aFailedAckRenameKeepsThePreviousAck() throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        do {
            let log = try openLog(scratch.directory, faults)
            for index in 1...4 { try motion(log, index) }
            try log.acknowledge(through: 1)
            faults.renameFailures["acked"] = EIO
            let error = try #require(throws: EventLogError.self) { try log.acknowledge(through: 3) }
            #expect(error.description.contains("stay pending"))
            #expect(log.ackedSeq == 1)
            #expect(log.pending.map(\.seq) == [2, 3, 4])
        }
        #expect(fileExists(scratch.directory + "/acked.tmp") == false)
        let log = try EventLog(directory: scratch.directory)
        #expect(log.ackedSeq == 1)
        #expect(log.pending.map(\.seq) == [2, 3, 4])
    }

    @Test func aCrashBeforeTheAckRenameKeepsThePreviousAck() throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        do {
            let log = try openLog(scratch.directory, faults)
            for index in 1...4 { try motion(log, index) }
            try log.acknowledge(through: 2)
            // "3\n" reaches acked.tmp, then the process dies before the rename.
            faults.crashBeforeRenameTo = "acked"
            #expect(throws: EventLogError.self) { try log.acknowledge(through: 3) }
        }
        #expect(readBytes(scratch.directory + "/acked.tmp") == Array("3\n".utf8))
        let log = try EventLog(directory: scratch.directory)
        #expect(log.ackedSeq == 2)
        #expect(log.pending.map(\.seq) == [3, 4])
        #expect(fileExists(scratch.directory + "/acked.tmp") == false)
    }

    @Test func compactionKeepsUnacknowledgedEvents() throws {
        let scratch = Scratch()
        var appended: [DeviceEvent] = []
        do {
            let log = try openLog(scratch.directory, FaultySystem(), compactAbove: 1)
            for index in 1...10 { appended.append(try motion(log, index)) }
            let sizeBefore = readBytes(scratch.logFile)?.count ?? 0
            try log.acknowledge(through: 4)
            let after = readBytes(scratch.logFile) ?? []
            #expect(after.count < sizeBefore)
            #expect(after.starts(with: Array("5 ".utf8)))
            #expect(log.pending == Array(appended[4...]))
            #expect(try motion(log, 11).seq == 11)
        }
        #expect(fileExists(scratch.logFile + ".tmp") == false)
        do {
            let log = try EventLog(directory: scratch.directory)
            #expect(log.recovery == nil)
            #expect(log.pending.map(\.seq) == Array(5...11))
            #expect(Array(log.pending.prefix(6)) == Array(appended[4...]))
            try log.acknowledge(through: 11)
            #expect(readBytes(scratch.logFile) == [])
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.pending.isEmpty && log.lastSeq == 11)
        #expect(try motion(log, 12).seq == 12)
    }

    @Test func aFailedCompactionKeepsTheAckAndTheEvents() throws {
        let scratch = Scratch()
        let faults = FaultySystem()
        do {
            let log = try openLog(scratch.directory, faults, compactAbove: 1)
            for index in 1...5 { try motion(log, index) }
            faults.writeFailures["events.log"] = ENOSPC
            let error = try #require(throws: EventLogError.self) { try log.acknowledge(through: 2) }
            #expect(error.code == .compaction)
            #expect(error.errno == ENOSPC)
            #expect(error.description.contains("is saved"))
            #expect(log.ackedSeq == 2)
            #expect(log.pending.map(\.seq) == [3, 4, 5])
            faults.writeFailures = [:]
            #expect(try motion(log, 6).seq == 6)
        }
        #expect(fileExists(scratch.logFile + ".tmp") == false)
        let log = try EventLog(directory: scratch.directory)
        #expect(log.ackedSeq == 2)
        #expect(log.pending.map(\.seq) == [3, 4, 5, 6])
    }

    @Test func anAckBeyondTheSurvivingRecordsRestartsTheFileCleanly() throws {
        let scratch = Scratch()
        do {
            let log = try EventLog(directory: scratch.directory)
            for index in 1...3 { try motion(log, index) }
        }
        // Records 4 and 5 were acknowledged but lost to damage: seq 6 must not follow seq 3 in the file.
        writeBytes(scratch.directory + "/acked", Array("5\n".utf8))
        do {
            let log = try EventLog(directory: scratch.directory)
            #expect(log.lastSeq == 5 && log.pending.isEmpty)
            #expect(try motion(log, 6).seq == 6)
        }
        let log = try EventLog(directory: scratch.directory)
        #expect(log.recovery == nil)
        #expect(log.pending.map(\.seq) == [6])
    }

    @Test func aNewDirectoryGetsANewEpoch() throws {
        let first = Scratch()
        let second = Scratch()
        let a = try EventLog(directory: first.directory)
        let b = try EventLog(directory: second.directory)
        #expect(a.epoch != b.epoch)
        for epoch in [a.epoch, b.epoch] {
            #expect(epoch.utf8.count == 16)
            #expect(epoch.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        }
        let meta = String(decoding: readBytes(first.directory + "/meta") ?? [], as: UTF8.self)
        #expect(meta == "nanoedge-event-log 1\nepoch \(a.epoch)\n")
        var info = stat()
        #expect(stat(first.directory, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
    }

    @Test func aSecondOpenOfTheSameDirectoryIsRefused() throws {
        let scratch = Scratch()
        let log = try EventLog(directory: scratch.directory)
        let error = try #require(throws: EventLogError.self) { try EventLog(directory: scratch.directory) }
        #expect(error.code == .locked)
        #expect(error.description.contains("another process"))
        withExtendedLifetime(log) {}
    }

    @Test func eventsWithoutTheirHeaderAreNotSilentlyRestarted() throws {
        let scratch = Scratch()
        do {
            let log = try EventLog(directory: scratch.directory)
            try motion(log, 1)
        }
        unlink(scratch.directory + "/meta")
        let error = try #require(throws: EventLogError.self) { try EventLog(directory: scratch.directory) }
        #expect(error.code == .corrupt)
        #expect(error.description.contains("meta is missing"))
    }

    @Test func callerMistakesAreRejected() throws {
        let scratch = Scratch()
        let log = try EventLog(directory: scratch.directory)
        try motion(log, 1)
        let reserved = try #require(throws: EventLogError.self) {
            try log.append(kind: .fault, at: 1, fields: ["seq": 7])
        }
        #expect(reserved.code == .invalidArgument)
        let beyond = try #require(throws: EventLogError.self) { try log.acknowledge(through: 2) }
        #expect(beyond.code == .invalidArgument)
        try log.acknowledge(through: 1)
        try log.acknowledge(through: 0)
        #expect(log.ackedSeq == 1)
        #expect(log.lastSeq == 1)
    }

    @Test func anEventTooLargeToReadBackIsRefused() throws {
        let scratch = Scratch()
        let log = try EventLog(directory: scratch.directory)
        let huge = String(repeating: "x", count: 70 * 1024)
        let error = try #require(throws: EventLogError.self) {
            try log.append(kind: .fault, at: 1, fields: ["message": .string(huge)])
        }
        #expect(error.code == .invalidArgument)
        #expect(log.lastSeq == 0)
        #expect(try motion(log, 1).seq == 1)
    }
}
