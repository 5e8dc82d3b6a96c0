import BLE
import Hardware
import Testing

@Suite struct AdvertisingDataTests {
    @Test func commonStructuresAreDecoded() {
        let data = AdvertisingData(parsing: bytes("""
            02 01 06
            05 08 41 6C 69 63
            08 09 41 6C 69 63 65 20 54
            02 0A F4
            05 02 0F 18 0A 18
            03 03 AA FE
            05 16 0F 18 5A 01
            05 FF 59 00 01 02
            """))
        #expect(data.flags == 0x06)
        #expect(data.shortenedName == "Alic" && data.completeName == "Alice T" && data.name == "Alice T")
        #expect(data.txPower == -12)
        #expect(data.serviceUUIDs == [BLEUUID(UInt16(0x180F)), BLEUUID(UInt16(0x180A)), BLEUUID(UInt16(0xFEAA))])
        #expect(data.hasCompleteServiceList)
        #expect(data.serviceData == [ServiceData(uuid: BLEUUID(UInt16(0x180F)), data: [0x5A, 0x01])])
        #expect(data.manufacturerData == [ManufacturerData(companyID: 0x0059, data: [0x01, 0x02])])
        #expect(data.other.isEmpty && !data.isTruncated)
        #expect(data.iBeacon == nil && data.eddystone == nil)
    }

    @Test func uuidsOfEverySizeReadLittleEndian() {
        // 128-bit Nordic UART 6E400001-B5A3-F393-E0A9-E50E24DCCA9E is sent least significant byte first.
        let data = AdvertisingData(parsing: bytes("""
            11 06 9E CA DC 24 0E E5 A9 E0 93 F3 A3 B5 01 00 40 6E
            05 05 78 56 34 12
            """))
        #expect(data.serviceUUIDs.map(\.description) == ["6E400001-B5A3-F393-E0A9-E50E24DCCA9E",
                                                          "12345678-0000-1000-8000-00805F9B34FB"])
        #expect(data.serviceUUIDs[1] == BLEUUID(UInt32(0x1234_5678)))
        #expect(BLEUUID(UInt16(0xFEAA)).description == "FEAA")
        #expect(BLEUUID(UInt16(0xFEAA)) == BLEUUID(UInt32(0xFEAA)))
    }

    @Test func iBeaconIsRecognisedOnlyInApplesLayout() throws {
        let uuid = "E2 C5 6D B5 DF FB 48 D2 B0 60 D0 F5 A7 10 96 E0"
        let beacon = AdvertisingData(parsing: bytes("02 01 06 1A FF 4C 00 02 15 \(uuid) 00 01 00 02 C5"))
        let ib = try #require(beacon.iBeacon)
        #expect(ib.proximityUUID.description == "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0")
        #expect(ib.major == 1 && ib.minor == 2 && ib.measuredPower == -59)
        #expect(beacon.manufacturerData.first?.companyID == 0x004C)

        // Apple's Nearby Info (type 0x10), a wrong length byte, and another company: no iBeacon.
        #expect(AdvertisingData(parsing: bytes("0A FF 4C 00 10 05 0B 1C 3A 7D 55")).iBeacon == nil)
        #expect(AdvertisingData(parsing: bytes("1A FF 4C 00 02 16 \(uuid) 00 01 00 02 C5")).iBeacon == nil)
        #expect(AdvertisingData(parsing: bytes("1A FF 4D 00 02 15 \(uuid) 00 01 00 02 C5")).iBeacon == nil)
    }

    @Test func eddystoneUID() {
        let data = AdvertisingData(parsing: bytes(
            "17 16 AA FE 00 EE ED D1 EB EA C0 4E 5D EF A0 17 0B DB 87 53 9B 67 00 00"))
        #expect(data.eddystone == .uid(namespace: bytes("ED D1 EB EA C0 4E 5D EF A0 17"),
                                       instance: bytes("0B DB 87 53 9B 67"), txPower: -18))
        // Without the two reserved bytes, as some beacons send it.
        let short = AdvertisingData(parsing: bytes("15 16 AA FE 00 EE ED D1 EB EA C0 4E 5D EF A0 17 0B DB 87 53 9B 67"))
        #expect(short.eddystone == data.eddystone)
    }

    @Test(arguments: [
        ("03 67 6F 6F 2E 67 6C 2F 53 36 7A 54 36 50", "https://goo.gl/S6zT6P"),
        ("01 65 78 61 6D 70 6C 65 07", "https://www.example.com"),
        ("00 61 00 62 01 63 06 64 0D", "http://www.a.com/b.org/c.gov/d.gov"),
        ("02 6E 61 6E 6F 2E 65 64 67 65 0A 78", "http://nano.edge.netx"),
    ])
    func eddystoneURLExpandsSchemeAndCodes(encoded: String, url: String) {
        let payload = bytes("10 EB " + encoded)
        let data = AdvertisingData(parsing: [UInt8(payload.count + 3), 0x16, 0xAA, 0xFE] + payload)
        #expect(data.eddystone == .url(url, txPower: -21))
    }

    @Test(arguments: ["04 61", "00 61 0E", "00 61 20", "00 61 7F", "00 C3 A9"])
    func eddystoneURLWithReservedBytesStaysRaw(encoded: String) {
        let payload = bytes("10 EB " + encoded)
        let data = AdvertisingData(parsing: [UInt8(payload.count + 3), 0x16, 0xAA, 0xFE] + payload)
        #expect(data.eddystone == nil)
        #expect(data.serviceData == [ServiceData(uuid: BLEUUID(UInt16(0xFEAA)), data: payload)])
    }

    @Test func eddystoneTLMAndEID() throws {
        let tlm = AdvertisingData(parsing: bytes("11 16 AA FE 20 00 0B B8 17 80 00 00 12 34 00 01 E2 40"))
        guard case .tlm(let telemetry) = try #require(tlm.eddystone) else {
            Issue.record("expected TLM, got \(String(describing: tlm.eddystone))")
            return
        }
        #expect(telemetry.batteryMillivolts == 3000)
        #expect(telemetry.temperatureCelsius == 23.5)
        #expect(telemetry.advertisingCount == 0x1234)
        #expect(telemetry.uptimeDeciseconds == 123_456)

        // Unsupported battery (0) and temperature (0x8000), negative temperature.
        let bare = AdvertisingData(parsing: bytes("11 16 AA FE 20 00 00 00 80 00 00 00 00 01 00 00 00 02"))
        if case .tlm(let t) = bare.eddystone {
            #expect(t.batteryMillivolts == nil && t.temperatureRaw == nil)
        } else { Issue.record("expected TLM") }
        let cold = AdvertisingData(parsing: bytes("11 16 AA FE 20 00 0B B8 FE 80 00 00 00 01 00 00 00 02"))
        if case .tlm(let t) = cold.eddystone { #expect(t.temperatureCelsius == -1.5) } else { Issue.record("expected TLM") }

        // Encrypted TLM (version 1) is not decoded.
        #expect(AdvertisingData(parsing: bytes("11 16 AA FE 20 01 0B B8 17 80 00 00 12 34 00 01 E2 40")).eddystone == nil)

        let eid = AdvertisingData(parsing: bytes("0D 16 AA FE 30 F0 01 02 03 04 05 06 07 08"))
        #expect(eid.eddystone == .eid(identifier: [1, 2, 3, 4, 5, 6, 7, 8], txPower: -16))
    }

    @Test func zeroLengthEndsTheSignificantPart() {
        let data = AdvertisingData(parsing: bytes("02 01 06 00 02 0A 04 00 00"))
        #expect(data.flags == 0x06)
        #expect(data.txPower == nil)  // after the terminator: padding, not data
        #expect(!data.isTruncated && data.other.isEmpty)
    }

    @Test func lengthPastTheEndKeepsWhatCameBefore() {
        let data = AdvertisingData(parsing: bytes("02 01 06 09 09 41 6C 69"))
        #expect(data.flags == 0x06)
        #expect(data.completeName == nil)
        #expect(data.isTruncated)
        #expect(AdvertisingData(parsing: []) == AdvertisingData())
    }

    @Test func unknownAndMalformedStructuresAreKeptRaw() {
        let data = AdvertisingData(parsing: bytes("""
            03 19 C1 03
            04 03 AA FE 01
            01 01
            02 16 AA
            05 2A 01 02 03 04
            """))
        #expect(data.other == [
            ADStructure(type: 0x19, data: [0xC1, 0x03]),          // Appearance: not decoded
            ADStructure(type: 0x03, data: [0xAA, 0xFE, 0x01]),    // odd-length 16-bit list
            ADStructure(type: 0x01, data: []),                    // empty flags
            ADStructure(type: 0x16, data: [0xAA]),                // service data without a whole UUID
            ADStructure(type: 0x2A, data: [0x01, 0x02, 0x03, 0x04]),  // Mesh message: not decoded
        ])
        #expect(data.flags == nil && data.serviceUUIDs.isEmpty && data.serviceData.isEmpty)
    }

    @Test func invalidUTF8InANameIsReplacedNotRejected() {
        let data = AdvertisingData(parsing: bytes("04 09 41 FF 42"))
        #expect(data.completeName == "A\u{FFFD}B")
    }
}
