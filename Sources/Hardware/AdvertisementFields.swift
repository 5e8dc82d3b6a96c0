/// The parsed parts of a BLE advertisement that `Advertisement` carries besides address, RSSI and name.
///
/// The HCI backend (module BLE) fills them in from the controller's reports; the simulated board's
/// `beacon add` leaves them empty. They are plain values so that the agent can use them without
/// linking the parser.

/// How a device's address was formed (Core Specification Vol 4 Part E 7.7.65.2, Address_Type).
public struct BLEAddressType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let publicDevice = BLEAddressType(rawValue: 0x00)
    /// A random address: static, or a resolvable or non-resolvable private address that rotates.
    public static let random = BLEAddressType(rawValue: 0x01)
    /// A public identity address the controller resolved from a private one.
    public static let publicIdentity = BLEAddressType(rawValue: 0x02)
    public static let randomIdentity = BLEAddressType(rawValue: 0x03)
    /// Extended reports only: the advertiser sent no address.
    public static let anonymous = BLEAddressType(rawValue: 0xFF)

    public var description: String {
        switch rawValue {
        case 0x00: "public"
        case 0x01: "random"
        case 0x02: "public-identity"
        case 0x03: "random-identity"
        case 0xFF: "anonymous"
        default: "type-\(rawValue)"
        }
    }
}

/// The kind of advertising PDU, as the bits of the extended report's Event_Type (Core Specification
/// Vol 4 Part E 7.7.65.13). Legacy reports are mapped to the same bits, as the specification does for
/// legacy PDUs in extended reports, so both report kinds read alike.
public struct AdvertisingEventType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var isConnectable: Bool { rawValue & 0x01 != 0 }
    public var isScannable: Bool { rawValue & 0x02 != 0 }
    public var isDirected: Bool { rawValue & 0x04 != 0 }
    public var isScanResponse: Bool { rawValue & 0x08 != 0 }
    public var isLegacy: Bool { rawValue & 0x10 != 0 }

    public static let advInd = AdvertisingEventType(rawValue: 0b001_0011)
    public static let advDirectInd = AdvertisingEventType(rawValue: 0b001_0101)
    public static let advScanInd = AdvertisingEventType(rawValue: 0b001_0010)
    public static let advNonconnInd = AdvertisingEventType(rawValue: 0b001_0000)
    /// A scan response; a legacy report does not say to which kind of PDU, so this is "to ADV_IND".
    public static let scanRsp = AdvertisingEventType(rawValue: 0b001_1011)

    /// The legacy report's Event_Type (0x00…0x04); nil for a reserved value.
    public init?(legacy code: UInt8) {
        switch code {
        case 0x00: self = .advInd
        case 0x01: self = .advDirectInd
        case 0x02: self = .advScanInd
        case 0x03: self = .advNonconnInd
        case 0x04: self = .scanRsp
        default: return nil
        }
    }

    public var description: String {
        if isLegacy {
            switch self {
            case .advInd: return "ADV_IND"
            case .advDirectInd: return "ADV_DIRECT_IND"
            case .advScanInd: return "ADV_SCAN_IND"
            case .advNonconnInd: return "ADV_NONCONN_IND"
            case .scanRsp, AdvertisingEventType(rawValue: 0b001_1010): return "SCAN_RSP"
            default: break
            }
        }
        var parts: [String] = []
        if isConnectable { parts.append("connectable") }
        if isScannable { parts.append("scannable") }
        if isDirected { parts.append("directed") }
        if isScanResponse { parts.append("scan-response") }
        return parts.isEmpty ? "non-connectable" : parts.joined(separator: ",")
    }
}

/// A Bluetooth UUID, kept as its 128-bit value. 16- and 32-bit UUIDs are expanded with the Bluetooth
/// base UUID 00000000-0000-1000-8000-00805F9B34FB.
public struct BLEUUID: Hashable, Sendable, CustomStringConvertible {
    /// The first 8 bytes of the canonical (big-endian) form, and the last 8.
    public let high: UInt64
    public let low: UInt64

    static let baseHigh: UInt64 = 0x0000_0000_0000_1000
    static let baseLow: UInt64 = 0x8000_0080_5F9B_34FB

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(_ short: UInt16) { self.init(UInt32(short)) }

    public init(_ value: UInt32) {
        high = UInt64(value) << 32 | Self.baseHigh
        low = Self.baseLow
    }

    /// 16 bytes in canonical (big-endian) order, as written in "0000FEAA-0000-…".
    public init?(bigEndianBytes bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// The 16-bit value, when this UUID is one on the base UUID.
    public var shortValue: UInt16? {
        guard low == Self.baseLow, high & 0xFFFF_0000_FFFF_FFFF == Self.baseHigh else { return nil }
        return UInt16(truncatingIfNeeded: high >> 32)
    }

    /// "FEAA" for a 16-bit UUID on the base UUID, otherwise "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0".
    public var description: String {
        if let short = shortValue { return hexDigits(UInt64(short), count: 4) }
        let h = hexDigits(high, count: 16), l = hexDigits(low, count: 16)
        let hc = Array(h), lc = Array(l)
        return String(hc[0..<8]) + "-" + String(hc[8..<12]) + "-" + String(hc[12..<16]) + "-"
            + String(lc[0..<4]) + "-" + String(lc[4..<16])
    }
}

/// Service data: the service's UUID and its bytes (AD types 0x16, 0x20, 0x21).
public struct ServiceData: Hashable, Sendable {
    public var uuid: BLEUUID
    public var data: [UInt8]
    public init(uuid: BLEUUID, data: [UInt8]) {
        self.uuid = uuid
        self.data = data
    }
}

/// Manufacturer specific data (AD type 0xFF): the Bluetooth SIG company identifier and the rest.
public struct ManufacturerData: Hashable, Sendable {
    public var companyID: UInt16
    public var data: [UInt8]
    public init(companyID: UInt16, data: [UInt8]) {
        self.companyID = companyID
        self.data = data
    }
}

/// Apple's iBeacon frame: manufacturer data of company 0x004C, type 0x02, length 0x15.
public struct IBeacon: Hashable, Sendable {
    public var proximityUUID: BLEUUID
    public var major: UInt16
    public var minor: UInt16
    /// The calibrated RSSI at 1 m, dBm.
    public var measuredPower: Int
    public init(proximityUUID: BLEUUID, major: UInt16, minor: UInt16, measuredPower: Int) {
        self.proximityUUID = proximityUUID
        self.major = major
        self.minor = minor
        self.measuredPower = measuredPower
    }
}

/// An Eddystone frame (service data of UUID 0xFEAA).
public enum Eddystone: Hashable, Sendable {
    /// A 10-byte namespace and a 6-byte instance; `txPower` is the calibrated power at 0 m, dBm.
    case uid(namespace: [UInt8], instance: [UInt8], txPower: Int)
    /// The URL with its scheme prefix and expansion codes decoded.
    case url(String, txPower: Int)
    /// Unencrypted telemetry (TLM version 0).
    case tlm(EddystoneTelemetry)
    /// An ephemeral identifier: 8 bytes that rotate.
    case eid(identifier: [UInt8], txPower: Int)
}

/// Eddystone-TLM version 0. Values a beacon does not measure are nil.
public struct EddystoneTelemetry: Hashable, Sendable {
    /// Battery voltage, mV; nil when the beacon reports 0 (not supported).
    public var batteryMillivolts: Int?
    /// Temperature in 1/256 °C (the frame's signed 8.8 fixed point); nil when it sends 0x8000.
    public var temperatureRaw: Int?
    /// Advertising PDUs sent since power-on or reboot.
    public var advertisingCount: UInt32
    /// Time since power-on or reboot, in 0.1 s.
    public var uptimeDeciseconds: UInt32

    public init(batteryMillivolts: Int?, temperatureRaw: Int?, advertisingCount: UInt32,
                uptimeDeciseconds: UInt32) {
        self.batteryMillivolts = batteryMillivolts
        self.temperatureRaw = temperatureRaw
        self.advertisingCount = advertisingCount
        self.uptimeDeciseconds = uptimeDeciseconds
    }

    /// The temperature in °C, when the beacon measures it.
    public var temperatureCelsius: Double? { temperatureRaw.map { Double($0) / 256 } }
}

func hexDigits(_ value: UInt64, count: Int) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    var out = [UInt8](repeating: 0, count: count)
    var v = value
    for index in stride(from: count - 1, through: 0, by: -1) {
        out[index] = digits[Int(v & 0xF)]
        v >>= 4
    }
    return String(decoding: out, as: UTF8.self)
}
