import DaemonLog
import Logging

/// swift-log's handler for the server daemons: lines as DaemonLog writes them (sd-daemon `<N>`
/// prefixes under systemd), "LABEL: message key=value …", so that the gateway, the update server and
/// the libraries they use (Hummingbird, ServiceLifecycle) log alike, at one `--log-level`.
public struct DaemonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    /// DaemonLog's level, read at each message: `--log-level` applies to loggers made before it was parsed.
    public var logLevel: Logger.Level {
        get { fixedLevel ?? Logger.Level(DaemonLog.level) }
        set { fixedLevel = newValue }
    }
    private var fixedLevel: Logger.Level?
    private let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var pairs = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        if let error = event.error { pairs += " error=\(error)" }
        // DaemonLog's own threshold is the same level; the handler already filtered.
        DaemonLog.write(event.level.daemonLevel, "\(label): \(event.message)\(pairs)")
    }

    /// Routes every Logger of the process here. Once per process, first thing.
    public static func bootstrap() {
        LoggingSystem.bootstrap { label in DaemonLogHandler(label: label) }
    }
}

extension Logger.Level {
    public init(_ level: LogLevel) {
        switch level {
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }

    var daemonLevel: LogLevel {
        switch self {
        case .trace, .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}
