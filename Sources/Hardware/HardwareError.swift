#if canImport(Glibc)
import Glibc
#endif

/// An error from a hardware backend, a board profile or the simulated board.
///
/// The set of codes grows over time, so callers compare `code` against the static codes instead of
/// switching over an enum. `description` says what went wrong and what to do about it.
public struct HardwareError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case chipNotFound = "chip not found"
            case lineNotFound = "line not found"
            case permissionDenied = "permission denied"
            case lineBusy = "line busy"
            case adapterDown = "adapter down"
            case scanInProgress = "scan in progress"
            case io = "I/O error"
            case profileNotFound = "board profile not found"
            case invalidProfile = "invalid board profile"
            case invalidPattern = "invalid LED pattern"
            case notListening = "simulated board not listening"
            case timeout = "timeout"
            case simulator = "simulator error"
            case adapterNotFound = "adapter not found"
            case commandDisallowed = "command disallowed"
            case controllerError = "controller error"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }

        public var description: String { raw.rawValue }

        public static let chipNotFound = Code(.chipNotFound)
        public static let lineNotFound = Code(.lineNotFound)
        public static let permissionDenied = Code(.permissionDenied)
        public static let lineBusy = Code(.lineBusy)
        public static let adapterDown = Code(.adapterDown)
        public static let scanInProgress = Code(.scanInProgress)
        public static let io = Code(.io)
        public static let profileNotFound = Code(.profileNotFound)
        public static let invalidProfile = Code(.invalidProfile)
        public static let invalidPattern = Code(.invalidPattern)
        public static let notListening = Code(.notListening)
        public static let timeout = Code(.timeout)
        public static let simulator = Code(.simulator)
        public static let adapterNotFound = Code(.adapterNotFound)
        public static let commandDisallowed = Code(.commandDisallowed)
        public static let controllerError = Code(.controllerError)
    }

    public let code: Code
    /// The errno behind the error, when a system call failed.
    public let errno: Int32?
    private let message: String

    private init(_ code: Code, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    public var description: String { message }

    // MARK: GPIO

    public static func chipNotFound(label: String, available: [String]) -> HardwareError {
        let found = available.isEmpty ? "no GPIO chips found" : "chips found: " + available.joined(separator: ", ")
        return HardwareError(.chipNotFound,
            "no GPIO chip with label \"\(label)\" (\(found)); check gpio.chip_label in the board profile")
    }

    public static func lineNotFound(_ line: String, chip: String) -> HardwareError {
        HardwareError(.lineNotFound,
            "GPIO chip \"\(chip)\" has no line \"\(line)\"; "
                + "check the line names in the board profile (gpioinfo lists them)")
    }

    public static func permissionDenied(path: String, hint: String) -> HardwareError {
        HardwareError(.permissionDenied, errno: EACCES, "permission denied: \(path): \(hint)")
    }

    public static func lineBusy(_ line: String, consumer: String) -> HardwareError {
        HardwareError(.lineBusy,
            "line \"\(line)\" is already in use by \"\(consumer)\"; stop that process or pick another line")
    }

    // MARK: BLE

    public static func adapterDown(_ adapter: String) -> HardwareError {
        HardwareError(.adapterDown, "Bluetooth adapter \(adapter) is down or missing; try `hciconfig \(adapter) up`")
    }

    /// `available` lists the adapters that exist (hci_get_dev_list or /sys/class/bluetooth).
    public static func adapterNotFound(_ adapter: String, available: [String]) -> HardwareError {
        let found = available.isEmpty
            ? "no Bluetooth adapters found (is the controller attached and its driver loaded? `btmgmt info` lists them)"
            : "adapters found: " + available.joined(separator: ", ")
        return HardwareError(.adapterNotFound,
            "no Bluetooth adapter \(adapter) (\(found)); check ble.adapter in the board profile")
    }

    /// The kernel has no Bluetooth sockets at all (EAFNOSUPPORT).
    public static func bluetoothUnsupported(_ adapter: String) -> HardwareError {
        HardwareError(.adapterNotFound, errno: EAFNOSUPPORT,
            "cannot open Bluetooth adapter \(adapter): this kernel has no Bluetooth support "
                + "(load the bluetooth module, or run on a board with a controller)")
    }

    /// The adapter exists but is not up (HCI_UP clear in hci_devinfo's flags).
    public static func adapterPoweredOff(_ adapter: String) -> HardwareError {
        HardwareError(.adapterDown,
            "Bluetooth adapter \(adapter) is down; bring it up with `hciconfig \(adapter) up` or "
                + "`btmgmt --index \(adapter.dropFirst(3)) power on` (and `rfkill unblock bluetooth` if it is blocked)")
    }

    /// EPERM/EACCES on the raw HCI socket, its filter or a command: the process lacks the capabilities.
    public static func missingCapabilities(_ adapter: String, operation: String, errno code: Int32) -> HardwareError {
        HardwareError(.permissionDenied, errno: code,
            "\(operation) on Bluetooth adapter \(adapter) was refused (\(errorString(code))): raw HCI scanning needs "
                + "CAP_NET_RAW and CAP_NET_ADMIN. Run the agent as root, or grant them with "
                + "`setcap cap_net_raw,cap_net_admin+eip /usr/bin/nanoedge-agent`, or in its systemd unit with "
                + "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN")
    }

    /// The controller answered a command with status 0x0C, Command Disallowed.
    public static func commandDisallowed(_ adapter: String, command: String) -> HardwareError {
        HardwareError(.commandDisallowed,
            "Bluetooth adapter \(adapter) refused \(command) with status 0x0C (Command Disallowed). A controller that "
                + "has used extended advertising or scanning since its last reset (bluetoothd does on newer kernels) "
                + "refuses the legacy scan commands, and this one refused the extended ones as well, or another "
                + "program is scanning on it: run `hciconfig \(adapter) reset` or "
                + "`btmgmt --index \(adapter.dropFirst(3)) power off; btmgmt --index \(adapter.dropFirst(3)) power on`, "
                + "and make sure no other program scans on it")
    }

    /// Any other non-zero status from the controller. `statusName` is the Core Specification's name.
    public static func controllerError(_ adapter: String, command: String, status: UInt8,
                                       statusName: String) -> HardwareError {
        let hex = String(status, radix: 16, uppercase: true)
        return HardwareError(.controllerError,
            "Bluetooth adapter \(adapter) answered \(command) with status 0x\(hex.count == 1 ? "0" + hex : hex) "
                + "(\(statusName)); try `hciconfig \(adapter) reset`, and check `dmesg` for controller errors")
    }

    /// No Command Complete or Command Status within the time limit.
    public static func commandTimeout(_ adapter: String, command: String, afterMilliseconds ms: Int) -> HardwareError {
        HardwareError(.timeout,
            "Bluetooth adapter \(adapter) did not answer \(command) within \(ms) ms; the controller may be hung "
                + "or busy: try `hciconfig \(adapter) reset`, and check `dmesg` and `btmon`")
    }

    public static func scanInProgress(_ adapter: String) -> HardwareError {
        HardwareError(.scanInProgress, "a scan is already running on \(adapter); stop it before starting another")
    }

    // MARK: System

    public static func io(errno code: Int32, operation: String) -> HardwareError {
        HardwareError(.io, errno: code, "\(operation) failed: \(errorString(code)) (errno \(code))")
    }

    // MARK: Board profiles

    public static func profileNotFound(board: String, searched: [String], available: [String]) -> HardwareError {
        let dirs = searched.isEmpty ? "no directories" : searched.joined(separator: ", ")
        let have = available.isEmpty ? "none" : available.joined(separator: ", ")
        return HardwareError(.profileNotFound,
            "no board profile \"\(board)\" (searched \(dirs)); available boards: \(have). "
                + "Set the board to one of these or add \(board).toml to a boards directory")
    }

    /// A profile that exists but is wrong. `key` is the dotted key at fault, if there is one.
    public static func invalidProfile(path: String, key: String?, problem: String) -> HardwareError {
        let at = key.map { " key \"\($0)\":" } ?? ""
        return HardwareError(.invalidProfile, "invalid board profile \(path):\(at) \(problem)")
    }

    // MARK: LED patterns

    public static func invalidPattern(_ text: String, problem: String) -> HardwareError {
        HardwareError(.invalidPattern,
            "invalid LED pattern \"\(text)\": \(problem); "
                + "expected off, on, blink:PERIOD_MS[:DUTY] or chase:STEP_MS[:forward|backward]")
    }

    // MARK: Simulator

    public static func notListening(path: String) -> HardwareError {
        HardwareError(.notListening,
            "no simulated board listening at \(path): is the agent running with board = \"sim\"?")
    }

    public static func timeout(_ operation: String, afterMilliseconds ms: Int) -> HardwareError {
        HardwareError(.timeout, "\(operation): no answer within \(ms) ms")
    }

    public static func simulator(_ message: String) -> HardwareError {
        HardwareError(.simulator, "simulated board: \(message)")
    }
}

private func errorString(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "unknown error" }
    return String(cString: text)
}
