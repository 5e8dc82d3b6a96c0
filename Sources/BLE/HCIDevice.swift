#if canImport(Glibc)
import Glibc
#endif
import CBlueZ
import Hardware

/// The raw HCI socket of one adapter: the hardware boundary of `HCIScanner`. `BlueZHCIDevice` is the
/// real one; tests put a socket pair here and play the controller's side.
public protocol HCIDevice: AnyObject {
    var adapter: String { get }
    /// Non-blocking; readable when events wait; each read(2) returns one packet. Closed by the device.
    var fileDescriptor: Int32 { get }
    func isUp() throws(HardwareError) -> Bool
    func filter() throws(HardwareError) -> HCISocketFilter
    func setFilter(_ filter: HCISocketFilter) throws(HardwareError)
    func send(_ command: HCICommand) throws(HardwareError)
}

/// The kernel's per-socket HCI filter (`struct hci_filter`): which packet types and events it passes.
public struct HCISocketFilter: Sendable, Equatable {
    /// Bit n passes packet type n.
    public var typeMask: UInt32
    /// Bit n passes event code n (0…63).
    public var eventMask: UInt64
    /// 0: Command Complete/Status for every opcode.
    public var opcode: UInt16

    public init(typeMask: UInt32, eventMask: UInt64, opcode: UInt16 = 0) {
        self.typeMask = typeMask
        self.eventMask = eventMask
        self.opcode = opcode
    }

    /// Events only: LE Meta for the reports, Command Complete and Command Status for the scan's own
    /// commands (matched by opcode in `ScanSession`).
    public static let scan = HCISocketFilter(
        typeMask: 1 << UInt32(HCIEvent.packetType),
        eventMask: 1 << UInt64(HCIEvent.leMetaCode) | 1 << UInt64(HCIEvent.commandCompleteCode)
            | 1 << UInt64(HCIEvent.commandStatusCode))
}

/// An adapter opened through libbluetooth: `hci_devid`, `hci_open_dev`, `hci_devinfo`, `hci_send_cmd`.
public final class BlueZHCIDevice: HCIDevice {
    public let adapter: String
    public let fileDescriptor: Int32
    private let deviceID: Int32
    private let sysfsDirectory: String

    /// Opens `adapter` (`hciN`). Throws when it does not exist, is down, or the socket is refused.
    public init(adapter: String, sysfsDirectory: String = "/sys/class/bluetooth") throws(HardwareError) {
        self.adapter = adapter
        self.sysfsDirectory = sysfsDirectory
        let id = hci_devid(adapter)
        if id < 0 {
            throw HCIScanner.openError(adapter, errno: errno,
                                       available: HCIScanner.availableAdapters(sysfsDirectory: sysfsDirectory))
        }
        let fd = hci_open_dev(id)
        if fd < 0 {
            throw HCIScanner.openError(adapter, errno: errno,
                                       available: HCIScanner.availableAdapters(sysfsDirectory: sysfsDirectory))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        deviceID = id
        fileDescriptor = fd
    }

    deinit { hci_close_dev(fileDescriptor) }

    public func isUp() throws(HardwareError) -> Bool {
        var info = hci_dev_info()
        guard hci_devinfo(deviceID, &info) == 0 else {
            let code = errno
            throw code == ENODEV
                ? .adapterNotFound(adapter, available: HCIScanner.availableAdapters(sysfsDirectory: sysfsDirectory))
                : .io(errno: code, operation: "reading the state of \(adapter)")
        }
        return info.flags & (1 << UInt32(HCI_UP)) != 0
    }

    public func filter() throws(HardwareError) -> HCISocketFilter {
        var raw = hci_filter()
        var length = socklen_t(MemoryLayout<hci_filter>.size)
        guard getsockopt(fileDescriptor, Int32(SOL_HCI), Int32(HCI_FILTER), &raw, &length) == 0 else {
            throw HCIScanner.socketError(adapter, operation: "reading the HCI socket filter", errno: errno)
        }
        return HCISocketFilter(typeMask: raw.type_mask,
                               eventMask: UInt64(raw.event_mask.1) << 32 | UInt64(raw.event_mask.0),
                               opcode: raw.opcode)
    }

    public func setFilter(_ filter: HCISocketFilter) throws(HardwareError) {
        var raw = hci_filter()
        raw.type_mask = filter.typeMask
        raw.event_mask = (UInt32(truncatingIfNeeded: filter.eventMask), UInt32(truncatingIfNeeded: filter.eventMask >> 32))
        raw.opcode = filter.opcode
        guard setsockopt(fileDescriptor, Int32(SOL_HCI), Int32(HCI_FILTER), &raw,
                         socklen_t(MemoryLayout<hci_filter>.size)) == 0 else {
            throw HCIScanner.socketError(adapter, operation: "setting the HCI socket filter", errno: errno)
        }
    }

    public func send(_ command: HCICommand) throws(HardwareError) {
        var parameters = command.parameters
        let result = parameters.withUnsafeMutableBytes { raw in
            hci_send_cmd(fileDescriptor, UInt16(command.ogf), command.ocf, UInt8(raw.count), raw.baseAddress)
        }
        if result < 0 {
            throw HCIScanner.socketError(adapter, operation: "sending \(command.name)", errno: errno)
        }
    }
}
