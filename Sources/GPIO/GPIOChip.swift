import CGPIOD
import Hardware

#if canImport(Glibc)
import Glibc
#endif

/// One GPIO chip through libgpiod 1.6 (the API on Raspberry Pi OS bookworm and Debian 12).
///
/// The backend is the three types in this module (chip, input, output); a libgpiod 2 backend can
/// sit beside them behind the same `InputLine`/`OutputLine` protocols.
public final class GPIOChip {
    let raw: OpaquePointer
    public let info: GPIOChipInfo
    /// The consumer name every request carries, as `gpioinfo` shows it.
    public static let consumer = "nanoedge"

    private init(raw: OpaquePointer, info: GPIOChipInfo) {
        self.raw = raw
        self.info = info
    }

    deinit { gpiod_chip_close(raw) }

    /// Opens the chip whose label is `label`. Errors list the chips that exist, or say which
    /// could not be opened for lack of permission.
    public static func open(label: String, deviceDirectory: String = "/dev") throws(HardwareError) -> GPIOChip {
        let chips = GPIOChipDiscovery.scan(deviceDirectory: deviceDirectory)
        if let match = chips.first(where: { $0.openErrno == nil && $0.label == label }) {
            guard let raw = gpiod_chip_open(match.path) else {
                throw openError(path: match.path, errno: errno)
            }
            return GPIOChip(raw: raw, info: match)
        }
        // Not found among the readable chips: a chip we could not open may be the one.
        if let denied = chips.first(where: { $0.openErrno == EACCES || $0.openErrno == EPERM }) {
            throw .permissionDenied(path: denied.path, hint: gpioPermissionHint
                + " (no readable chip has label \"\(label)\")")
        }
        throw .chipNotFound(label: label, available: chips.map(\.description))
    }

    static func openError(path: String, errno code: Int32) -> HardwareError {
        if code == EACCES || code == EPERM { return .permissionDenied(path: path, hint: gpioPermissionHint) }
        return .io(errno: code, operation: "open \(path)")
    }

    /// The line for a profile entry; the caller requests it as input or output.
    func line(_ line: BoardProfile.Line) throws(HardwareError) -> OpaquePointer {
        let found: OpaquePointer?
        switch line {
        case .name(let name): found = gpiod_chip_find_line(raw, name)
        case .offset(let offset):
            found = offset >= 0 && offset < info.lineCount ? gpiod_chip_get_line(raw, UInt32(offset)) : nil
        }
        guard let found else {
            throw .lineNotFound(line.description, chip: "\(info.name) [\(info.label)]")
        }
        return found
    }

    /// Who holds a line, for a "busy" error; the kernel knows even when another process holds it.
    static func consumer(of line: OpaquePointer) -> String {
        _ = gpiod_line_update(line)
        guard let name = gpiod_line_consumer(line) else { return "an unnamed consumer" }
        return String(cString: name)
    }

    static func requestError(_ code: Int32, line: OpaquePointer, name: String, chip: GPIOChipInfo) -> HardwareError {
        switch code {
        case EBUSY: return .lineBusy(name, consumer: consumer(of: line))
        case EACCES, EPERM: return .permissionDenied(path: chip.path, hint: gpioPermissionHint)
        default: return .io(errno: code, operation: "request \(name) on \(chip.name)")
        }
    }

    /// Requests the PIR line for both edges with the pull-down bias.
    public func input(_ line: BoardProfile.Line, bias: GPIOInput.Bias = .pullDown) throws(HardwareError) -> GPIOInput {
        let handle = try self.line(line)
        let result = gpiod_line_request_both_edges_events_flags(handle, Self.consumer, bias.flags)
        guard result == 0 else {
            throw Self.requestError(errno, line: handle, name: line.description, chip: info)
        }
        return GPIOInput(chip: self, handle: handle, name: line.description)
    }

    /// Requests an LED line as an output, initially low.
    public func output(_ line: BoardProfile.Line) throws(HardwareError) -> GPIOOutput {
        let handle = try self.line(line)
        guard gpiod_line_request_output(handle, Self.consumer, 0) == 0 else {
            throw Self.requestError(errno, line: handle, name: line.description, chip: info)
        }
        return GPIOOutput(chip: self, handle: handle, name: line.description)
    }

    /// A line's state without requesting it, for `--check`.
    public func describe(_ line: BoardProfile.Line) throws(HardwareError) -> (offset: Int, used: Bool, consumer: String?) {
        let handle = try self.line(line)
        _ = gpiod_line_update(handle)
        let used = gpiod_line_is_used(handle)
        let consumer = gpiod_line_consumer(handle).map { String(cString: $0) }
        return (Int(gpiod_line_offset(handle)), used, consumer)
    }
}
