import Hardware

/// One report from an LE Advertising Report or LE Extended Advertising Report event.
public struct AdvertisingReport: Sendable, Equatable {
    public var eventType: AdvertisingEventType
    public var addressType: BLEAddressType
    public var address: BLEAddress
    /// dBm; nil when the controller had none (the value 127).
    public var rssi: Int?
    /// Extended reports only: the advertiser's TX power, dBm; nil when it did not send one.
    public var txPower: Int?
    /// The advertising data: AD structures, see `AdvertisingData`.
    public var data: [UInt8]
    /// False for an extended report whose data is a fragment (more follows) or was truncated.
    public var isComplete: Bool

    public init(eventType: AdvertisingEventType, addressType: BLEAddressType, address: BLEAddress, rssi: Int?,
                txPower: Int? = nil, data: [UInt8], isComplete: Bool = true) {
        self.eventType = eventType
        self.addressType = addressType
        self.address = address
        self.rssi = rssi
        self.txPower = txPower
        self.data = data
        self.isComplete = isComplete
    }
}

/// Command Complete (event 0x0E): the controller finished a command.
public struct CommandComplete: Sendable, Equatable {
    public var numberOfAllowedCommands: UInt8
    public var opcode: UInt16
    public var returnParameters: [UInt8]

    public init(numberOfAllowedCommands: UInt8, opcode: UInt16, returnParameters: [UInt8]) {
        self.numberOfAllowedCommands = numberOfAllowedCommands
        self.opcode = opcode
        self.returnParameters = returnParameters
    }

    /// The first return parameter, which is the status for every command this package sends.
    public var status: UInt8? { returnParameters.first }
}

/// Command Status (event 0x0F): the controller accepted a command or refused it (non-zero status).
public struct CommandStatus: Sendable, Equatable {
    public var status: UInt8
    public var numberOfAllowedCommands: UInt8
    public var opcode: UInt16

    public init(status: UInt8, numberOfAllowedCommands: UInt8, opcode: UInt16) {
        self.status = status
        self.numberOfAllowedCommands = numberOfAllowedCommands
        self.opcode = opcode
    }
}

/// An HCI event packet as a raw HCI socket delivers it: packet type 0x04, event code, parameter
/// length, parameters (Core Specification Vol 4 Part E 5.4.4).
///
/// Only what the scanner needs is decoded; every other event is `.other` and every other LE subevent
/// `.leMeta`, each after the packet's framing was checked.
public enum HCIEvent: Sendable, Equatable {
    case commandComplete(CommandComplete)
    case commandStatus(CommandStatus)
    /// Every report of one LE Advertising Report (0x02) or LE Extended Advertising Report (0x0D) event.
    case advertisingReports([AdvertisingReport])
    case leMeta(subevent: UInt8)
    case other(code: UInt8)

    public static let packetType: UInt8 = 0x04
    public static let commandCompleteCode: UInt8 = 0x0E
    public static let commandStatusCode: UInt8 = 0x0F
    public static let leMetaCode: UInt8 = 0x3E
    public static let advertisingReportSubevent: UInt8 = 0x02
    public static let extendedAdvertisingReportSubevent: UInt8 = 0x0D
    /// Legacy advertising data is at most 31 bytes (Core Specification Vol 6 Part B 2.3.1).
    public static let maximumLegacyDataLength = 31

    /// Parses one packet, starting with its packet type byte.
    public init(packet: [UInt8]) throws(HCIParseError) {
        guard packet.count >= 3 else {
            throw HCIParseError(.truncated, at: packet.count,
                                "an HCI event packet needs 3 header bytes, got \(packet.count)")
        }
        guard packet[0] == Self.packetType else {
            throw HCIParseError(.notAnEvent, at: 0,
                                "packet type 0x\(hex(packet[0])) is not an HCI event (0x04)")
        }
        let code = packet[1]
        let length = Int(packet[2])
        let end = 3 + length
        guard packet.count >= end else {
            throw HCIParseError(.truncated, at: packet.count,
                                "event 0x\(hex(code)) says \(length) parameter bytes, \(packet.count - 3) present")
        }
        guard packet.count == end else {
            throw HCIParseError(.lengthMismatch, at: end,
                                "event 0x\(hex(code)) says \(length) parameter bytes, \(packet.count - 3) present")
        }
        switch code {
        case Self.commandCompleteCode:
            guard length >= 3 else {
                throw HCIParseError(.truncated, at: end, "Command Complete needs at least 3 parameter bytes, got \(length)")
            }
            self = .commandComplete(CommandComplete(numberOfAllowedCommands: packet[3],
                                                    opcode: UInt16(packet[4]) | UInt16(packet[5]) << 8,
                                                    returnParameters: Array(packet[6..<end])))
        case Self.commandStatusCode:
            guard length == 4 else {
                throw HCIParseError(length < 4 ? .truncated : .lengthMismatch, at: end,
                                    "Command Status has 4 parameter bytes, got \(length)")
            }
            self = .commandStatus(CommandStatus(status: packet[3], numberOfAllowedCommands: packet[4],
                                                opcode: UInt16(packet[5]) | UInt16(packet[6]) << 8))
        case Self.leMetaCode:
            guard length >= 1 else {
                throw HCIParseError(.truncated, at: end, "LE Meta event without a subevent code")
            }
            switch packet[3] {
            case Self.advertisingReportSubevent:
                self = .advertisingReports(try Self.legacyReports(packet, from: 4, to: end))
            case Self.extendedAdvertisingReportSubevent:
                self = .advertisingReports(try Self.extendedReports(packet, from: 4, to: end))
            case let subevent:
                self = .leMeta(subevent: subevent)
            }
        default:
            self = .other(code: code)
        }
    }

    /// Reports are laid out one after the other (event type, address type, address, data length, data,
    /// RSSI), as controllers send them and as BlueZ's `le_advertising_info` and the kernel read them.
    /// The specification prints the parameters as if they were parallel arrays (Event_Type[i], …);
    /// controllers do not send that layout.
    static func legacyReports(_ packet: [UInt8], from start: Int, to end: Int) throws(HCIParseError) -> [AdvertisingReport] {
        let count = try reportCount(packet, at: start, to: end, minimumSize: 10, maximum: 0x19, what: "LE Advertising Report")
        var reports: [AdvertisingReport] = []
        reports.reserveCapacity(count)
        var p = start + 1
        for index in 0..<count {
            guard end - p >= 9 else {
                throw HCIParseError(.truncated, at: p, "report \(index + 1) of \(count) is cut off in its header")
            }
            guard let eventType = AdvertisingEventType(legacy: packet[p]) else {
                throw HCIParseError(.invalidReport, at: p, "report \(index + 1) has reserved event type 0x\(hex(packet[p]))")
            }
            let addressType = BLEAddressType(rawValue: packet[p + 1])
            let address = BLEAddress(hciBytes: packet, at: p + 2)
            let dataLength = Int(packet[p + 8])
            guard dataLength <= maximumLegacyDataLength else {
                throw HCIParseError(.invalidReport, at: p + 8,
                                    "report \(index + 1) says \(dataLength) data bytes; legacy advertising data is at most 31")
            }
            p += 9
            guard end - p >= dataLength + 1 else {
                throw HCIParseError(.truncated, at: p,
                                    "report \(index + 1) says \(dataLength) data bytes and an RSSI, \(end - p) bytes left")
            }
            let data = Array(packet[p..<(p + dataLength)])
            p += dataLength
            let rssi = Int8(bitPattern: packet[p])
            p += 1
            reports.append(AdvertisingReport(eventType: eventType, addressType: addressType, address: address,
                                             rssi: rssi == 127 ? nil : Int(rssi), data: data))
        }
        guard p == end else {
            throw HCIParseError(.lengthMismatch, at: p, "\(end - p) bytes after the last of \(count) reports")
        }
        return reports
    }

    static func extendedReports(_ packet: [UInt8], from start: Int, to end: Int) throws(HCIParseError) -> [AdvertisingReport] {
        let count = try reportCount(packet, at: start, to: end, minimumSize: 24, maximum: 0x0A,
                                    what: "LE Extended Advertising Report")
        var reports: [AdvertisingReport] = []
        reports.reserveCapacity(count)
        var p = start + 1
        for index in 0..<count {
            guard end - p >= 24 else {
                throw HCIParseError(.truncated, at: p, "extended report \(index + 1) of \(count) is cut off in its header")
            }
            let rawType = UInt16(packet[p]) | UInt16(packet[p + 1]) << 8
            let addressType = BLEAddressType(rawValue: packet[p + 2])
            let address = BLEAddress(hciBytes: packet, at: p + 3)
            // p+9 primary PHY, p+10 secondary PHY, p+11 advertising SID: not needed for presence.
            let txPower = Int8(bitPattern: packet[p + 12])
            let rssi = Int8(bitPattern: packet[p + 13])
            // p+14 periodic advertising interval (2), p+16 direct address type, p+17 direct address (6).
            let dataLength = Int(packet[p + 23])
            p += 24
            guard end - p >= dataLength else {
                throw HCIParseError(.truncated, at: p,
                                    "extended report \(index + 1) says \(dataLength) data bytes, \(end - p) bytes left")
            }
            let data = Array(packet[p..<(p + dataLength)])
            p += dataLength
            reports.append(AdvertisingReport(
                eventType: AdvertisingEventType(rawValue: rawType & 0x1F), addressType: addressType, address: address,
                rssi: rssi == 127 ? nil : Int(rssi), txPower: txPower == 127 ? nil : Int(txPower),
                data: data, isComplete: (rawType >> 5) & 0x3 == 0))
        }
        guard p == end else {
            throw HCIParseError(.lengthMismatch, at: p, "\(end - p) bytes after the last of \(count) extended reports")
        }
        return reports
    }

    /// Num_Reports, checked against the specification's range and against the bytes that follow, so a
    /// lying count is refused before anything is read or reserved.
    private static func reportCount(_ packet: [UInt8], at offset: Int, to end: Int, minimumSize: Int, maximum: Int,
                                    what: String) throws(HCIParseError) -> Int {
        guard offset < end else { throw HCIParseError(.truncated, at: offset, "\(what) without Num_Reports") }
        let count = Int(packet[offset])
        guard count >= 1, count <= maximum else {
            throw HCIParseError(.invalidReport, at: offset, "\(what) with Num_Reports \(count); allowed 1 to \(maximum)")
        }
        let available = end - offset - 1
        guard count * minimumSize <= available else {
            throw HCIParseError(.truncated, at: offset,
                                "\(what) says \(count) reports (at least \(count * minimumSize) bytes), \(available) bytes follow")
        }
        return count
    }
}

/// Two upper-case hex digits.
func hex(_ byte: UInt8) -> String {
    let digits: [Character] = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}
