import Foundation
import Gateway
import SiteSimulation
import Testing

/// One LE Advertising Report event (Core Specification Vol 4 Part E 7.7.65.2) from `address` with an
/// iBeacon payload, as a controller would send it to the raw HCI socket, in the hex `hci event` takes.
private func iBeaconEvent(address: String, rssi: Int8) -> String {
    let addressBytes = address.split(separator: ":").reversed().map { UInt8($0, radix: 16)! }
    let data: [UInt8] = [0x02, 0x01, 0x06, 0x1A, 0xFF, 0x4C, 0x00, 0x02, 0x15]
        + [0xE2, 0xC5, 0x6D, 0xB5, 0xDF, 0xFB, 0x48, 0xD2, 0xB0, 0x60, 0xD0, 0xF5, 0xA7, 0x10, 0x96, 0xE0]
        + [0x00, 0x01, 0x00, 0x02, 0xC5]
    let report: [UInt8] = [0x03, 0x00] + addressBytes + [UInt8(data.count)] + data + [UInt8(bitPattern: rssi)]
    let parameters: [UInt8] = [0x02, 0x01] + report
    return ([0x04, 0x3E, UInt8(parameters.count)] + parameters).map { String(format: "%02X", $0) }.joined(separator: " ")
}

/// The real agent binary receives HCI event bytes through its simulated board's control socket; they
/// go through the HCI and AD parsers into the scanner role, and the visit is authenticated.
@Suite(.serialized, .timeLimit(.minutes(2))) struct HCIReplayTests {
    @Test(arguments: AgentBinary.all)
    func aBadgeSeenAsHCIBytesAuthenticatesTheVisitor(agent: AgentBinary) throws {
        let site = try makeSite("hci", agent: agent, scanWindow: 2_000)
        defer { site.stopAll() }
        try site.start()
        let visit = try site.nextVisitID()
        let entrance = site.board("entrance-1")
        let event = iBeaconEvent(address: SimulatedSite.visitors[0].address, rssi: -61)

        #expect(try entrance.send("hci event " + event) == "ok reports=1 delivered=0")  // no scan yet
        _ = try entrance.send("pir pulse 200")
        try site.waitFor("the entrance scan", timeout: 10) { try entrance.send("scans").contains("active=1") }
        #expect(try entrance.send("hci event " + event) == "ok reports=1 delivered=1")

        let outcome = try site.waitForStatus(visit: visit, ["GUIDED", "NOT AUTHENTICATED", "NOT SCANNED", "NOT GUIDED"])
        #expect(outcome == "GUIDED")
        #expect(try site.statuses(ofVisit: visit).prefix(4) == ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED"])

        // What left the Pi: the tag's keyed hash with the RSSI from the bytes, never the address.
        let store = try SiteStore(path: site.databasePath, readOnly: true)
        let scans = try store.deviceEvents(device: "entrance-1", kind: "scan")
        let body = try #require(scans.last?.body)
        #expect(body.contains("\"rssi\":-61"), "scan event: \(body)")
        #expect(!body.uppercased().contains(SimulatedSite.visitors[0].address.uppercased()))
        #expect(try entrance.send("hci stats") == "events=2 reports=2 delivered=1 malformed=0 replaying=0")
    }
}
