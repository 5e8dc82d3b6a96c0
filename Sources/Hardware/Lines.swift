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
///
/// Address, RSSI, name and time are always there. The other fields come from the advertising data
/// when a backend parses it (the HCI scanner does; the simulated board's `beacon add` does not).
public struct Advertisement: Sendable, Equatable {
    /// "AA:BB:CC:DD:EE:FF", upper case.
    public var address: String
    /// dBm. The HCI scanner reports the smoothed value (docs/ble.md); -127 when the controller had none.
    public var rssi: Int
    /// The complete or shortened local name, if the advertisement carried one.
    public var name: String?
    /// Milliseconds on the monotonic clock.
    public var timestamp: Int64
    /// Nil when the backend does not know it.
    public var addressType: BLEAddressType?
    public var eventType: AdvertisingEventType?
    /// The Flags AD structure (LE discoverable modes, BR/EDR support).
    public var flags: UInt8?
    /// The TX Power Level AD structure, dBm (or the extended report's TX power).
    public var txPower: Int?
    /// 16-, 32- and 128-bit service UUIDs from the complete and incomplete lists, in order.
    public var serviceUUIDs: [BLEUUID]
    public var serviceData: [ServiceData]
    public var manufacturerData: [ManufacturerData]
    public var iBeacon: IBeacon?
    public var eddystone: Eddystone?

    public init(address: String, rssi: Int, name: String?, timestamp: Int64) {
        self.init(address: address, rssi: rssi, name: name, timestamp: timestamp, addressType: nil)
    }

    public init(address: String, rssi: Int, name: String?, timestamp: Int64, addressType: BLEAddressType?,
                eventType: AdvertisingEventType? = nil, flags: UInt8? = nil, txPower: Int? = nil,
                serviceUUIDs: [BLEUUID] = [], serviceData: [ServiceData] = [],
                manufacturerData: [ManufacturerData] = [], iBeacon: IBeacon? = nil, eddystone: Eddystone? = nil) {
        self.address = address
        self.rssi = rssi
        self.name = name
        self.timestamp = timestamp
        self.addressType = addressType
        self.eventType = eventType
        self.flags = flags
        self.txPower = txPower
        self.serviceUUIDs = serviceUUIDs
        self.serviceData = serviceData
        self.manufacturerData = manufacturerData
        self.iBeacon = iBeacon
        self.eddystone = eddystone
    }
}

/// A passive BLE scanner. Reports arrive on the backend's loop thread; one scan runs at a time.
public protocol BLEScanner: AnyObject {
    func startScan(_ onReport: @escaping (Advertisement) -> Void) throws(HardwareError)
    /// Like `startScan(_:)`; `onFailure` hears of an error found after the call returned (a controller
    /// that refuses a command or does not answer). The scan has ended when it is called.
    func startScan(_ onReport: @escaping (Advertisement) -> Void,
                   onFailure: @escaping (HardwareError) -> Void) throws(HardwareError)
    func stopScan()
}

extension BLEScanner {
    /// Backends whose errors all surface in `startScan(_:)` never call `onFailure`.
    public func startScan(_ onReport: @escaping (Advertisement) -> Void,
                          onFailure: @escaping (HardwareError) -> Void) throws(HardwareError) {
        try startScan(onReport)
    }
}

/// Whatever shows a meeting's content in a room (a screen, a projector).
public protocol ContentDisplay: AnyObject {
    func present(title: String, content: [UInt8]) throws(HardwareError)
    func hide() throws(HardwareError)
}
