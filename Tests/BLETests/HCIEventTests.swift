import BLE
import Hardware
import Testing

@Suite struct HCIEventTests {
    @Test func commandCompleteCarriesOpcodeAndStatus() throws {
        let event = try HCIEvent(packet: bytes("04 0E 04 01 0B 20 0C"))
        guard case .commandComplete(let complete) = event else {
            Issue.record("expected Command Complete, got \(event)")
            return
        }
        #expect(complete.opcode == 0x200B)
        #expect(complete.numberOfAllowedCommands == 1)
        #expect(complete.status == 0x0C)
        #expect(complete.returnParameters == [0x0C])
    }

    @Test func commandStatusCarriesStatusAndOpcode() throws {
        #expect(try HCIEvent(packet: bytes("04 0F 04 01 01 41 20"))
            == .commandStatus(CommandStatus(status: 0x01, numberOfAllowedCommands: 1, opcode: 0x2041)))
    }

    @Test func otherEventsAndSubeventsAreNamedNotParsed() throws {
        #expect(try HCIEvent(packet: bytes("04 05 04 00 40 00 13")) == .other(code: 0x05))  // Disconnection Complete
        #expect(try HCIEvent(packet: bytes("04 3E 03 03 AA BB")) == .leMeta(subevent: 0x03))
    }

    @Test func legacyReportFieldsComeOutInWrittenOrder() throws {
        // ADV_NONCONN_IND, random, address C4:7C:8D:6A:12:34 (sent least significant byte first),
        // 3 data bytes, RSSI -63 (0xC1).
        let event = try HCIEvent(packet: bytes("04 3E 0F 02 01 03 01 34 12 6A 8D 7C C4 03 02 01 06 C1"))
        #expect(event == .advertisingReports([AdvertisingReport(
            eventType: .advNonconnInd, addressType: .random, address: BLEAddress("C4:7C:8D:6A:12:34")!,
            rssi: -63, data: [0x02, 0x01, 0x06])]))
        if case .advertisingReports(let reports) = event {
            #expect(reports[0].address.description == "C4:7C:8D:6A:12:34")
            #expect(reports[0].eventType.isLegacy && !reports[0].eventType.isConnectable)
        }
    }

    @Test func everyReportOfAMultiReportEventIsParsed() throws {
        // Three reports one after the other: empty ADV_IND, a 2-byte SCAN_RSP, and RSSI 127 (none).
        let event = try HCIEvent(packet: bytes("""
            04 3E 22 02 03
            00 00 01 00 00 00 00 00 00 B0
            04 01 02 00 00 00 00 00 02 01 1A A0
            02 00 03 00 00 00 00 00 00 7F
            """))
        guard case .advertisingReports(let reports) = event else {
            Issue.record("expected reports, got \(event)")
            return
        }
        #expect(reports.map(\.address) == [BLEAddress(1), BLEAddress(2), BLEAddress(3)])
        #expect(reports.map(\.eventType) == [.advInd, .scanRsp, .advScanInd])
        #expect(reports.map(\.addressType) == [.publicDevice, .random, .publicDevice])
        #expect(reports.map(\.data) == [[], [0x01, 0x1A], []])
        #expect(reports.map(\.rssi) == [-80, -96, nil])
    }

    @Test func extendedReportCarriesTxPowerAndCompleteness() throws {
        let trace = try fixture("multi-report.hcitrace")
        let event = try HCIEvent(packet: trace.entries[1].packet)
        guard case .advertisingReports(let reports) = event, reports.count == 2 else {
            Issue.record("expected two extended reports, got \(event)")
            return
        }
        #expect(reports[0].eventType == .advInd)  // legacy PDU bits 0x13
        #expect(reports[0].txPower == nil && reports[0].rssi == -54)
        #expect(reports[1].eventType.rawValue == 0 && !reports[1].eventType.isLegacy)
        #expect(reports[1].address.description == "F1:E2:D3:C4:B5:A6")
        #expect(reports[1].txPower == 4 && reports[1].rssi == -61)
        #expect(reports.allSatisfy { $0.isComplete })

        // Data status "incomplete, more to come" (bits 5-6 = 01).
        let fragment = try HCIEvent(packet: bytes("""
            04 3E 1B 0D 01 20 00 00 01 02 03 04 05 06 01 00 FF 7F C0 00 00 00 00 00 00 00 00 00 01 AA
            """))
        if case .advertisingReports(let parts) = fragment {
            #expect(parts.map(\.isComplete) == [false])
            #expect(parts.first?.data == [0xAA])
        } else {
            Issue.record("expected a fragment report, got \(fragment)")
        }
    }

    @Test(arguments: [
        ("", HCIParseError.Code.truncated),
        ("04 3E", .truncated),
        ("01 03 0C 00", .notAnEvent),                       // a command packet, not an event
        ("04 0E 05 01 0B 20 00", .truncated),               // says 5 parameter bytes, has 4
        ("04 0E 03 01 0B 20 00", .lengthMismatch),          // a byte after the parameters
        ("04 0E 02 01 0B", .truncated),                     // Command Complete shorter than 3
        ("04 0F 03 00 01 0B", .truncated),                  // Command Status shorter than 4
        ("04 0F 05 00 01 0B 20 00", .lengthMismatch),
        ("04 3E 00", .truncated),                           // LE Meta without subevent
        ("04 3E 01 02", .truncated),                        // no Num_Reports
        ("04 3E 02 02 00", .invalidReport),                 // Num_Reports 0
        ("04 3E 02 02 1A", .invalidReport),                 // Num_Reports 26 > 25
        ("04 3E 0C 02 02 00 00 01 02 03 04 05 06 00 C0", .truncated),  // 2 reports, bytes for 1
        ("04 3E 0C 02 01 05 00 01 02 03 04 05 06 00 C0", .invalidReport),  // reserved event type 5
        ("04 3E 0C 02 01 00 00 01 02 03 04 05 06 20 C0", .invalidReport),  // data length 32 > 31
        ("04 3E 0C 02 01 00 00 01 02 03 04 05 06 05 C0", .truncated),  // data length past the end
        ("04 3E 0D 02 01 00 00 01 02 03 04 05 06 00 C0 00", .lengthMismatch),  // trailing byte
        ("04 3E 15 0D 01 13 00 00 01 02 03 04 05 06 01 00 FF 7F C0 00 00 00 00 00", .truncated),
    ])
    func malformedPacketsAreRejectedWithTheirCode(hex: String, code: HCIParseError.Code) {
        #expect {
            try HCIEvent(packet: bytes(hex))
        } throws: { error in
            (error as? HCIParseError)?.code == code
        }
    }

    @Test func everyPrefixOfEveryFixturePacketIsRejectedNotMisread() throws {
        for name in ["ibeacon.hcitrace", "eddystone.hcitrace", "phones.hcitrace", "multi-report.hcitrace",
                     "commands.hcitrace"] {
            for entry in try fixture(name).entries {
                #expect(throws: Never.self) { try HCIEvent(packet: entry.packet) }
                for length in 0..<entry.packet.count {
                    #expect(throws: HCIParseError.self, "\(name) line \(entry.line), \(length) bytes") {
                        try HCIEvent(packet: Array(entry.packet.prefix(length)))
                    }
                }
            }
        }
    }

    @Test func errorsSayWhatAndWhere() {
        #expect {
            try HCIEvent(packet: bytes("04 3E 0D 02 05 00 00 01 02 03 04 05 06 00 C0 00"))
        } throws: { error in
            guard let error = error as? HCIParseError else { return false }
            return error.offset == 4 && error.description.contains("says 5 reports")
        }
    }
}
