import Hardware

/// One AD structure: its type and its data, as sent (Core Specification Supplement Part A).
public struct ADStructure: Sendable, Hashable {
    public var type: UInt8
    public var data: [UInt8]
    public init(type: UInt8, data: [UInt8]) {
        self.type = type
        self.data = data
    }
}

/// The AD structures of one advertisement or scan response, decoded.
///
/// Parsing never fails: advertisers in the wild send junk, and what can be read is still worth having.
/// A length byte of 0 ends the significant part (the rest is padding). A structure whose length runs
/// past the end sets `isTruncated` and ends parsing. Unknown types, and known types whose content is
/// malformed (a UUID list of the wrong length, say), are kept as they came in `other`.
public struct AdvertisingData: Sendable, Equatable {
    public var flags: UInt8?
    public var shortenedName: String?
    public var completeName: String?
    public var txPower: Int?
    /// 16-, 32- and 128-bit service UUIDs, complete and incomplete lists, in order of appearance.
    public var serviceUUIDs: [BLEUUID] = []
    /// True when a complete list of any size was present.
    public var hasCompleteServiceList = false
    public var serviceData: [ServiceData] = []
    public var manufacturerData: [ManufacturerData] = []
    public var iBeacon: IBeacon?
    public var eddystone: Eddystone?
    public var other: [ADStructure] = []
    public var isTruncated = false

    /// The complete name, else the shortened one.
    public var name: String? { completeName ?? shortenedName }

    public enum ADType {
        public static let flags: UInt8 = 0x01
        public static let incomplete16: UInt8 = 0x02
        public static let complete16: UInt8 = 0x03
        public static let incomplete32: UInt8 = 0x04
        public static let complete32: UInt8 = 0x05
        public static let incomplete128: UInt8 = 0x06
        public static let complete128: UInt8 = 0x07
        public static let shortenedName: UInt8 = 0x08
        public static let completeName: UInt8 = 0x09
        public static let txPower: UInt8 = 0x0A
        public static let serviceData16: UInt8 = 0x16
        public static let serviceData32: UInt8 = 0x20
        public static let serviceData128: UInt8 = 0x21
        public static let manufacturerData: UInt8 = 0xFF
    }

    public static let appleCompanyID: UInt16 = 0x004C
    public static let eddystoneUUID: UInt16 = 0xFEAA

    public init() {}

    public init(parsing bytes: [UInt8]) {
        var p = 0
        while p < bytes.count {
            let length = Int(bytes[p])
            if length == 0 { break }
            guard bytes.count - p - 1 >= length else {
                isTruncated = true
                break
            }
            let type = bytes[p + 1]
            let body = p + 2..<p + 1 + length
            p += 1 + length
            if !decode(type: type, bytes[body]) {
                other.append(ADStructure(type: type, data: Array(bytes[body])))
            }
        }
    }

    /// False when the structure is unknown or malformed, so the caller keeps it raw.
    private mutating func decode(type: UInt8, _ body: ArraySlice<UInt8>) -> Bool {
        switch type {
        case ADType.flags:
            guard let first = body.first else { return false }
            flags = first
        case ADType.incomplete16, ADType.complete16:
            guard !body.isEmpty, body.count % 2 == 0 else { return false }
            for index in stride(from: body.startIndex, to: body.endIndex, by: 2) {
                serviceUUIDs.append(BLEUUID(littleEndian16(body, at: index)))
            }
            if type == ADType.complete16 { hasCompleteServiceList = true }
        case ADType.incomplete32, ADType.complete32:
            guard !body.isEmpty, body.count % 4 == 0 else { return false }
            for index in stride(from: body.startIndex, to: body.endIndex, by: 4) {
                serviceUUIDs.append(BLEUUID(littleEndian32(body, at: index)))
            }
            if type == ADType.complete32 { hasCompleteServiceList = true }
        case ADType.incomplete128, ADType.complete128:
            guard !body.isEmpty, body.count % 16 == 0 else { return false }
            for index in stride(from: body.startIndex, to: body.endIndex, by: 16) {
                serviceUUIDs.append(uuid128(body, at: index, littleEndian: true))
            }
            if type == ADType.complete128 { hasCompleteServiceList = true }
        case ADType.shortenedName:
            shortenedName = String(decoding: body, as: UTF8.self)
        case ADType.completeName:
            completeName = String(decoding: body, as: UTF8.self)
        case ADType.txPower:
            guard let first = body.first else { return false }
            txPower = Int(Int8(bitPattern: first))
        case ADType.serviceData16:
            guard body.count >= 2 else { return false }
            let uuid = littleEndian16(body, at: body.startIndex)
            let data = Array(body.dropFirst(2))
            serviceData.append(ServiceData(uuid: BLEUUID(uuid), data: data))
            if uuid == Self.eddystoneUUID, eddystone == nil { eddystone = Self.eddystone(data) }
        case ADType.serviceData32:
            guard body.count >= 4 else { return false }
            serviceData.append(ServiceData(uuid: BLEUUID(littleEndian32(body, at: body.startIndex)),
                                           data: Array(body.dropFirst(4))))
        case ADType.serviceData128:
            guard body.count >= 16 else { return false }
            let uuid = uuid128(body, at: body.startIndex, littleEndian: true)
            serviceData.append(ServiceData(uuid: uuid, data: Array(body.dropFirst(16))))
        case ADType.manufacturerData:
            guard body.count >= 2 else { return false }
            let company = littleEndian16(body, at: body.startIndex)
            let data = Array(body.dropFirst(2))
            manufacturerData.append(ManufacturerData(companyID: company, data: data))
            if company == Self.appleCompanyID, iBeacon == nil { iBeacon = Self.iBeacon(data) }
        default:
            return false
        }
        return true
    }

    /// Apple's layout: type 0x02, length 0x15, proximity UUID (16), major (2, big-endian), minor (2),
    /// measured power (1, signed). Anything else from Apple (AirDrop, Find My…) is not an iBeacon.
    static func iBeacon(_ data: [UInt8]) -> IBeacon? {
        guard data.count == 23, data[0] == 0x02, data[1] == 0x15 else { return nil }
        return IBeacon(proximityUUID: uuid128(data[...], at: 2, littleEndian: false),
                       major: UInt16(data[18]) << 8 | UInt16(data[19]),
                       minor: UInt16(data[20]) << 8 | UInt16(data[21]),
                       measuredPower: Int(Int8(bitPattern: data[22])))
    }

    /// The Eddystone frame in the service data of 0xFEAA (github.com/google/eddystone, protocol spec).
    static func eddystone(_ data: [UInt8]) -> Eddystone? {
        guard let frame = data.first else { return nil }
        switch frame {
        case 0x00:  // UID: tx power, namespace (10), instance (6), 2 reserved bytes that some beacons omit
            guard data.count == 18 || data.count == 20 else { return nil }
            return .uid(namespace: Array(data[2..<12]), instance: Array(data[12..<18]),
                        txPower: Int(Int8(bitPattern: data[1])))
        case 0x10:  // URL: tx power, scheme, encoded URL (at most 17 bytes)
            guard data.count >= 3, data.count <= 20, let url = eddystoneURL(data[2...]) else { return nil }
            return .url(url, txPower: Int(Int8(bitPattern: data[1])))
        case 0x20:  // TLM: version 0 is plain; version 1 is encrypted and stays raw
            guard data.count == 14, data[1] == 0x00 else { return nil }
            let battery = Int(UInt16(data[2]) << 8 | UInt16(data[3]))
            let temperature = UInt16(data[4]) << 8 | UInt16(data[5])
            return .tlm(EddystoneTelemetry(
                batteryMillivolts: battery == 0 ? nil : battery,
                temperatureRaw: temperature == 0x8000 ? nil : Int(Int16(bitPattern: temperature)),
                advertisingCount: bigEndian32(data, at: 6), uptimeDeciseconds: bigEndian32(data, at: 10)))
        case 0x30:  // EID: tx power, 8-byte ephemeral identifier
            guard data.count == 10 else { return nil }
            return .eid(identifier: Array(data[2..<10]), txPower: Int(Int8(bitPattern: data[1])))
        default:
            return nil
        }
    }

    static let urlSchemes = ["http://www.", "https://www.", "http://", "https://"]
    static let urlExpansions = [".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
                                ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov"]

    /// Nil for an unknown scheme or a reserved byte (0x0E…0x20, 0x7F…0xFF).
    static func eddystoneURL(_ encoded: ArraySlice<UInt8>) -> String? {
        guard let scheme = encoded.first, Int(scheme) < urlSchemes.count else { return nil }
        var url = Array(urlSchemes[Int(scheme)].utf8)
        url.reserveCapacity(url.count + encoded.count * 2)
        for byte in encoded.dropFirst() {
            if Int(byte) < urlExpansions.count {
                url.append(contentsOf: urlExpansions[Int(byte)].utf8)
            } else if byte > 0x20 && byte < 0x7F {
                url.append(byte)
            } else {
                return nil
            }
        }
        return String(decoding: url, as: UTF8.self)
    }
}

/// 16 bytes from `index`: HCI and AD send 128-bit UUIDs least significant byte first; iBeacon sends
/// its proximity UUID in the written order.
private func uuid128(_ bytes: ArraySlice<UInt8>, at index: Int, littleEndian: Bool) -> BLEUUID {
    var high: UInt64 = 0, low: UInt64 = 0
    for offset in 0..<16 {
        let byte = UInt64(bytes[littleEndian ? index + 15 - offset : index + offset])
        if offset < 8 { high = high << 8 | byte } else { low = low << 8 | byte }
    }
    return BLEUUID(high: high, low: low)
}

private func littleEndian16(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt16 {
    UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8
}

private func littleEndian32(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt32 {
    UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
}

private func bigEndian32(_ bytes: [UInt8], at index: Int) -> UInt32 {
    UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
}
