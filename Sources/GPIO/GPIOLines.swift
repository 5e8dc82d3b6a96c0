import Hardware
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// A requested input line. Edges are read from the request's fd by the reactor, so the agent
/// sleeps in poll(2) until the kernel has an edge: no polling, no sleeping loops.
public final class GPIOInput: InputLine {
    public enum Bias: Sendable {
        case pullDown, pullUp, disabled, asIs
    }

    private let line: RequestedLine
    private var reactor: Reactor?
    private var watch: Reactor.WatchID?

    init(_ line: consuming RequestedLine) {
        self.line = line
    }

    // The watch goes first: the request's deinit closes the fd it polls.
    deinit {
        if let watch { reactor?.unwatch(watch) }
    }

    public var name: String { line.name }

    /// Binds the line to the loop that will deliver its edges.
    public func attach(to reactor: Reactor) { self.reactor = reactor }

    public func read() throws(HardwareError) -> Bool {
        try line.value()
    }

    public func startEdgeEvents(_ onEdge: @escaping (LineEdge) -> Void) throws(HardwareError) {
        guard let reactor else { throw .io(errno: EINVAL, operation: "edge events on \(name) without an event loop") }
        guard watch == nil else { return }
        let fd = try line.eventFD()
        // Both libraries read(2) the fd: a wake-up without an edge must not stall the loop.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        watch = reactor.watch(fd: fd) { [weak self] _ in self?.line.readEdges(onEdge) }
    }

    public func stopEdgeEvents() {
        if let watch { reactor?.unwatch(watch) }
        watch = nil
    }

    /// Both backends stamp edges on CLOCK_MONOTONIC, the agent's clock; the agent counts milliseconds.
    public static func edge(rising: Bool, nanoseconds: UInt64) -> LineEdge {
        LineEdge(rising: rising, timestamp: Int64(nanoseconds / 1_000_000))
    }
}

/// A requested output line, such as one LED.
public final class GPIOOutput: OutputLine {
    private let line: RequestedLine

    init(_ line: consuming RequestedLine) {
        self.line = line
    }

    // Off before release: a released line keeps its last level on most pin controllers. The
    // request's own deinit then releases it.
    deinit {
        try? line.setValue(false)
    }

    public var name: String { line.name }

    public func set(_ on: Bool) throws(HardwareError) {
        try line.setValue(on)
    }
}
