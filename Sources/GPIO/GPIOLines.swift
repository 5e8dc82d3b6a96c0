import CGPIOD
import Hardware
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// A requested input line. Edges are read from the line's event fd by the reactor, so the agent
/// sleeps in poll(2) until the kernel has an edge: no polling, no sleeping loops.
public final class GPIOInput: InputLine {
    public enum Bias: Sendable {
        case pullDown, pullUp, disabled, asIs

        var flags: Int32 {
            switch self {
            case .pullDown: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
            case .pullUp: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
            case .disabled: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
            case .asIs: 0
            }
        }
    }

    public let name: String
    private let chip: GPIOChip  // keeps the chip open while the line is requested
    private let handle: OpaquePointer
    private var reactor: Reactor?
    private var watch: Reactor.WatchID?

    init(chip: GPIOChip, handle: OpaquePointer, name: String) {
        self.chip = chip
        self.handle = handle
        self.name = name
    }

    deinit {
        if let watch { reactor?.unwatch(watch) }
        gpiod_line_release(handle)
    }

    /// Binds the line to the loop that will deliver its edges.
    public func attach(to reactor: Reactor) { self.reactor = reactor }

    public func read() throws(HardwareError) -> Bool {
        let value = gpiod_line_get_value(handle)
        guard value >= 0 else { throw .io(errno: errno, operation: "read \(name)") }
        return value == 1
    }

    public func startEdgeEvents(_ onEdge: @escaping (LineEdge) -> Void) throws(HardwareError) {
        guard let reactor else { throw .io(errno: EINVAL, operation: "edge events on \(name) without an event loop") }
        guard watch == nil else { return }
        let fd = gpiod_line_event_get_fd(handle)
        guard fd >= 0 else { throw .io(errno: errno, operation: "event fd of \(name)") }
        watch = reactor.watch(fd: fd) { [weak self] _ in self?.drain(fd: fd, onEdge) }
    }

    public func stopEdgeEvents() {
        if let watch { reactor?.unwatch(watch) }
        watch = nil
    }

    private func drain(fd: Int32, _ onEdge: (LineEdge) -> Void) {
        // One readable wake-up can carry several edges; the kernel queues up to 16 per line.
        var events = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
        let count = events.withUnsafeMutableBufferPointer {
            gpiod_line_event_read_fd_multiple(fd, $0.baseAddress, UInt32($0.count))
        }
        guard count > 0 else { return }
        for event in events.prefix(Int(count)) {
            onEdge(Self.edge(event))
        }
    }

    /// Since Linux 5.7 the v1 uAPI stamps events on CLOCK_MONOTONIC, the agent's clock.
    public static func edge(_ event: gpiod_line_event) -> LineEdge {
        let ms = Int64(event.ts.tv_sec) * 1000 + Int64(event.ts.tv_nsec) / 1_000_000
        return LineEdge(rising: event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE), timestamp: ms)
    }
}

/// A requested output line, such as one LED.
public final class GPIOOutput: OutputLine {
    public let name: String
    private let chip: GPIOChip
    private let handle: OpaquePointer

    init(chip: GPIOChip, handle: OpaquePointer, name: String) {
        self.chip = chip
        self.handle = handle
        self.name = name
    }

    deinit {
        // Off before release: a released line keeps its last level on most pin controllers.
        _ = gpiod_line_set_value(handle, 0)
        gpiod_line_release(handle)
    }

    public func set(_ on: Bool) throws(HardwareError) {
        guard gpiod_line_set_value(handle, on ? 1 : 0) == 0 else {
            throw .io(errno: errno, operation: "set \(name)")
        }
    }
}
