/// An HCI command packet: opcode (OGF, OCF) and parameters (Core Specification Vol 4 Part E 5.4.1).
public struct HCICommand: Sendable, Equatable, CustomStringConvertible {
    public var ogf: UInt8
    public var ocf: UInt16
    public var parameters: [UInt8]
    /// The specification's name, for logs and errors.
    public var name: String

    public init(ogf: UInt8, ocf: UInt16, parameters: [UInt8], name: String) {
        self.ogf = ogf
        self.ocf = ocf
        self.parameters = parameters
        self.name = name
    }

    public var opcode: UInt16 { UInt16(ogf) << 10 | (ocf & 0x03FF) }

    /// The bytes on the wire, with the command packet type 0x01 first.
    public var packet: [UInt8] {
        [0x01, UInt8(truncatingIfNeeded: opcode), UInt8(truncatingIfNeeded: opcode >> 8), UInt8(parameters.count)]
            + parameters
    }

    public var description: String { name }

    public static let leControllerOGF: UInt8 = 0x08

    /// LE Set Scan Parameters (0x200B), legacy scanning.
    public static func setScanParameters(_ parameters: ScanParameters) -> HCICommand {
        HCICommand(ogf: leControllerOGF, ocf: 0x000B, parameters: [
            parameters.active ? 0x01 : 0x00,
            UInt8(truncatingIfNeeded: parameters.intervalUnits), UInt8(truncatingIfNeeded: parameters.intervalUnits >> 8),
            UInt8(truncatingIfNeeded: parameters.windowUnits), UInt8(truncatingIfNeeded: parameters.windowUnits >> 8),
            0x00,  // own address type: public (a passive scan sends nothing anyway)
            0x00,  // filter policy: accept all advertisements
        ], name: "LE Set Scan Parameters")
    }

    /// LE Set Scan Enable (0x200C).
    public static func setScanEnable(_ enable: Bool, filterDuplicates: Bool) -> HCICommand {
        HCICommand(ogf: leControllerOGF, ocf: 0x000C, parameters: [enable ? 0x01 : 0x00, filterDuplicates ? 0x01 : 0x00],
                   name: enable ? "LE Set Scan Enable (on)" : "LE Set Scan Enable (off)")
    }
}

extension HCICommand {
    /// LE Set Extended Scan Parameters (0x2041) on the LE 1M PHY, for a controller that has been
    /// switched to extended advertising and refuses the legacy commands.
    public static func setExtendedScanParameters(_ parameters: ScanParameters) -> HCICommand {
        HCICommand(ogf: leControllerOGF, ocf: 0x0041, parameters: [
            0x00,  // own address type: public
            0x00,  // filter policy: accept all
            0x01,  // scanning PHYs: LE 1M only (the one every advertiser uses for its primary channel)
            parameters.active ? 0x01 : 0x00,
            UInt8(truncatingIfNeeded: parameters.intervalUnits), UInt8(truncatingIfNeeded: parameters.intervalUnits >> 8),
            UInt8(truncatingIfNeeded: parameters.windowUnits), UInt8(truncatingIfNeeded: parameters.windowUnits >> 8),
        ], name: "LE Set Extended Scan Parameters")
    }

    /// LE Set Extended Scan Enable (0x2042): no duration, no period (scan until disabled).
    public static func setExtendedScanEnable(_ enable: Bool, filterDuplicates: Bool) -> HCICommand {
        HCICommand(ogf: leControllerOGF, ocf: 0x0042,
                   parameters: [enable ? 0x01 : 0x00, filterDuplicates ? 0x01 : 0x00, 0x00, 0x00, 0x00, 0x00],
                   name: enable ? "LE Set Extended Scan Enable (on)" : "LE Set Extended Scan Enable (off)")
    }
}

/// LE scan parameters (legacy or extended on the 1M PHY). Times are in the controller's unit of 0.625 ms.
public struct ScanParameters: Sendable, Equatable {
    /// Active scanning sends scan requests (and gets scan responses); passive only listens.
    public var active: Bool
    public var intervalUnits: UInt16
    public var windowUnits: UInt16

    /// The unit range the specification allows: 2.5 ms to 10.24 s.
    public static let unitRange: ClosedRange<UInt16> = 0x0004...0x4000

    /// Passive, interval 60 ms, window 30 ms: the kernel's own background-scan values, which leave the
    /// radio time for Wi-Fi on the Pi's combined chip.
    public static let standard = ScanParameters(active: false, intervalUnits: 0x0060, windowUnits: 0x0030)

    public init(active: Bool, intervalUnits: UInt16, windowUnits: UInt16) {
        self.active = active
        self.intervalUnits = intervalUnits
        self.windowUnits = windowUnits
    }

    /// Milliseconds in steps of 0.625 ms are rounded to the nearest unit. Nil unless both lie in 2.5 ms
    /// … 10240 ms and the window is no longer than the interval.
    public init?(active: Bool = false, intervalMilliseconds: Double, windowMilliseconds: Double) {
        guard intervalMilliseconds.isFinite, windowMilliseconds.isFinite else { return nil }
        let interval = (intervalMilliseconds / 0.625).rounded(), window = (windowMilliseconds / 0.625).rounded()
        guard interval >= Double(Self.unitRange.lowerBound), interval <= Double(Self.unitRange.upperBound),
              window >= Double(Self.unitRange.lowerBound), window <= interval else { return nil }
        self.init(active: active, intervalUnits: UInt16(interval), windowUnits: UInt16(window))
    }

    public var intervalMilliseconds: Double { Double(intervalUnits) * 0.625 }
    public var windowMilliseconds: Double { Double(windowUnits) * 0.625 }
}

/// Names of HCI status codes (Core Specification Vol 1 Part F), for error messages.
public enum HCIStatus {
    public static let success: UInt8 = 0x00
    public static let unknownCommand: UInt8 = 0x01
    public static let commandDisallowed: UInt8 = 0x0C

    public static func name(_ status: UInt8) -> String {
        switch status {
        case 0x00: "Success"
        case 0x01: "Unknown HCI Command"
        case 0x03: "Hardware Failure"
        case 0x07: "Memory Capacity Exceeded"
        case 0x0C: "Command Disallowed"
        case 0x0D: "Connection Rejected due to Limited Resources"
        case 0x11: "Unsupported Feature or Parameter Value"
        case 0x12: "Invalid HCI Command Parameters"
        case 0x1F: "Unspecified Error"
        case 0x20: "Unsupported LL Parameter Value"
        case 0x21: "Role Change Not Allowed"
        case 0x3A: "Controller Busy"
        default: "status 0x\(hex(status))"
        }
    }
}
