// The libgpiod 2 backend: Debian 13, Raspberry Pi OS trixie and later. A request is made from a
// line settings object, a line config and a request config, and outlives the chip object. Only
// calls that libgpiod 2.0 already had are used.
#if LIBGPIOD_V2
import CGPIOD
import Hardware

#if canImport(Glibc)
import Glibc
#endif

extension GPIOChipDiscovery {
    /// The version of the libgpiod the agent runs with, such as "2.2.1".
    public static var libraryVersion: String { String(cString: gpiod_api_version()) }

    /// Opens the chip once for its name, label and line count.
    static func probe(_ path: String) -> GPIOChipInfo {
        guard let chip = gpiod_chip_open(path) else { return .unopenable(path, errno: errno) }
        defer { gpiod_chip_close(chip) }
        guard let info = gpiod_chip_get_info(chip) else { return .unopenable(path, errno: errno) }
        defer { gpiod_chip_info_free(info) }
        return GPIOChipInfo(path: path, name: String(cString: gpiod_chip_info_get_name(info)),
                            label: String(cString: gpiod_chip_info_get_label(info)),
                            lineCount: Int(gpiod_chip_info_get_num_lines(info)), openErrno: nil)
    }
}

extension GPIOChip {
    /// The offset of a profile entry on this chip.
    func offset(of line: BoardProfile.Line) throws(HardwareError) -> UInt32 {
        switch line {
        case .name(let name):
            let offset = gpiod_chip_get_line_offset_from_name(raw, name)
            if offset >= 0 { return UInt32(offset) }
            // ENOENT is "no line has that name"; anything else is the chip failing to answer.
            let code = errno
            if code != ENOENT { throw .io(errno: code, operation: "look up line \(name) on \(info.name)") }
        case .offset(let offset):
            if offset >= 0 && offset < info.lineCount { return UInt32(offset) }
        }
        throw .lineNotFound(line.description, chip: "\(info.name) [\(info.label)]")
    }

    /// Who holds a line; the kernel knows even when another process holds it.
    func consumer(of offset: UInt32) -> String? {
        guard let lineInfo = gpiod_chip_get_line_info(raw, offset) else { return nil }
        defer { gpiod_line_info_free(lineInfo) }
        return gpiod_line_info_get_consumer(lineInfo).map { String(cString: $0) }
    }

    func request(_ line: BoardProfile.Line, _ mode: LineMode) throws(HardwareError) -> RequestedLine {
        var offset = try self.offset(of: line)
        let settings = try Self.settings(mode)
        defer { gpiod_line_settings_free(settings) }
        guard let lineConfig = gpiod_line_config_new() else { throw .io(errno: errno, operation: "line config") }
        defer { gpiod_line_config_free(lineConfig) }
        guard gpiod_line_config_add_line_settings(lineConfig, &offset, 1, settings) == 0 else {
            throw .io(errno: errno, operation: "line config for \(line)")
        }
        let requestConfig = try Self.requestConfig()
        defer { gpiod_request_config_free(requestConfig) }

        // Edges are read into a buffer the request keeps; an output needs none.
        var events: OpaquePointer?
        if case .bothEdges = mode {
            guard let buffer = gpiod_edge_event_buffer_new(RequestedLine.eventCapacity) else {
                throw .io(errno: errno, operation: "edge event buffer")
            }
            events = buffer
        }
        guard let request = gpiod_chip_request_lines(raw, requestConfig, lineConfig) else {
            let code = errno
            if let events { gpiod_edge_event_buffer_free(events) }
            throw Self.requestError(code, line: line, chip: info) { consumer(of: offset) }
        }
        return RequestedLine(request: request, offset: offset, events: events, name: line.description)
    }

    /// What a request asks of the line. The caller frees the settings.
    static func settings(_ mode: LineMode) throws(HardwareError) -> OpaquePointer {
        guard let settings = gpiod_line_settings_new() else { throw .io(errno: errno, operation: "line settings") }
        // The setters fail only for values outside their enum.
        switch mode {
        case .bothEdges(let bias):
            _ = gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT)
            _ = gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH)
            _ = gpiod_line_settings_set_bias(settings, bias.setting)
            // The default, spelled out: the PIR filter's times are on the agent's monotonic clock.
            _ = gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC)
        case .outputLow:
            _ = gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT)
            _ = gpiod_line_settings_set_output_value(settings, GPIOD_LINE_VALUE_INACTIVE)
        }
        return settings
    }

    /// The consumer name, as `gpioinfo` shows it. The caller frees the config.
    static func requestConfig() throws(HardwareError) -> OpaquePointer {
        guard let config = gpiod_request_config_new() else { throw .io(errno: errno, operation: "request config") }
        gpiod_request_config_set_consumer(config, consumer)
        return config
    }

    /// A line's state without requesting it, for `--check`.
    public func describe(_ line: BoardProfile.Line) throws(HardwareError) -> (offset: Int, used: Bool, consumer: String?) {
        let offset = try self.offset(of: line)
        guard let lineInfo = gpiod_chip_get_line_info(raw, offset) else {
            throw .io(errno: errno, operation: "line info of \(line) on \(info.name)")
        }
        defer { gpiod_line_info_free(lineInfo) }
        let consumer = gpiod_line_info_get_consumer(lineInfo).map { String(cString: $0) }
        return (Int(offset), gpiod_line_info_is_used(lineInfo), consumer)
    }
}

extension GPIOInput.Bias {
    var setting: gpiod_line_bias {
        switch self {
        case .pullDown: GPIOD_LINE_BIAS_PULL_DOWN
        case .pullUp: GPIOD_LINE_BIAS_PULL_UP
        case .disabled: GPIOD_LINE_BIAS_DISABLED
        case .asIs: GPIOD_LINE_BIAS_AS_IS
        }
    }
}

/// One requested line, released when it goes away.
struct RequestedLine: ~Copyable {
    /// The kernel queues 16 edges per requested line, so one read drains it.
    static let eventCapacity = 16

    private let request: OpaquePointer
    private let offset: UInt32
    /// Inputs only.
    private let events: OpaquePointer?
    let name: String

    init(request: OpaquePointer, offset: UInt32, events: OpaquePointer?, name: String) {
        self.request = request
        self.offset = offset
        self.events = events
        self.name = name
    }

    deinit {
        if let events { gpiod_edge_event_buffer_free(events) }
        gpiod_line_request_release(request)
    }

    func value() throws(HardwareError) -> Bool {
        let value = gpiod_line_request_get_value(request, offset)
        guard value != GPIOD_LINE_VALUE_ERROR else { throw .io(errno: errno, operation: "read \(name)") }
        return value == GPIOD_LINE_VALUE_ACTIVE
    }

    func setValue(_ on: Bool) throws(HardwareError) {
        let value = on ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE
        guard gpiod_line_request_set_value(request, offset, value) == 0 else {
            throw .io(errno: errno, operation: "set \(name)")
        }
    }

    /// The request's own fd; it never fails, and the request closes it.
    func eventFD() throws(HardwareError) -> Int32 {
        guard events != nil else { throw .io(errno: EINVAL, operation: "edge events on output \(name)") }
        return gpiod_line_request_get_fd(request)
    }

    /// Called when poll(2) reports the fd, which GPIOInput made non-blocking.
    func readEdges(_ onEdge: (LineEdge) -> Void) {
        guard let events else { return }
        let count = gpiod_line_request_read_edge_events(request, events, Self.eventCapacity)
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            guard let event = gpiod_edge_event_buffer_get_event(events, UInt(index)) else { continue }
            onEdge(GPIOInput.edge(event))
        }
    }
}

extension GPIOInput {
    /// `event` lives in the request's buffer until the next read.
    static func edge(_ event: OpaquePointer) -> LineEdge {
        edge(rising: gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE,
             nanoseconds: gpiod_edge_event_get_timestamp_ns(event))
    }
}
#endif
