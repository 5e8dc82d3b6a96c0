import Hardware

/// The command exchange that starts and stops an LE scan: a pure state machine with injected time,
/// so the sequencing, the status handling and the timeouts are tested without a controller.
///
/// Start: LE Set Scan Enable (off), then LE Set Scan Parameters, then LE Set Scan Enable (on, duplicate
/// filter off). Disabling first clears a scan that a crashed run left on, which would otherwise make
/// the controller refuse new parameters with Command Disallowed; its status is ignored (older
/// controllers answer 0x0C when nothing was on). One command is outstanding at a time: the next one
/// goes out when the controller completes the last. Stop: Set Scan Enable (off) once the outstanding
/// command completed. Start and stop may come at any point; the machine ends where it was last asked to.
///
/// A controller that has used extended advertising since its last reset (the kernel does so for
/// bluetoothd on controllers that support it) refuses every legacy command with Command Disallowed.
/// When it refuses LE Set Scan Parameters so, the session runs the same sequence with the extended
/// commands (LE Set Extended Scan Enable/Parameters, 1M PHY), and keeps using them for later scans;
/// reports then come as LE Extended Advertising Reports. Only if those fail too is the start failed.
public struct ScanSession: Sendable {
    public enum Action: Sendable, Equatable {
        /// Write this command to the controller.
        case send(HCICommand)
        /// The controller scans: advertising reports will come.
        case scanning
        /// Starting failed; the session is idle and the caller should tell whoever asked.
        case failed(HardwareError)
        /// Nothing is outstanding and no scan runs: the caller can restore its socket filter.
        case stopped
    }

    enum Step: Sendable, Equatable { case disabling, settingParameters, enabling }

    enum State: Sendable, Equatable {
        case idle
        case awaiting(Step, command: HCICommand, deadline: Int64)
        case scanning
    }

    public let adapter: String
    public let parameters: ScanParameters
    public let commandTimeoutMilliseconds: Int
    private(set) var state: State = .idle
    private var wantScanning = false
    /// Set once the controller refused the legacy commands with Command Disallowed.
    public private(set) var usesExtendedCommands = false

    public init(adapter: String, parameters: ScanParameters = .standard, commandTimeoutMilliseconds: Int = 2_000,
                usesExtendedCommands: Bool = false) {
        self.adapter = adapter
        self.parameters = parameters
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
        self.usesExtendedCommands = usesExtendedCommands
    }

    public var isScanning: Bool { state == .scanning }
    public var isIdle: Bool { state == .idle }
    /// When `tick` must run if no answer came: the outstanding command's deadline.
    public var deadline: Int64? {
        if case .awaiting(_, _, let deadline) = state { return deadline }
        return nil
    }

    public mutating func start(now: Int64) -> [Action] {
        wantScanning = true
        guard state == .idle else { return [] }  // already scanning, or the outstanding command leads there
        return send(.disabling, disableCommand, now: now)
    }

    public mutating func stop(now: Int64) -> [Action] {
        wantScanning = false
        switch state {
        case .idle: return []
        case .scanning: return send(.disabling, disableCommand, now: now)
        case .awaiting: return []  // its completion sends the disable
        }
    }

    /// Feeds every parsed event; only the completion of the outstanding command matters.
    public mutating func handle(_ event: HCIEvent, now: Int64) -> [Action] {
        guard case .awaiting(let step, let command, _) = state else { return [] }
        let status: UInt8
        switch event {
        case .commandComplete(let complete) where complete.opcode == command.opcode:
            status = complete.status ?? HCIStatus.success
        case .commandStatus(let reply) where reply.opcode == command.opcode && reply.status != HCIStatus.success:
            status = reply.status
        default:
            return []
        }
        switch step {
        case .disabling:
            guard wantScanning else { return finish() }
            return send(.settingParameters, parametersCommand, now: now)
        case .settingParameters:
            if status == HCIStatus.commandDisallowed && !usesExtendedCommands {
                // Legacy commands refused: the controller is in extended mode. Start over with those.
                usesExtendedCommands = true
                guard wantScanning else { return finish() }
                return send(.disabling, disableCommand, now: now)
            }
            guard status == HCIStatus.success else { return fail(command, status: status) }
            guard wantScanning else { return finish() }
            return send(.enabling, enableCommand, now: now)
        case .enabling:
            guard status == HCIStatus.success else { return fail(command, status: status) }
            guard wantScanning else { return send(.disabling, disableCommand, now: now) }
            state = .scanning
            return [.scanning]
        }
    }

    /// Call at `deadline`: an outstanding command that got no answer fails the start (or ends a stop).
    public mutating func tick(now: Int64) -> [Action] {
        guard case .awaiting(_, let command, let deadline) = state, now >= deadline else { return [] }
        guard wantScanning else { return finish() }
        wantScanning = false
        state = .idle
        return [.failed(.commandTimeout(adapter, command: command.name, afterMilliseconds: commandTimeoutMilliseconds)),
                .stopped]
    }

    private var disableCommand: HCICommand {
        usesExtendedCommands ? .setExtendedScanEnable(false, filterDuplicates: false)
            : .setScanEnable(false, filterDuplicates: false)
    }

    private var parametersCommand: HCICommand {
        usesExtendedCommands ? .setExtendedScanParameters(parameters) : .setScanParameters(parameters)
    }

    private var enableCommand: HCICommand {
        usesExtendedCommands ? .setExtendedScanEnable(true, filterDuplicates: false)
            : .setScanEnable(true, filterDuplicates: false)
    }

    private mutating func send(_ step: Step, _ command: HCICommand, now: Int64) -> [Action] {
        state = .awaiting(step, command: command, deadline: now + Int64(commandTimeoutMilliseconds))
        return [.send(command)]
    }

    private mutating func finish() -> [Action] {
        state = .idle
        return [.stopped]
    }

    private mutating func fail(_ command: HCICommand, status: UInt8) -> [Action] {
        let wanted = wantScanning
        wantScanning = false
        state = .idle
        guard wanted else { return [.stopped] }
        let error: HardwareError = status == HCIStatus.commandDisallowed
            ? .commandDisallowed(adapter, command: command.name)
            : .controllerError(adapter, command: command.name, status: status, statusName: HCIStatus.name(status))
        return [.failed(error), .stopped]
    }
}
