// The libgpiod 1.6 backend: Debian 12 and Raspberry Pi OS bookworm. Lines are objects the chip
// owns, each requested on its own with flags.
#if !LIBGPIOD_V2
import CGPIOD
import Hardware

#if canImport(Glibc)
import Glibc
#endif

extension GPIOChipDiscovery {
    /// The version of the libgpiod the agent runs with, such as "1.6.3".
    public static var libraryVersion: String { String(cString: gpiod_version_string()) }

    /// Opens the chip once for its name, label and line count.
    static func probe(_ path: String) -> GPIOChipInfo {
        guard let chip = gpiod_chip_open(path) else { return .unopenable(path, errno: errno) }
        defer { gpiod_chip_close(chip) }
        return GPIOChipInfo(path: path, name: String(cString: gpiod_chip_name(chip)),
                            label: String(cString: gpiod_chip_label(chip)),
                            lineCount: Int(gpiod_chip_num_lines(chip)), openErrno: nil)
    }
}

extension GPIOChip {
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

    /// Who holds a line; the kernel knows even when another process holds it.
    static func consumer(of line: OpaquePointer) -> String? {
        _ = gpiod_line_update(line)
        return gpiod_line_consumer(line).map { String(cString: $0) }
    }

    func request(_ line: BoardProfile.Line, _ mode: LineMode) throws(HardwareError) -> RequestedLine {
        let handle = try self.line(line)
        let result = switch mode {
        case .bothEdges(let bias): gpiod_line_request_both_edges_events_flags(handle, Self.consumer, bias.flags)
        case .outputLow: gpiod_line_request_output(handle, Self.consumer, 0)
        }
        guard result == 0 else {
            throw Self.requestError(errno, line: line, chip: info) { Self.consumer(of: handle) }
        }
        return RequestedLine(chip: self, handle: handle, name: line.description)
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

extension GPIOInput.Bias {
    var flags: Int32 {
        switch self {
        case .pullDown: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        case .pullUp: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .disabled: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .asIs: 0
        }
    }
}

/// One requested line, released when it goes away.
struct RequestedLine: ~Copyable {
    /// The line belongs to the chip, so the chip stays open until the line is released.
    private let chip: GPIOChip
    private let handle: OpaquePointer
    let name: String

    init(chip: GPIOChip, handle: OpaquePointer, name: String) {
        self.chip = chip
        self.handle = handle
        self.name = name
    }

    deinit { gpiod_line_release(handle) }

    func value() throws(HardwareError) -> Bool {
        let value = gpiod_line_get_value(handle)
        guard value >= 0 else { throw .io(errno: errno, operation: "read \(name)") }
        return value == 1
    }

    func setValue(_ on: Bool) throws(HardwareError) {
        guard gpiod_line_set_value(handle, on ? 1 : 0) == 0 else {
            throw .io(errno: errno, operation: "set \(name)")
        }
    }

    func eventFD() throws(HardwareError) -> Int32 {
        let fd = gpiod_line_event_get_fd(handle)
        guard fd >= 0 else { throw .io(errno: errno, operation: "event fd of \(name)") }
        return fd
    }

    /// Called when poll(2) reports the fd, which GPIOInput made non-blocking. One wake-up can
    /// carry several edges; the kernel queues up to 16 per line.
    func readEdges(_ onEdge: (LineEdge) -> Void) {
        let fd = gpiod_line_event_get_fd(handle)
        var events = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
        let count = events.withUnsafeMutableBufferPointer {
            gpiod_line_event_read_fd_multiple(fd, $0.baseAddress, UInt32($0.count))
        }
        guard count > 0 else { return }
        for event in events.prefix(Int(count)) {
            onEdge(GPIOInput.edge(event))
        }
    }
}

extension GPIOInput {
    /// Since Linux 5.7 the v1 uAPI stamps events on CLOCK_MONOTONIC.
    public static func edge(_ event: gpiod_line_event) -> LineEdge {
        let nanoseconds = UInt64(event.ts.tv_sec) * 1_000_000_000 + UInt64(event.ts.tv_nsec)
        return edge(rising: event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE), nanoseconds: nanoseconds)
    }
}
#endif
