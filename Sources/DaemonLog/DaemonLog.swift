#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// How much a daemon says, in syslog's order; the raw value is the sd-daemon(3) priority that
/// journald reads from a `<N>` prefix.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case critical = 2
    case error = 3
    case warning = 4
    case notice = 5
    case info = 6
    case debug = 7

    /// More severe levels compare lower, as in syslog; `a < b` reads "a is more severe".
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .critical: "critical"
        case .error: "error"
        case .warning: "warning"
        case .notice: "notice"
        case .info: "info"
        case .debug: "debug"
        }
    }

    /// The names `--log-level` and the `log_level` config keys take; "trace" is swift-log's name
    /// for the most verbose level and reads as debug.
    public static let names = "debug, info, notice, warning, error or critical"

    public init?(name: String) {
        switch name.lowercased() {
        case "trace", "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warning", "warn": self = .warning
        case "error": self = .error
        case "critical", "crit": self = .critical
        default: return nil
        }
    }
}

/// The daemons' line logger: one line per message on standard error, written with one write(2),
/// below the process's level dropped. When standard error is the journal (systemd sets
/// JOURNAL_STREAM to its device and inode), each line starts with sd-daemon(3)'s `<N>` so that
/// journald records the priority (`journalctl -p warning`); elsewhere warnings and worse say their
/// level in words and the rest is the message alone.
public enum DaemonLog {
    private static let threshold = Atomic<Int>(LogLevel.info.rawValue)

    /// Messages less severe than this are dropped (default info).
    public static var level: LogLevel {
        get { LogLevel(rawValue: threshold.load(ordering: .relaxed)) ?? .info }
        set { threshold.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// Whether standard error is the journal's stream, decided once.
    public static let toJournal: Bool = isJournalStream(fd: 2)

    public static func enabled(_ level: LogLevel) -> Bool { level.rawValue <= threshold.load(ordering: .relaxed) }

    public static func log(_ level: LogLevel, _ message: String) {
        guard enabled(level) else { return }
        write(level, message)
    }

    /// Writes the line whatever the level: for a caller that filtered already (swift-log's handler).
    public static func write(_ level: LogLevel, _ message: String) {
        writeStandardError(line(level, message, journal: toJournal))
    }

    public static func info(_ message: String) { log(.info, message) }
    public static func warning(_ message: String) { log(.warning, message) }
    public static func error(_ message: String) { log(.error, message) }

    /// The line as written, newline included; a message's own line breaks become spaces, so that
    /// one message stays one journal entry.
    public static func line(_ level: LogLevel, _ message: String, journal: Bool) -> String {
        var text = message
        if text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            text = String(decoding: text.utf8.map { $0 == 0x0A || $0 == 0x0D ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        }
        if journal { return "<\(level.rawValue)>\(text)\n" }
        return level <= .warning ? "\(level): \(text)\n" : "\(text)\n"
    }

    /// JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected; it is inherited by
    /// children whose stderr goes elsewhere, so the descriptor itself must match.
    public static func isJournalStream(fd: Int32, environment value: String? = getenv("JOURNAL_STREAM").map { String(cString: $0) }) -> Bool {
        guard let value else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Writes text to standard error whole: one write(2) unless the pipe takes less, EINTR retried.
    public static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }
}
