import DaemonLog
import Glibc
import Testing

@Suite struct DaemonLogTests {
    @Test func journalLinesCarryTheSdDaemonPriority() {
        #expect(DaemonLog.line(.error, "gateway: could not record", journal: true) == "<3>gateway: could not record\n")
        #expect(DaemonLog.line(.warning, "x", journal: true) == "<4>x\n")
        #expect(DaemonLog.line(.notice, "x", journal: true) == "<5>x\n")
        #expect(DaemonLog.line(.info, "x", journal: true) == "<6>x\n")
        #expect(DaemonLog.line(.debug, "x", journal: true) == "<7>x\n")
    }

    @Test func terminalLinesNameOnlyWarningsAndWorse() {
        #expect(DaemonLog.line(.info, "agent: registered", journal: false) == "agent: registered\n")
        #expect(DaemonLog.line(.warning, "agent: slow", journal: false) == "warning: agent: slow\n")
        #expect(DaemonLog.line(.critical, "down", journal: false) == "critical: down\n")
    }

    @Test func aMessageWithLineBreaksStaysOneEntry() {
        // A device-supplied error text must not forge a second journal entry with its own priority.
        #expect(DaemonLog.line(.info, "refused: a\n<0>forged\r\n", journal: true) == "<6>refused: a <0>forged  \n")
    }

    @Test func levelsParseFromTheirNamesAndSwiftLogs() {
        #expect(LogLevel(name: "WARNING") == .warning)
        #expect(LogLevel(name: "trace") == .debug)
        #expect(LogLevel(name: "crit") == .critical)
        #expect(LogLevel(name: "verbose") == nil)
        #expect(LogLevel.error < LogLevel.info, "more severe compares lower, as in syslog")
    }

    @Test func journalStreamMustBeTheDescriptorItself() throws {
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var info = stat()
        try #require(fstat(fds[1], &info) == 0)
        let matching = "\(info.st_dev):\(info.st_ino)"
        #expect(DaemonLog.isJournalStream(fd: fds[1], environment: matching))
        // Inherited by a child whose stderr goes elsewhere: the inode differs.
        #expect(!DaemonLog.isJournalStream(fd: fds[1], environment: "\(info.st_dev):\(info.st_ino + 1)"))
        #expect(!DaemonLog.isJournalStream(fd: fds[1], environment: nil))
        #expect(!DaemonLog.isJournalStream(fd: fds[1], environment: "garbage"))
    }

    @Test func theThresholdDropsLessSevereMessages() {
        let saved = DaemonLog.level
        defer { DaemonLog.level = saved }
        DaemonLog.level = .warning
        #expect(DaemonLog.enabled(.error))
        #expect(DaemonLog.enabled(.warning))
        #expect(!DaemonLog.enabled(.notice))
        DaemonLog.level = .debug
        #expect(DaemonLog.enabled(.debug))
    }
}
