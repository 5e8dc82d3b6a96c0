#if canImport(Glibc)
import Glibc
#endif
import BLE
import CBlueZ
import Hardware
import Reactor

// The one module that links libbluetooth (GPL-2.0-or-later, BlueZ's lib/): only programs that scan
// on a real controller depend on it, so the simulated board and its users do not load it.

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

extension HCIScanner {
    /// Opens the configured adapter through libbluetooth. Throws when it does not exist, is down, or
    /// the socket is refused.
    public convenience init(configuration: Configuration = Configuration(), reactor: Reactor) throws(HardwareError) {
        let device = try BlueZHCIDevice(adapter: configuration.adapter, sysfsDirectory: configuration.sysfsDirectory)
        self.init(device: device, configuration: configuration, reactor: reactor)
    }
}
