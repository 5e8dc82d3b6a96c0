#if canImport(Glibc)
import Glibc
#endif
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
