import BLE
import Hardware
import Reactor

/// A Raspberry Pi in software, driven from another process through a control socket.
///
/// Its backends (`pir`, `leds`, `scanner`, `display`) conform to the Hardware protocols, so the agent
/// runs unchanged against it. The board and its backends belong to the reactor given to `start(on:)`:
/// call them on that thread only (hand work over with `reactor.execute`). Every callback is delivered
/// there too. The control protocol is described in docs/simulator.md.
public final class SimulatedBoard: @unchecked Sendable {
    /// One LED change, as `led-history` shows it.
    public struct LEDChange: Sendable, Equatable {
        public var time: Int64
        public var name: String
        public var on: Bool
    }

    public static let defaultPulseMs: Int64 = 200
    /// Oldest changes are dropped beyond this, so a chase left running for days does not grow memory.
    public static let historyLimit = 10_000

    public let profile: BoardProfile
    public let socketPath: String
    public let pir: SimulatedInputLine
    public let leds: [SimulatedOutputLine]
    public let scanner: SimulatedScanner
    public let display: SimulatedDisplay
    public private(set) var ledHistory: [LEDChange] = []

    private var reactor: Reactor?
    private var server: ControlServer?
    private var pulseTimer: Reactor.TimerID?
    private var replay: Replay?

    /// An `hci replay` in progress: the trace, the next entry, and its clock.
    private struct Replay {
        var trace: HCITrace
        var next = 0
        var startedAt: Int64
        var speed: Double
        var timer: Reactor.TimerID?
    }

    public static let maximumReplaySpeed = 1_000.0

    public init(profile: BoardProfile, socketPath: String) {
        self.profile = profile
        self.socketPath = socketPath
        pir = SimulatedInputLine(name: "pir")
        scanner = SimulatedScanner(adapter: profile.bleAdapter ?? "hci0")
        display = SimulatedDisplay()
        var recorder: ((SimulatedOutputLine) -> Void)?
        leds = profile.leds.indices.map { SimulatedOutputLine(name: "led\($0)") { recorder?($0) } }
        recorder = { [weak self] line in self?.record(line) }
    }

    /// Opens the control socket and attaches the board to `reactor`. Call it on the reactor's thread.
    public func start(on reactor: Reactor) throws(HardwareError) {
        assert(reactor.isOnLoop, "SimulatedBoard.start(on:) must run on the reactor's thread")
        guard server == nil else { throw .simulator("the board is already started at \(socketPath)") }
        let server = ControlServer(path: socketPath, reactor: reactor) { [weak self] command in
            self?.handle(command: command) ?? "error: the simulated board has stopped"
        }
        try server.start()
        self.server = server
        self.reactor = reactor
        scanner.reactor = reactor
    }

    /// Closes the socket (and removes its file), ends any scan and pulse.
    public func stop() {
        server?.stop()
        server = nil
        scanner.stopScan()
        scanner.reactor = nil
        if let pulseTimer { reactor?.cancel(pulseTimer) }
        pulseTimer = nil
        stopReplay()
        reactor = nil
    }

    private func record(_ line: SimulatedOutputLine) {
        if ledHistory.count >= Self.historyLimit { ledHistory.removeFirst(ledHistory.count - Self.historyLimit + 1) }
        ledHistory.append(LEDChange(time: Reactor.now(), name: line.name, on: line.level))
    }

    // MARK: Commands

    /// Runs one control command and returns its response without the framing. The socket calls this;
    /// in-process callers may too.
    public func handle(command: String) -> String {
        let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { return "error: empty command" }
        let arguments = Array(words.dropFirst())
        switch verb {
        case "help": return Self.help
        case "pir": return pirCommand(arguments)
        case "leds" where arguments.isEmpty: return leds.map { "\($0.name)=\($0.level ? 1 : 0)" }.joined(separator: " ")
        case "led-history": return historyCommand(arguments)
        case "beacon": return beaconCommand(arguments, line: command)
        case "display": return displayCommand(arguments)
        case "hci": return hciCommand(arguments)
        case "scans" where arguments.isEmpty:
            return "started=\(scanner.scansStarted) active=\(scanner.isScanning ? 1 : 0)"
        case "leds", "scans": return "error: \(verb) takes no arguments"
        default: return "error: unknown command \"\(Self.escape(verb))\"; send help for the list"
        }
    }

    static let help = """
        pir                          show the PIR level: high or low
        pir high | pir low           set the PIR line
        pir pulse [MS]               high, then low after MS ms (default 200)
        leds                         LED levels: led0=0 led1=1 ...
        led-history [clear]          LED changes since start: <monotonic ms> <name>=<0|1>
        beacon add ADDRESS RSSI [NAME]   put a BLE tag in range (reported every 100 ms while scanning)
        beacon remove ADDRESS        take a tag out of range
        beacon list                  tags in range: <address> <rssi> [name]
        hci event HEX                one HCI event packet (04 3E ...) through the real HCI and AD parsers
        hci replay FILE [SPEED]      replay an .hcitrace or btsnoop file (absolute path), SPEED times faster
        hci replay stop              end a replay
        hci stats                    events=<n> reports=<n> delivered=<n> malformed=<n> replaying=<0|1>
        display                      presented <title> or hidden
        display content              the last presented content as escaped text
        scans                        started=<count> active=<0|1>
        help                         this list
        """

    private func pirCommand(_ arguments: [String]) -> String {
        switch arguments.first {
        case nil:
            return pir.level ? "high" : "low"
        case "high" where arguments.count == 1, "low" where arguments.count == 1:
            cancelPulse()
            pir.drive(arguments[0] == "high", at: Reactor.now())
            return "ok"
        case "pulse" where arguments.count <= 2:
            var duration = Self.defaultPulseMs
            if arguments.count == 2 {
                guard let value = Int64(arguments[1]), value >= 0, value <= 86_400_000 else {
                    return "error: pulse length \"\(Self.escape(arguments[1]))\" must be 0 to 86400000 ms"
                }
                duration = value
            }
            guard let reactor else { return "error: the board is not started" }
            cancelPulse()
            pir.drive(true, at: Reactor.now())
            pulseTimer = reactor.schedule(afterMilliseconds: duration) { [weak self] in
                guard let self else { return }
                self.pulseTimer = nil
                self.pir.drive(false, at: Reactor.now())
            }
            return "ok"
        default:
            return "error: usage: pir [high | low | pulse [MS]]"
        }
    }

    private func cancelPulse() {
        if let pulseTimer { reactor?.cancel(pulseTimer) }
        pulseTimer = nil
    }

    private func historyCommand(_ arguments: [String]) -> String {
        switch arguments {
        case []:
            return ledHistory.map { "\($0.time) \($0.name)=\($0.on ? 1 : 0)" }.joined(separator: "\n")
        case ["clear"]:
            ledHistory.removeAll()
            return "ok"
        default:
            return "error: usage: led-history [clear]"
        }
    }

    private func beaconCommand(_ arguments: [String], line: String) -> String {
        switch arguments.first {
        case "add" where arguments.count >= 3:
            guard let address = Self.normalizedAddress(arguments[1]) else {
                return "error: \"\(Self.escape(arguments[1]))\" is not a Bluetooth address like AA:BB:CC:DD:EE:FF"
            }
            guard let rssi = Int(arguments[2]), (-127...20).contains(rssi) else {
                return "error: RSSI \"\(Self.escape(arguments[2]))\" must be an integer from -127 to 20 dBm"
            }
            let name = arguments.count > 3 ? arguments[3...].joined(separator: " ") : nil
            scanner.put(SimulatedBeacon(address: address, rssi: rssi, name: name))
            return "ok"
        case "remove" where arguments.count == 2:
            guard let address = Self.normalizedAddress(arguments[1]) else {
                return "error: \"\(Self.escape(arguments[1]))\" is not a Bluetooth address like AA:BB:CC:DD:EE:FF"
            }
            return scanner.remove(address: address) ? "ok" : "error: no beacon \(address) in range"
        case "list" where arguments.count == 1:
            return scanner.beacons.map { beacon in
                "\(beacon.address) \(beacon.rssi)" + (beacon.name.map { " " + Self.escape($0) } ?? "")
            }.joined(separator: "\n")
        default:
            return "error: usage: beacon add ADDRESS RSSI [NAME] | beacon remove ADDRESS | beacon list"
        }
    }

    private func hciCommand(_ arguments: [String]) -> String {
        switch arguments.first {
        case "event" where arguments.count >= 2:
            guard let packet = HCITrace.decodeHex(Substring(arguments[1...].joined(separator: " "))),
                  !packet.isEmpty else {
                return "error: hci event takes the packet as hex digits, e.g. hci event 04 3E 0C 02 01 ..."
            }
            do {
                let result = try scanner.inject(packet: packet, now: Reactor.now())
                return "ok reports=\(result.reports) delivered=\(result.delivered)"
            } catch {
                return "error: HCI event: \(error)"
            }
        case "replay" where arguments == ["replay", "stop"]:
            stopReplay()
            return "ok"
        case "replay" where arguments.count == 2 || arguments.count == 3:
            var speed = 1.0
            if arguments.count == 3 {
                guard let value = Double(arguments[2]), value > 0, value <= Self.maximumReplaySpeed else {
                    return "error: replay speed \"\(Self.escape(arguments[2]))\" must be a number above 0 and at most 1000"
                }
                speed = value
            }
            let trace: HCITrace
            do {
                trace = try HCITrace.load(path: arguments[1])
            } catch {
                return "error: hci replay: \(Self.escape(error.description))"
            }
            guard let reactor else { return "error: the board is not started" }
            stopReplay()
            replay = Replay(trace: trace, startedAt: Reactor.now(), speed: speed)
            replayStep(on: reactor)
            return "ok events=\(trace.entries.count) duration_ms=\(Int64((Double(trace.duration) / speed).rounded()))"
        case "stats" where arguments.count == 1:
            let s = scanner.hciStatistics
            return "events=\(s.events) reports=\(s.reports) delivered=\(s.delivered) malformed=\(s.malformed) "
                + "replaying=\(replay == nil ? 0 : 1)"
        default:
            return "error: usage: hci event HEX | hci replay FILE [SPEED] | hci replay stop | hci stats"
        }
    }

    /// Injects every entry that is due, then sleeps on a timer until the next one.
    private func replayStep(on reactor: Reactor) {
        replay?.timer = nil
        let now = Reactor.now()
        while let current = replay, current.next < current.trace.entries.count {
            let entry = current.trace.entries[current.next]
            let due = current.startedAt + Int64((Double(entry.milliseconds) / current.speed).rounded())
            if due > now {
                replay?.timer = reactor.schedule(afterMilliseconds: due - now) { [weak self] in
                    self?.replayStep(on: reactor)
                }
                return
            }
            replay?.next += 1
            // Malformed packets are counted in the statistics and skipped, as HCIScanner skips them.
            _ = try? scanner.inject(packet: entry.packet, now: now)
        }
        replay = nil
    }

    private func stopReplay() {
        if let timer = replay?.timer { reactor?.cancel(timer) }
        replay = nil
    }

    private func displayCommand(_ arguments: [String]) -> String {
        switch arguments {
        case []:
            return display.title.map { "presented " + Self.escape($0) } ?? "hidden"
        case ["content"]:
            return Self.escape(String(decoding: display.lastContent, as: UTF8.self))
        default:
            return "error: usage: display [content]"
        }
    }

    /// "aa:bb:cc:dd:ee:ff" → "AA:BB:CC:DD:EE:FF"; nil unless six two-digit hex groups.
    static func normalizedAddress(_ text: String) -> String? {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 6,
              groups.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else { return nil }
        return text.uppercased()
    }

    /// Keeps a response on one line: backslash, newline, CR, tab and other control characters are
    /// written as \\, \n, \r, \t and \xNN, so an empty line can only be the response terminator.
    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
