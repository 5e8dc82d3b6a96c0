/// A level change on an input line.
public struct LineEdge: Sendable, Equatable {
    public var rising: Bool
    /// Milliseconds on the monotonic clock (CLOCK_MONOTONIC), as the kernel stamped the event.
    public var timestamp: Int64

    public init(rising: Bool, timestamp: Int64) {
        self.rising = rising
        self.timestamp = timestamp
    }
}

/// A GPIO input, such as a PIR sensor.
///
/// Backends are bound to one event loop when they are created, and every method is called on that
/// loop's thread. This module stays free of the loop type, so a backend (libgpiod v1 or v2, the
/// simulator) owns the file descriptor and delivers edges on the loop itself.
public protocol InputLine: AnyObject {
    var name: String { get }
    /// The current level: true is high.
    func read() throws(HardwareError) -> Bool
    /// Starts delivering both edges to `onEdge` on the backend's loop thread until `stopEdgeEvents()`.
    func startEdgeEvents(_ onEdge: @escaping (LineEdge) -> Void) throws(HardwareError)
    func stopEdgeEvents()
}

/// A GPIO output, such as one LED.
public protocol OutputLine: AnyObject {
    var name: String { get }
    func set(_ on: Bool) throws(HardwareError)
}

/// One BLE advertisement as the scanner saw it.
public struct Advertisement: Sendable, Equatable {
    /// "AA:BB:CC:DD:EE:FF", upper case.
    public var address: String
    /// dBm.
    public var rssi: Int
    /// The complete or shortened local name, if the advertisement carried one.
    public var name: String?
    /// Milliseconds on the monotonic clock.
    public var timestamp: Int64

    public init(address: String, rssi: Int, name: String?, timestamp: Int64) {
        self.address = address
        self.rssi = rssi
        self.name = name
        self.timestamp = timestamp
    }
}

/// A passive BLE scanner. Reports arrive on the backend's loop thread; one scan runs at a time.
public protocol BLEScanner: AnyObject {
    func startScan(_ onReport: @escaping (Advertisement) -> Void) throws(HardwareError)
    func stopScan()
}

/// Whatever shows a meeting's content in a room (a screen, a projector).
public protocol ContentDisplay: AnyObject {
    func present(title: String, content: [UInt8]) throws(HardwareError)
    func hide() throws(HardwareError)
}
