import CryptoEVP
import DurableFile
import JSON
import Site

#if canImport(Glibc)
import Glibc
#endif

// The agent's offline event buffer. Every event is written and fsync'd here before it is sent,
// and replayed in order until the gateway acknowledges it; the gateway drops duplicates by
// (device, epoch, seq). Nothing may be lost or counted twice across gateway outages, agent
// crashes and power cuts.
//
// On-disk format (one directory, mode 0700; see docs/agent.md, "Offline event log"):
//
//   meta        "nanoedge-event-log 1\nepoch <16 hex>\n", written once when the log is created
//               (temp file + fsync + rename + fsync of the directory). The epoch names this log:
//               sequence numbers restart only with a new epoch, i.e. a new directory.
//   events.log  append-only records, one per line:
//                   <seq> <crc32 of the json, 8 lower-case hex> <compact json of the DeviceEvent>\n
//               Each append is fsync'd before `append` returns. Seqs are consecutive.
//   acked       "<seq>\n", the highest seq the gateway confirmed, replaced atomically like meta.
//   *.tmp       leftovers of an interrupted atomic write; removed on open.
//
// Recovery on open reads the records in order and stops at the first torn, corrupt or
// non-consecutive one, truncating the file there: with fsync'd appends only the record being
// written at a power cut can be torn, and `append` had not returned for it. Pending events are
// the records with seq > acked. Compaction rewrites the unacked records into a temp file and
// renames it over events.log (fsync of the file and of the directory), so the log never holds
// less than what is unacknowledged. The directory is locked (flock) while a log is open, so two
// agents cannot hand out the same seq.

/// The system calls the event log makes (shared with the other crash-safe writers): tests replace
/// single calls to inject ENOSPC, EIO, or a crash part-way through a write.
typealias EventLogSystem = FileSystemCalls

/// An error from the event log: which file, which operation, the errno, and what to do.
///
/// Codes can grow, so compare `code` with the static codes rather than switching exhaustively.
public struct EventLogError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case io = "I/O error"
            case diskFull = "disk full"
            case permissionDenied = "permission denied"
            case readOnly = "read-only file system"
            case corrupt = "corrupt event log"
            case locked = "event log in use"
            case invalidArgument = "invalid argument"
            case compaction = "compaction failed"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        public static let io = Code(.io)
        /// ENOSPC or EDQUOT.
        public static let diskFull = Code(.diskFull)
        public static let permissionDenied = Code(.permissionDenied)
        public static let readOnly = Code(.readOnly)
        /// A file of the log holds something the log never writes; recovery cannot decide alone.
        public static let corrupt = Code(.corrupt)
        /// Another process holds the log's directory lock.
        public static let locked = Code(.locked)
        /// A caller error, such as acknowledging a seq that was never appended.
        public static let invalidArgument = Code(.invalidArgument)
        /// Compacting after an acknowledgement failed; the acknowledgement itself is saved.
        public static let compaction = Code(.compaction)
    }

    public let code: Code
    /// The errno behind the error, when a system call failed.
    public let errno: Int32?
    /// The file or directory concerned.
    public let path: String
    /// What the log was doing, e.g. "write" or "fsync".
    public let operation: String
    private let message: String

    public var description: String { "event log: " + message }

    init(_ code: Code, errno: Int32? = nil, path: String, operation: String, message: String) {
        self.code = code
        self.errno = errno
        self.path = path
        self.operation = operation
        self.message = message
    }

    /// A failed system call. `consequence` tells the caller what state the log is in now.
    static func system(_ errno: Int32, operation: String, path: String, directory: String,
                       consequence: String) -> EventLogError {
        let code: Code
        let hint: String
        switch errno {
        case ENOSPC, EDQUOT:
            code = .diskFull
            hint = "the disk is full: free space on the file system holding \(directory) (or raise the quota)"
        case EACCES, EPERM:
            code = .permissionDenied
            hint = "the agent's user cannot access it: give that user ownership of \(directory) (mode 0700)"
        case EROFS:
            code = .readOnly
            hint = "the file system is read-only: remount it read-write or point device.state_dir elsewhere"
        case EIO:
            code = .io
            hint = "the storage reported an I/O error: check the SD card or disk (dmesg) "
                + "and replace it if it is failing"
        default:
            code = .io
            hint = ""
        }
        var text = "\(operation) \(path) failed: \(errorText(errno))"
        if !hint.isEmpty { text += "; " + hint }
        if !consequence.isEmpty { text += "; " + consequence }
        return EventLogError(code, errno: errno, path: path, operation: operation, message: text)
    }

    /// The same failure, reported as a failed compaction after a saved acknowledgement.
    func asCompaction(ackedThrough seq: Int64) -> EventLogError {
        EventLogError(.compaction, errno: errno, path: path, operation: operation,
                      message: "the acknowledgement through seq \(seq) is saved, but compaction failed "
                          + "(retried after the next acknowledgement): " + message)
    }
}

private func errorText(_ code: Int32) -> String { DurableFile.errorText(code) }

/// CRC-32 (IEEE 802.3, reflected, as in zlib and `cksum -a crc32b`) to spot torn or damaged records.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1
        }
        return value
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// Eight lower-case hex digits, as stored in the log.
    static func hex(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return (0..<8).map { digits[Int((value >> (28 - 4 * UInt32($0))) & 0xF)] }
    }
}

/// The fsync'd on-disk buffer of events not yet confirmed by the gateway. Not thread-safe: one
/// owner (the agent's reactor thread) uses it.
public final class EventLog {
    /// What recovery cut off on open.
    public struct Recovery: Sendable, Equatable, CustomStringConvertible {
        /// Where events.log was truncated.
        public var offset: Int64
        public var droppedBytes: Int64
        /// Why the record at `offset` was rejected.
        public var reason: String

        public var description: String {
            "event log recovery dropped \(droppedBytes) byte(s) at offset \(offset) (\(reason))"
        }
    }

    public let directory: String
    /// Random 16 hex digits chosen when the log was created; kept for the log's life.
    public let epoch: String
    /// The highest seq appended (0 if none).
    public private(set) var lastSeq: Int64
    /// The highest seq the gateway confirmed.
    public private(set) var ackedSeq: Int64
    /// Appended but not acknowledged, in seq order.
    public private(set) var pending: [DeviceEvent]
    /// Set when recovery on open had to cut a torn or corrupt tail off events.log; nil for a clean log.
    public let recovery: Recovery?

    /// Bytes of acknowledged records left in events.log above which an acknowledgement compacts.
    static let defaultCompactionThreshold: Int64 = 64 * 1024
    /// Records are parsed back with these limits, so `append` refuses anything larger.
    static let recordLimits = JSONLimits()

    private let system: EventLogSystem
    private let compactionThreshold: Int64
    private let directoryFD: Int32
    private var logFD: Int32
    /// The exact record line of each pending event, for compaction.
    private var pendingLines: [[UInt8]]
    /// The length of events.log up to the end of the last durable record.
    private var fileSize: Int64
    /// Bytes of events.log taken by acknowledged records.
    private var ackedBytes: Int64
    /// A failed append could not be undone yet: cut the file back to `fileSize` before the next.
    private var needsTruncate = false
    /// A rename into the directory is not durable yet: appends must fsync the directory too.
    private var directoryDirty = false

    private var logPath: String { directory + "/events.log" }
    private var ackedPath: String { directory + "/acked" }

    /// Opens the log in `directory`, creating it (mode 0700) and a new epoch if missing, and recovers
    /// from a crash or power cut.
    public convenience init(directory: String) throws(EventLogError) {
        try self.init(directory: directory, system: .live, compactionThreshold: EventLog.defaultCompactionThreshold)
    }

    init(directory: String, system: EventLogSystem, compactionThreshold: Int64) throws(EventLogError) {
        let state = try Opener(directory: directory, system: system).open()
        self.directory = directory
        self.system = system
        self.compactionThreshold = compactionThreshold
        directoryFD = state.directoryFD
        logFD = state.logFD
        epoch = state.epoch
        ackedSeq = state.acked
        recovery = state.recovery
        fileSize = state.fileSize
        let lastRecord = state.records.last?.event.seq ?? 0
        lastSeq = max(state.acked, lastRecord)
        let unacked = state.records.drop(while: { $0.event.seq <= state.acked })
        pending = unacked.map(\.event)
        pendingLines = unacked.map(\.line)
        ackedBytes = state.fileSize - Int64(pendingLines.reduce(0) { $0 + $1.count })

        if state.acked > lastRecord && fileSize > 0 {
            // Recovery cut records the gateway had already confirmed; appending acked+1 after the
            // surviving ones would break the consecutive-seq rule, so start the file afresh.
            try compact()
        } else if (pending.isEmpty && fileSize > 0) || ackedBytes > compactionThreshold {
            // Only to save space; a failure here is retried after the next acknowledgement.
            try? compact()
        }
    }

    deinit {
        _ = system.close(logFD)
        _ = system.close(directoryFD)
    }

    /// Records one event: assigns seq = lastSeq + 1, writes and fsyncs it, then returns it as it
    /// will be replayed. On error nothing was recorded and the next append reuses the seq.
    @discardableResult
    public func append(kind: DeviceEvent.Kind, at: Int64, fields: [String: JSON]) throws(EventLogError) -> DeviceEvent {
        for key in ["epoch", "seq", "kind", "at"] where fields[key] != nil {
            throw EventLogError(.invalidArgument, path: logPath, operation: "append",
                                message: "field '\(key)' is reserved for the log; rename it")
        }
        let seq = lastSeq + 1
        let json = DeviceEvent(epoch: epoch, seq: seq, kind: kind, at: at, fields: fields).json.bytes()
        // Store only what recovery can read back, and hand out exactly that.
        let event: DeviceEvent
        do {
            event = try DeviceEvent(json: try JSON.parse(json, limits: EventLog.recordLimits))
        } catch {
            throw EventLogError(.invalidArgument, path: logPath, operation: "append",
                                message: "a \(kind) event cannot be stored: \(error)")
        }
        var line = Array(String(seq).utf8)
        line.append(0x20)
        line += CRC32.hex(CRC32.checksum(json))
        line.append(0x20)
        line += json
        line.append(0x0A)

        try repairTail()
        if let failure = writeAll(logFD, line) ?? syncFailure(logFD) {
            undoAppend()
            throw .system(failure, operation: "append to", path: logPath, directory: directory,
                          consequence: failedAppendState)
        }
        if directoryDirty {
            if let failure = syncFailure(directoryFD) {
                undoAppend()
                throw .system(failure, operation: "fsync", path: directory, directory: directory,
                              consequence: failedAppendState)
            }
            directoryDirty = false
        }
        fileSize += Int64(line.count)
        lastSeq = seq
        pending.append(event)
        pendingLines.append(line)
        return event
    }

    /// Saves that the gateway has every event through `seq` (crash-safe) and drops them from
    /// `pending`. A seq at or below `ackedSeq` changes nothing.
    public func acknowledge(through seq: Int64) throws(EventLogError) {
        guard seq <= lastSeq else {
            throw EventLogError(.invalidArgument, path: ackedPath, operation: "acknowledge",
                                message: "cannot acknowledge through seq \(seq): the last appended seq "
                                    + "is \(lastSeq) (epoch \(epoch)); the gateway's record belongs to another log")
        }
        guard seq > ackedSeq else { return }
        try writeAtomically(path: ackedPath, Array("\(seq)\n".utf8),
                            consequence: "the acknowledgement was not saved; events after seq \(ackedSeq) stay "
                                + "pending and are sent again (the gateway drops duplicates)")
        ackedSeq = seq
        var dropped = 0
        while dropped < pending.count && pending[dropped].seq <= seq {
            ackedBytes += Int64(pendingLines[dropped].count)
            dropped += 1
        }
        pending.removeFirst(dropped)
        pendingLines.removeFirst(dropped)
        if (pending.isEmpty && fileSize > 0) || ackedBytes > compactionThreshold {
            do {
                try compact()
            } catch {
                throw error.asCompaction(ackedThrough: seq)
            }
        }
    }

    // MARK: Writing

    /// Rewrites events.log with only the pending records.
    private func compact() throws(EventLogError) {
        let temporary = logPath + ".tmp"
        let consequence = "events.log is unchanged"
        let fd = retrying { system.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600) }
        guard fd.result >= 0 else {
            throw .system(fd.errno, operation: "create", path: temporary, directory: directory,
                          consequence: consequence)
        }
        let size = pendingLines.reduce(0) { $0 + $1.count }
        var contents: [UInt8] = []
        contents.reserveCapacity(size)
        for line in pendingLines { contents += line }
        if let failure = writeAll(fd.result, contents) ?? syncFailure(fd.result) {
            _ = system.close(fd.result)
            _ = system.unlink(temporary)
            throw .system(failure, operation: "write", path: temporary, directory: directory, consequence: consequence)
        }
        let renamed = retrying { system.rename(temporary, logPath) }
        guard renamed.result == 0 else {
            _ = system.close(fd.result)
            _ = system.unlink(temporary)
            throw .system(renamed.errno, operation: "rename over", path: logPath, directory: directory,
                          consequence: consequence)
        }
        // The new file is events.log from here on, durable or not: append to it, and until the
        // directory is synced make every append sync it too.
        _ = system.close(logFD)
        logFD = fd.result
        fileSize = Int64(size)
        ackedBytes = 0
        needsTruncate = false
        directoryDirty = true
        if let failure = syncFailure(directoryFD) {
            throw .system(failure, operation: "fsync", path: directory, directory: directory,
                          consequence: "the compacted events.log is in place; the next append syncs the directory")
        }
        directoryDirty = false
    }

    /// Temp file + fsync + rename + fsync of the directory, so readers see the old or the new contents.
    private func writeAtomically(path: String, _ bytes: [UInt8], consequence: String) throws(EventLogError) {
        try EventLog.writeAtomically(system: system, directory: directory, directoryFD: directoryFD,
                                     path: path, bytes, consequence: consequence)
    }

    /// The same crash-safe write for other files of the agent (e.g. presentation content).
    static func writeFileAtomically(directory: String, name: String, bytes: [UInt8]) throws(EventLogError) {
        let system = EventLogSystem.live
        try? DurableFile.makeDirectories(directory, mode: 0o700)  // the open below reports real failures
        let dir = retrying { system.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
        guard dir.result >= 0 else {
            throw .system(dir.errno, operation: "open", path: directory, directory: directory,
                          consequence: "\(name) was not written")
        }
        defer { _ = system.close(dir.result) }
        try writeAtomically(system: system, directory: directory, directoryFD: dir.result,
                            path: directory + "/" + name, bytes, consequence: "\(name) was not written")
    }

    fileprivate static func writeAtomically(system: EventLogSystem, directory: String, directoryFD: Int32,
                                            path: String, _ bytes: [UInt8], consequence: String) throws(EventLogError) {
        guard let failure = DurableFile.replace(calls: system, directoryFD: directoryFD, path: path, bytes) else { return }
        throw .system(failure.errno, operation: failure.operation, path: failure.path, directory: directory,
                      consequence: failure.replaced
                          ? "\(path) may revert to its previous contents after a power cut" : consequence)
    }

    /// Cuts a failed append's bytes off again if an earlier attempt could not.
    private func repairTail() throws(EventLogError) {
        guard needsTruncate else { return }
        let cut = retrying { system.ftruncate(logFD, fileSize) }
        guard cut.result == 0 else {
            throw .system(cut.errno, operation: "truncate", path: logPath, directory: directory,
                          consequence: "a failed append left bytes at the end of the log; nothing more is appended "
                              + "until they are removed")
        }
        if let failure = syncFailure(logFD) {
            throw .system(failure, operation: "fsync", path: logPath, directory: directory,
                          consequence: "nothing more is appended until the log syncs")
        }
        needsTruncate = false
    }

    private var failedAppendState: String {
        needsTruncate
            ? "the event was not recorded; its partial bytes are removed before the next append"
            : "the event was not recorded and the log is unchanged; the next append retries"
    }

    /// Removes what a failed append may have left, so a later record never follows a torn one
    /// (recovery would drop everything after it) and a failed event never reappears.
    private func undoAppend() {
        needsTruncate = true
        try? repairTail()
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        EventLog.writeAll(system: system, fd, bytes)
    }

    private func syncFailure(_ fd: Int32) -> Int32? {
        EventLog.syncFailure(system: system, fd)
    }

    fileprivate static func writeAll(system: EventLogSystem, _ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        DurableFile.writeAll(calls: system, fd, bytes)
    }

    fileprivate static func syncFailure(system: EventLogSystem, _ fd: Int32) -> Int32? {
        DurableFile.syncFailure(calls: system, fd)
    }
}

/// Runs `call` until it does not fail with EINTR; errno is read at once.
private func retrying<T: BinaryInteger>(_ call: () -> T) -> (result: T, errno: Int32) {
    DurableFile.retrying(call)
}

// MARK: - Opening and recovery

/// The work of opening a log, kept apart so that file descriptors are closed when opening fails.
private struct Opener {
    struct Record {
        var event: DeviceEvent
        var line: [UInt8]
    }

    struct State {
        var directoryFD: Int32
        var logFD: Int32
        var epoch: String
        var acked: Int64
        var records: [Record]
        var fileSize: Int64
        var recovery: EventLog.Recovery?
    }

    let directory: String
    let system: EventLogSystem

    static let metaHeader = "nanoedge-event-log 1\n"

    func open() throws(EventLogError) -> State {
        try makeDirectories()
        let dir = retrying { system.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
        guard dir.result >= 0 else {
            throw .system(dir.errno, operation: "open", path: directory, directory: directory,
                          consequence: "the event log cannot be used")
        }
        var logFD: Int32 = -1
        do throws(EventLogError) {
            try lock(dir.result)
            for name in ["meta.tmp", "acked.tmp", "events.log.tmp"] {
                _ = system.unlink(directory + "/" + name)
            }
            let epoch = try readOrCreateMeta(directoryFD: dir.result)
            let acked = try readAcked()
            let path = directory + "/events.log"
            let opened = retrying { system.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
            guard opened.result >= 0 else {
                throw .system(opened.errno, operation: "open", path: path, directory: directory,
                              consequence: "the event log cannot be used")
            }
            logFD = opened.result
            let bytes = try readAll(logFD, path: path)
            let (records, validSize, reason) = parse(bytes, epoch: epoch)
            var recovery: EventLog.Recovery?
            if validSize < bytes.count {
                let cut = retrying { system.ftruncate(logFD, Int64(validSize)) }
                let synced = cut.result == 0 ? EventLog.syncFailure(system: system, logFD) : cut.errno
                if let failure = synced {
                    throw .system(failure, operation: "truncate the damaged tail of", path: path, directory: directory,
                                  consequence: "nothing is appended behind a damaged record; the log stays closed")
                }
                recovery = EventLog.Recovery(offset: Int64(validSize), droppedBytes: Int64(bytes.count - validSize),
                                             reason: reason ?? "damaged record")
            }
            // events.log may have just been created: make its directory entry durable.
            if let failure = EventLog.syncFailure(system: system, dir.result) {
                throw .system(failure, operation: "fsync", path: directory, directory: directory,
                              consequence: "the event log cannot be used")
            }
            return State(directoryFD: dir.result, logFD: logFD, epoch: epoch, acked: acked, records: records,
                         fileSize: Int64(validSize), recovery: recovery)
        } catch {
            if logFD >= 0 { _ = system.close(logFD) }
            _ = system.close(dir.result)
            throw error
        }
    }

    /// mkdir -p with mode 0700, syncing each parent so a new directory survives a power cut.
    private func makeDirectories() throws(EventLogError) {
        if let failure = DurableFile.makeDurableDirectories(directory, mode: 0o700, calls: system) {
            throw .system(failure.errno, operation: "create directory", path: failure.path, directory: directory,
                          consequence: "the event log cannot be used")
        }
    }

    private func lock(_ fd: Int32) throws(EventLogError) {
        let locked = retrying { flock(fd, LOCK_EX | LOCK_NB) }
        guard locked.result == 0 else {
            if locked.errno == EWOULDBLOCK {
                throw EventLogError(.locked, errno: locked.errno, path: directory, operation: "lock",
                                    message: "\(directory) is in use by another process (is another agent "
                                        + "running with the same state_dir?); stop it or give each agent "
                                        + "its own state_dir")
            }
            throw .system(locked.errno, operation: "lock", path: directory, directory: directory,
                          consequence: "the event log cannot be used")
        }
    }

    private func readOrCreateMeta(directoryFD: Int32) throws(EventLogError) -> String {
        let path = directory + "/meta"
        if let bytes = try readFile(path) {
            let text = String(decoding: bytes, as: UTF8.self)
            let prefix = Opener.metaHeader + "epoch "
            if text.hasPrefix(prefix) && text.hasSuffix("\n") {
                let epoch = String(text.dropFirst(prefix.count).dropLast())
                if epoch.utf8.count == 16 && Hex.decode(epoch) != nil && epoch.lowercased() == epoch {
                    return epoch
                }
            }
            throw EventLogError(.corrupt, path: path, operation: "read",
                                message: "\(path) is not an event log header (expected \"nanoedge-event-log 1\" "
                                    + "and an epoch of 16 hex digits); move \(directory) aside to start a new log, "
                                    + "after sending or saving its events.log")
        }
        // No header: a new log. Events without their epoch cannot be replayed safely, so refuse to
        // start over on top of them.
        let logPath = directory + "/events.log"
        if let events = try readFile(logPath), !events.isEmpty {
            throw EventLogError(.corrupt, path: path, operation: "read",
                                message: "\(path) is missing but \(logPath) holds events; restore meta, or "
                                    + "move \(directory) aside to start a new log (its events would not be sent)")
        }
        _ = system.unlink(directory + "/acked")
        let epoch = Hex.encode(secureRandomBytes(8))
        try EventLog.writeAtomically(system: system, directory: directory, directoryFD: directoryFD, path: path,
                                     Array((Opener.metaHeader + "epoch \(epoch)\n").utf8),
                                     consequence: "the event log was not created")
        return epoch
    }

    private func readAcked() throws(EventLogError) -> Int64 {
        let path = directory + "/acked"
        guard let bytes = try readFile(path) else { return 0 }
        let text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n"), let value = Int64(text.dropLast()), value >= 0 {
            return value
        }
        throw EventLogError(.corrupt, path: path, operation: "read",
                            message: "\(path) should hold one seq number but holds \"\(text.prefix(40))\"; "
                                + "delete it to resend every logged event (the gateway drops duplicates)")
    }

    /// The whole file, or nil when it does not exist.
    private func readFile(_ path: String) throws(EventLogError) -> [UInt8]? {
        let fd = retrying { system.open(path, O_RDONLY | O_CLOEXEC, 0) }
        if fd.result < 0 {
            if fd.errno == ENOENT { return nil }
            throw .system(fd.errno, operation: "open", path: path, directory: directory,
                          consequence: "the event log cannot be used")
        }
        defer { _ = system.close(fd.result) }
        return try readAll(fd.result, path: path)
    }

    private func readAll(_ fd: Int32, path: String) throws(EventLogError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in retrying { system.read(fd, buffer) } }
            if count.result < 0 {
                throw .system(count.errno, operation: "read", path: path, directory: directory,
                              consequence: "the event log cannot be used")
            }
            if count.result == 0 { return bytes }
            bytes += chunk[0..<count.result]
        }
    }

    /// The valid records, the length they take, and why the rest (if any) was rejected.
    private func parse(_ bytes: [UInt8], epoch: String) -> (records: [Record], validSize: Int, reason: String?) {
        var records: [Record] = []
        var start = 0
        while start < bytes.count {
            guard let end = bytes[start...].firstIndex(of: 0x0A) else {
                return (records, start, "torn record without a line end")
            }
            let line = bytes[start..<end]
            let expected = records.last.map { $0.event.seq + 1 }
            switch parseRecord(line, epoch: epoch, expectedSeq: expected) {
            case .success(let event):
                records.append(Record(event: event, line: Array(bytes[start...end])))
            case .failure(let reason):
                return (records, start, reason.text)
            }
            start = end + 1
        }
        return (records, start, nil)
    }

    private struct Rejection: Error {
        var text: String
    }

    private func parseRecord(_ line: ArraySlice<UInt8>, epoch: String,
                             expectedSeq: Int64?) -> Result<DeviceEvent, Rejection> {
        let fields = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else { return .failure(Rejection(text: "malformed record")) }
        let seqText = String(decoding: fields[0], as: UTF8.self)
        guard let seq = Int64(seqText), seq > 0, String(seq) == seqText else {
            return .failure(Rejection(text: "malformed seq"))
        }
        if let expectedSeq, seq != expectedSeq {
            return .failure(Rejection(text: "seq \(seq) where \(expectedSeq) was expected"))
        }
        let json = fields[2]
        guard Array(fields[1]) == CRC32.hex(CRC32.checksum(json)) else {
            return .failure(Rejection(text: "CRC mismatch in seq \(seq)"))
        }
        let event: DeviceEvent
        do {
            event = try DeviceEvent(json: try JSON.parse(json, limits: EventLog.recordLimits))
        } catch {
            return .failure(Rejection(text: "unreadable event in seq \(seq): \(error)"))
        }
        guard event.seq == seq, event.epoch == epoch else {
            return .failure(Rejection(text: "seq \(seq) holds event \(event.epoch)/\(event.seq)"))
        }
        return .success(event)
    }
}
