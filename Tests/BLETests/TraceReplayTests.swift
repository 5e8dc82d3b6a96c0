#if canImport(Glibc)
import Glibc
#endif
import BLE
import Hardware
import Testing

/// The recorded traces replayed through the real parsers, as the scanner runs them.
@Suite struct TraceReplayTests {
    /// Every advertisement a trace yields, with the decoder's filter (or none).
    func replay(_ name: String, filter: ReportFilter.Configuration? = nil) throws -> [Advertisement] {
        var decoder = AdvertisementDecoder(filter: filter)
        var out: [Advertisement] = []
        for entry in try fixture(name).entries {
            try decoder.decode(packet: entry.packet, now: entry.milliseconds) { out.append($0) }
        }
        return out
    }

    @Test func iBeaconTrace() throws {
        let seen = try replay("ibeacon.hcitrace")
        #expect(seen.map(\.rssi) == [-63, -65, -64])
        #expect(seen.map(\.timestamp) == [0, 100, 200])
        let first = try #require(seen.first)
        #expect(first.address == "C4:7C:8D:6A:12:34")
        #expect(first.addressType == .random && first.eventType == .advNonconnInd)
        #expect(first.flags == 0x06 && first.name == nil)
        #expect(first.iBeacon == IBeacon(proximityUUID: BLEUUID(high: 0xE2C5_6DB5_DFFB_48D2, low: 0xB060_D0F5_A710_96E0),
                                         major: 1, minor: 2, measuredPower: -59))
    }

    @Test func eddystoneTraceRotatesFrames() throws {
        let seen = try replay("eddystone.hcitrace")
        #expect(seen.count == 4)
        #expect(seen.allSatisfy { $0.address == "D0:39:72:A4:B1:22" && $0.serviceUUIDs == [BLEUUID(UInt16(0xFEAA))] })
        #expect(seen[0].eddystone == .uid(namespace: bytes("ED D1 EB EA C0 4E 5D EF A0 17"),
                                          instance: bytes("0B DB 87 53 9B 67"), txPower: -18))
        #expect(seen[1].eddystone == .url("https://goo.gl/S6zT6P", txPower: -21))
        guard case .tlm(let telemetry) = seen[2].eddystone else {
            Issue.record("expected TLM, got \(String(describing: seen[2].eddystone))")
            return
        }
        #expect(telemetry == EddystoneTelemetry(batteryMillivolts: 3000, temperatureRaw: 0x1780,
                                                advertisingCount: 0x1234, uptimeDeciseconds: 123_456))
        #expect(seen[3].eddystone == .url("https://www.example.com", txPower: -12))
    }

    @Test func filterLetsEachEddystoneFrameTypeThroughOncePerWindow() throws {
        // One address, four frames within a second: each frame type is its own source, so UID, URL and
        // TLM get through; the second URL frame (at 1000 ms, 667 ms after the first) is a duplicate.
        let seen = try replay("eddystone.hcitrace", filter: .init())
        #expect(seen.map(\.timestamp) == [0, 333, 666])
    }

    @Test func phonesTraceWithoutFilter() throws {
        let seen = try replay("phones.hcitrace")
        #expect(seen.count == 30)   // 10 iPhone reports, 10 two-report Android events
        let iphone = seen.filter { $0.address == "6B:1F:4A:2C:9D:E0" }
        #expect(iphone.count == 10)
        #expect(iphone.allSatisfy {
            $0.txPower == 12 && $0.flags == 0x1A && $0.iBeacon == nil && $0.eventType == .advInd
                && $0.manufacturerData == [ManufacturerData(companyID: 0x004C, data: bytes("10 05 0B 1C 3A 7D 55"))]
        })
        let android = seen.filter { $0.address == "5A:E3:61:0C:7B:44" }
        #expect(android.filter { $0.eventType == .scanRsp }.allSatisfy { $0.name == "Pixel 7" && $0.txPower == -7 })
        #expect(android.filter { $0.eventType == .advInd }.allSatisfy {
            $0.serviceData == [ServiceData(uuid: BLEUUID(UInt16(0xFE2C)), data: [0, 0, 0, 0])]
        })
    }

    @Test func phonesTraceThroughTheDedupeFilter() throws {
        let config = ReportFilter.Configuration(windowMilliseconds: 1_000, rssiChangeThreshold: 8, smoothing: 0.5)
        let iphone = try replay("phones.hcitrace", filter: config).filter { $0.address == "6B:1F:4A:2C:9D:E0" }
        // Raw: -58 -59 -57 -60 -58 | -75 -76 -74 -75 -76. The first goes through; the average then runs
        // -58.5 -57.75 -58.875 -58.44 | -66.72 (rounded -67, 9 dB from -58: through) -71.36 -72.68 -73.84
        // -74.92 (rounded -75, 8 dB from -67: through).
        #expect(iphone.map(\.rssi) == [-58, -67, -75])
        #expect(iphone.map(\.timestamp) == [0, 500, 900])
        let android = try replay("phones.hcitrace", filter: config).filter { $0.address == "5A:E3:61:0C:7B:44" }
        #expect(android.map(\.eventType) == [.advInd, .scanRsp])   // separate sources, each once in the second
    }

    @Test func multiReportTrace() throws {
        let seen = try replay("multi-report.hcitrace")
        #expect(seen.map(\.address) == ["00:1B:DC:07:32:A1", "C4:7C:8D:6A:12:34", "00:1B:DC:07:32:A2",
                                        "00:1B:DC:07:32:A1", "F1:E2:D3:C4:B5:A6"])
        #expect(seen[0].name == "Alice" && seen[0].addressType == .publicDevice)
        #expect(seen[0].serviceUUIDs.map(\.description) == ["6E400001-B5A3-F393-E0A9-E50E24DCCA9E"])
        #expect(seen[1].iBeacon?.major == 1)
        #expect(seen[2].eventType == .advDirectInd && seen[2].rssi == -90)
        #expect(seen[3].name == "Alice" && seen[3].rssi == -54)
        #expect(seen[4].name == "Ext" && seen[4].txPower == 4 && seen[4].eventType?.isLegacy == false)
    }

    @Test func malformedTraceRejectsEachBadEventAndKeepsTheGoodOnes() throws {
        var decoder = AdvertisementDecoder(filter: nil)
        var delivered: [Advertisement] = []
        var codes: [HCIParseError.Code] = []
        for entry in try fixture("malformed.hcitrace").entries {
            do {
                try decoder.decode(packet: entry.packet, now: entry.milliseconds) { delivered.append($0) }
            } catch {
                codes.append(error.code)
            }
        }
        #expect(codes == [.truncated, .truncated, .invalidReport, .truncated, .lengthMismatch, .invalidReport,
                          .notAnEvent])
        #expect(delivered.map(\.rssi) == [-63, -64])
    }

    @Test func traceFormatErrorsNameTheLine() {
        #expect(throws: HCITrace.FormatError(line: 2, problem: "\"x\" is not a time in milliseconds (0 or more)")) {
            try HCITrace(parsing: "# header\nx 04 0E\n")
        }
        #expect(throws: HCITrace.FormatError(line: 3, problem: "time 5 is before the previous entry's 10")) {
            try HCITrace(parsing: "10 04 0E 00\n\n5 04 0E 00\n")
        }
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(parsing: "0 04 0E 0\n") }      // odd digits
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(parsing: "0 04 0G\n") }
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(parsing: "0\n") }
        #expect(throws: HCITrace.FormatError.self) { try HCITrace.load(path: "/nonexistent/trace.hcitrace") }
    }

    @Test func formattedTraceReadsBack() throws {
        let trace = HCITrace(entries: [.init(milliseconds: 0, packet: [0x04, 0x0E, 0x00], line: 2),
                                       .init(milliseconds: 7, packet: [0x04, 0x3E, 0x01, 0x05], line: 3)])
        #expect(try HCITrace(parsing: trace.formatted(header: "two events")) == trace)
        #expect(trace.duration == 7)
    }
}

/// btsnoop captures, built here record by record from the format BlueZ documents (btsnoop.txt and
/// src/shared/btsnoop.h): a 16-byte header, then per record original and included length, flags,
/// drops and a microsecond timestamp, all big-endian.
@Suite struct BTSnoopTests {
    func be32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }

    func capture(datalink: UInt32, _ records: [(flags: UInt32, microseconds: UInt64, data: [UInt8])]) -> [UInt8] {
        var bytes = Array("btsnoop".utf8) + [0] + be32(1) + be32(datalink)
        for record in records {
            bytes += be32(UInt32(record.data.count)) + be32(UInt32(record.data.count)) + be32(record.flags) + be32(0)
            bytes += be32(UInt32(record.microseconds >> 32)) + be32(UInt32(truncatingIfNeeded: record.microseconds))
            bytes += record.data
        }
        return bytes
    }

    @Test func monitorCaptureGivesTheEventsOfOneAdapter() throws {
        let beacon = try fixture("ibeacon.hcitrace").entries.map(\.packet)
        let start: UInt64 = 63_900_000_000_000_000   // some day in the 2020s, in µs since year 0
        let bytes = capture(datalink: 2001, [
            (0x0000_0002, start, [0x0B, 0x20, 0x00]),                          // a command: skipped
            (0x0000_0003, start + 1_500, Array(beacon[0].dropFirst())),         // event on hci0
            (0x0001_0003, start + 2_000, Array(beacon[1].dropFirst())),         // event on hci1
            (0x0000_0003, start + 101_700, Array(beacon[2].dropFirst())),
        ])
        let all = try HCITrace(btsnoop: bytes)
        #expect(all.entries.map(\.packet) == [beacon[0], beacon[1], beacon[2]])
        #expect(all.entries.map(\.milliseconds) == [0, 0, 100])
        #expect(all.entries.map(\.line) == [2, 3, 4])
        let hci0 = try HCITrace(btsnoop: bytes, adapterIndex: 0)
        #expect(hci0.entries.map(\.packet) == [beacon[0], beacon[2]])
    }

    @Test func h4AndUnencapsulatedCaptures() throws {
        let event = try fixture("ibeacon.hcitrace").entries[0].packet
        let h4 = capture(datalink: 1002, [(0, 10, [0x01, 0x0C, 0x20, 0x02, 0x01, 0x00]), (1, 20, event)])
        #expect(try HCITrace(btsnoop: h4).entries.map(\.packet) == [event])
        let plain = capture(datalink: 1001, [(0x2, 10, [0x0C, 0x20, 0x02, 0x01, 0x00]),   // sent command
                                             (0x3, 20, Array(event.dropFirst())),         // received event
                                             (0x1, 30, [0x00, 0x20, 0x01, 0x00, 0xAA])])  // received ACL
        #expect(try HCITrace(btsnoop: plain).entries.map(\.packet) == [event])
    }

    @Test func brokenCapturesAreRefusedWithTheRecord() throws {
        let event = try fixture("ibeacon.hcitrace").entries[0].packet
        let good = capture(datalink: 2001, [(3, 0, Array(event.dropFirst())), (3, 1_000, Array(event.dropFirst()))])
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(btsnoop: Array(good.dropLast(3))) }
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(btsnoop: Array(good.prefix(30))) }
        var otherLink = good
        otherLink[15] = 0xEA   // datalink 2026
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(btsnoop: otherLink) }
        #expect(throws: HCITrace.FormatError.self) { try HCITrace(btsnoop: Array("btsnoop".utf8)) }
    }

    @Test func loadRecognisesACaptureByItsMagic() throws {
        let event = try fixture("ibeacon.hcitrace").entries[0].packet
        let path = uniqueTemporaryPath(".btsnoop")
        defer { unlink(path) }
        let bytes = capture(datalink: 2001, [(3, 5_000_000, Array(event.dropFirst()))])
        guard let file = fopen(path, "w") else { preconditionFailure("fopen \(path)") }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        #expect(try HCITrace.load(path: path).entries.map(\.packet) == [event])
    }
}
