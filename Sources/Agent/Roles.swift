import DaemonLog
import Hardware
import JSON
import Reactor
import Site
import CryptoEVP

#if canImport(Glibc)
import Glibc
#endif

/// Records an event in the offline log and wakes the uplink.
typealias EventSink = (DeviceEvent.Kind, [String: JSON]) -> Void

/// Presence: PIR edges through the signal filter become motion start/end events.
final class PresenceRole {
    private let line: InputLine
    private var filter: PIRFilter
    private let reactor: Reactor
    private let record: EventSink
    private var timer: Reactor.TimerID?

    init(line: InputLine, timing: PIRFilter.Configuration, reactor: Reactor, record: @escaping EventSink) {
        self.line = line
        self.reactor = reactor
        self.record = record
        let high = (try? line.read()) ?? false
        filter = PIRFilter(configuration: timing, startedAt: Reactor.now(), lineHigh: high)
    }

    func start() throws(HardwareError) {
        try line.startEdgeEvents { [weak self] edge in
            guard let self else { return }
            self.emit(self.filter.edge(edge))
        }
        rearm()
    }

    func stop() {
        line.stopEdgeEvents()
        if let timer { reactor.cancel(timer) }
    }

    /// New glitch and hold times from a remote config, applied at once.
    func retime(minHighMs: Int64?, holdMs: Int64?) {
        filter.retime(minHighMs: minHighMs, holdMs: holdMs)
        emit(filter.tick(now: Reactor.now()))
    }

    private func emit(_ outputs: [PIRFilter.Output]) {
        let wallOffset = Reactor.wallClock() - Reactor.now()
        for output in outputs {
            switch output {
            case .motionStarted(let at):
                record(.motion, ["state": "start", "edge_at": .int(at + wallOffset)])
            case .motionEnded(let at):
                record(.motion, ["state": "end", "edge_at": .int(at + wallOffset)])
            case .sensorFault(let since):
                record(.fault, ["sensor": "pir", "message": .string("PIR line stuck high since \(since + wallOffset)")])
            case .sensorRecovered:
                record(.fault, ["sensor": "pir", "message": "PIR line recovered", "recovered": true])
            }
        }
        rearm()
    }

    private func rearm() {
        if let timer { reactor.cancel(timer) }
        timer = nil
        guard let deadline = filter.nextDeadline else { return }
        timer = reactor.schedule(afterMilliseconds: deadline - Reactor.now()) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.emit(self.filter.tick(now: Reactor.now()))
        }
    }
}

/// Scanner: runs a BLE scan window on command and reports the tags seen, as keyed hashes.
final class ScannerRole {
    private let scanner: BLEScanner
    private let hasher: TagHasher?
    private let reactor: Reactor
    private let record: EventSink
    private var lastScanID: Int64 = 0
    private var seen: [String: Int] = [:]
    private var windowTimer: Reactor.TimerID?
    var log: (LogLevel, String) -> Void = { _, _ in }
    /// A scan window set by remote config; it replaces the one the gateway's command asks for.
    var windowOverride: Int?

    /// `hasher` nil means raw addresses leave the Pi (only when the config asks for it).
    init(scanner: BLEScanner, hasher: TagHasher?, reactor: Reactor, record: @escaping EventSink) {
        self.scanner = scanner
        self.hasher = hasher
        self.reactor = reactor
        self.record = record
    }

    func apply(_ scan: DeviceCommands.Scan?) {
        guard let scan, scan.id > lastScanID else { return }
        lastScanID = scan.id
        finishWindow(report: nil)
        seen = [:]
        do {
            try scanner.startScan({ [weak self] advertisement in
                guard let self else { return }
                self.seen[advertisement.address] = max(self.seen[advertisement.address] ?? Int.min, advertisement.rssi)
            }, onFailure: { [weak self] error in
                // The controller refused the scan or stopped answering: report now, with what was seen.
                self?.log(.warning, "agent: scan \(scan.id) failed: \(error)")
                self?.finishWindow(report: scan, error: error)
            })
        } catch {
            log(.error, "agent: scan \(scan.id) could not start: \(error)")
            record(.scan, ["scan": .int(scan.id), "visit": .int(scan.visit), "tags": [], "error": .string(error.description)])
            return
        }
        windowTimer = reactor.schedule(afterMilliseconds: Int64(windowOverride ?? scan.windowMilliseconds)) { [weak self] in
            self?.windowTimer = nil
            self?.finishWindow(report: scan)
        }
    }

    func stop() { finishWindow(report: nil) }

    private func finishWindow(report scan: DeviceCommands.Scan?, error: HardwareError? = nil) {
        if let windowTimer { reactor.cancel(windowTimer) }
        windowTimer = nil
        scanner.stopScan()
        guard let scan else { return }
        let tags = seen.sorted { $0.value > $1.value }.map { address, rssi -> JSON in
            ["id": .string(hasher?.tagID(forAddress: address) ?? address), "rssi": .int(Int64(rssi))]
        }
        var body: [String: JSON] = ["scan": .int(scan.id), "visit": .int(scan.visit), "tags": .array(tags)]
        if let error { body["error"] = .string(error.description) }
        record(.scan, body)
    }
}

/// Guidance: drives the LED pattern the gateway asks for, and turns every LED off when it stops.
final class GuidanceRole {
    private let leds: [OutputLine]
    private let reactor: Reactor
    private let record: EventSink
    private var active: DeviceCommands.Guidance?
    private var pattern = LEDPattern.off
    private var startedAt: Int64 = 0
    private var timer: Reactor.TimerID?
    var log: (LogLevel, String) -> Void = { _, _ in }
    /// LED timings set by remote config; they replace the ones in the gateway's pattern.
    private var chaseStepMs: Int64?
    private var blinkPeriodMs: Int64?

    init(leds: [OutputLine], reactor: Reactor, record: @escaping EventSink) {
        self.leds = leds
        self.reactor = reactor
        self.record = record
    }

    func apply(_ guidance: DeviceCommands.Guidance?) {
        guard guidance != active else { return }
        let previous = active
        active = guidance
        if let guidance {
            do {
                pattern = try LEDPattern(parsing: guidance.pattern)
                    .retimed(chaseStepMs: chaseStepMs, blinkPeriodMs: blinkPeriodMs)
            } catch {
                log(.error, "agent: \(error)")
                pattern = .off
            }
            startedAt = Reactor.now()
            render()
            record(.guidance, ["visit": .int(guidance.visit), "active": true, "pattern": .string(pattern.description)])
        } else {
            pattern = .off
            render()
            if let previous { record(.guidance, ["visit": .int(previous.visit), "active": false]) }
        }
    }

    /// New LED timings from a remote config; a running pattern changes pace at once.
    func retime(chaseStepMs: Int64?, blinkPeriodMs: Int64?) {
        self.chaseStepMs = chaseStepMs
        self.blinkPeriodMs = blinkPeriodMs
        guard active != nil else { return }
        pattern = pattern.retimed(chaseStepMs: chaseStepMs, blinkPeriodMs: blinkPeriodMs)
        render()
    }

    /// LEDs off, whatever was running: on start, on exit and on a crash restart.
    func allOff() {
        if let timer { reactor.cancel(timer) }
        timer = nil
        for led in leds { try? led.set(false) }
    }

    private func render() {
        if let timer { reactor.cancel(timer) }
        timer = nil
        let elapsed = Reactor.now() - startedAt
        for (led, on) in zip(leds, pattern.levels(ledCount: leds.count, at: elapsed)) {
            do { try led.set(on) } catch { log(.error, "agent: LED \(led.name): \(error)") }
        }
        guard let next = pattern.nextChange(after: elapsed) else { return }
        timer = reactor.schedule(afterMilliseconds: max(1, next - elapsed)) { [weak self] in self?.render() }
    }
}

/// Display: on command, fetches the meeting's content from the gateway (block-wise), hides personal
/// content, presents the meeting and optionally runs a command with the content file.
final class DisplayRole {
    private let display: ContentDisplay
    private let command: [String]
    private let contentDirectory: String
    private let record: EventSink
    private var shown: DeviceCommands.Display?
    private var fetching: DeviceCommands.Display?
    var fetch: (String, String, @escaping (Result<[UInt8], AgentError>) -> Void) -> Void = { _, _, done in
        done(.failure(AgentError("no gateway")))
    }
    var log: (LogLevel, String) -> Void = { _, _ in }

    init(display: ContentDisplay, command: [String], contentDirectory: String, record: @escaping EventSink) {
        self.display = display
        self.command = command
        self.contentDirectory = contentDirectory
        self.record = record
    }

    func apply(_ wanted: DeviceCommands.Display?) {
        guard let wanted else {
            if let shown {
                try? display.hide()
                self.shown = nil
                record(.hidden, ["visit": .int(shown.visit)])
            }
            return
        }
        guard wanted != shown, wanted != fetching else { return }
        fetching = wanted
        fetch(SitePaths.content, "meeting=\(wanted.meeting)") { [weak self] result in
            guard let self, self.fetching == wanted else { return }
            self.fetching = nil
            switch result {
            case .failure(let message):
                self.log(.warning, "agent: content for \(wanted.meeting) not fetched: \(message)")
            case .success(let body):
                let content = (try? JSON.parse(body))?["content"]?.stringValue.map { Array($0.utf8) } ?? body
                do {
                    try self.display.hide()
                    try self.display.present(title: wanted.title, content: content)
                } catch {
                    self.log(.error, "agent: display: \(error)")
                    return
                }
                self.runCommand(content: content, meeting: wanted.meeting)
                self.shown = wanted
                self.record(.presented, ["visit": .int(wanted.visit), "meeting": .string(wanted.meeting),
                                         "bytes": .int(Int64(content.count))])
            }
        }
    }

    private func runCommand(content: [UInt8], meeting: String) {
        guard !command.isEmpty else { return }
        let name = meeting.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } + ".txt"
        do {
            try EventLog.writeFileAtomically(directory: contentDirectory, name: name, bytes: content)
            try Spawn.detached(command + [contentDirectory + "/" + name])
        } catch {
            log(.warning, "agent: display command: \(error)")
        }
    }
}
