#if canImport(Glibc)
import Glibc
#endif
import BLE
import Hardware
import Reactor
import SimulatedBoard
import Synchronization
import Testing

/// A simulated board on a reactor thread of its own, driven through its control socket.
private final class Board: Sendable {
    let reactor: Reactor
    let board: SimulatedBoard
    let client: SimulatorClient

    init() throws {
        let profile = try BoardProfile.load(name: "sim", searchPaths: [boardsDirectory])
        let path = uniqueTemporaryPath(".sock")
        reactor = Reactor.startThread()
        board = SimulatedBoard(profile: profile, socketPath: path)
        client = SimulatorClient(socketPath: path, timeoutMilliseconds: 3_000)
        let board = board, reactor = reactor
        try onLoop { () throws(HardwareError) in try board.start(on: reactor) }
    }

    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws(HardwareError) -> T) throws(HardwareError) -> T {
        let result = Mutex<Result<T, HardwareError>?>(nil)
        reactor.execute {
            let outcome: Result<T, HardwareError>
            do throws(HardwareError) { outcome = .success(try body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
        }
        var done: Result<T, HardwareError>?
        eventually { done = result.withLock { $0 }; return done != nil }
        guard let done else { preconditionFailure("the reactor did not run the work within 3 s") }
        return try done.get()
    }

    func startScan(into reports: Recorder<Advertisement>) throws {
        let board = board
        try onLoop { () throws(HardwareError) in try board.scanner.startScan { reports.append($0) } }
    }

    func shutDown() {
        let board = board
        try? onLoop { board.stop() }
        reactor.stop()
    }
}

@Suite(.serialized) struct SimulatedHCITests {
    @Test func hciEventGoesThroughTheParsersToTheScan() throws {
        let sim = try Board()
        defer { sim.shutDown() }
        let reports = Recorder<Advertisement>()
        let ibeacon = try fixture("ibeacon.hcitrace").entries[0].packet
        let hex = ibeacon.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined(separator: " ")

        // No scan yet: parsed and counted, not delivered.
        #expect(try sim.client.send("hci event " + hex) == "ok reports=1 delivered=0")
        try sim.startScan(into: reports)
        #expect(try sim.client.send("hci event " + hex) == "ok reports=1 delivered=1")
        #expect(eventually { reports.count == 1 })
        let seen = try #require(reports.all.first)
        #expect(seen.address == "C4:7C:8D:6A:12:34" && seen.rssi == -63)
        #expect(seen.iBeacon?.proximityUUID.description == "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0")

        // The same tag again within the dedupe window: parsed, not delivered.
        #expect(try sim.client.send("hci event " + hex.uppercased()) == "ok reports=1 delivered=0")
        #expect(try sim.client.send("hci event 04 0E 04 01 0C 20 00") == "ok reports=0 delivered=0")
        #expect(try sim.client.send("hci stats") == "events=4 reports=3 delivered=1 malformed=0 replaying=0")
    }

    @Test(arguments: [
        ("hci event 04 3E 02 02 00", "error: HCI event: LE Advertising Report with Num_Reports 0; allowed 1 to 25 (at byte 4)"),
        ("hci event 04 3E 0C 02 05", "error: HCI event: event 0x3E says 12 parameter bytes, 2 present (at byte 5)"),
        ("hci event 0x04", "error: hci event takes the packet as hex digits, e.g. hci event 04 3E 0C 02 01 ..."),
        ("hci event", "error: usage: hci event HEX | hci replay FILE [SPEED] | hci replay stop | hci stats"),
        ("hci replay /nonexistent.hcitrace", "error: hci replay: line 0: /nonexistent.hcitrace: cannot read (No such file or directory)"),
        ("hci replay x 0", "error: replay speed \"0\" must be a number above 0 and at most 1000"),
        ("hci stats now", "error: usage: hci event HEX | hci replay FILE [SPEED] | hci replay stop | hci stats"),
    ])
    func badHCICommandsGiveAnErrorAndChangeNothing(command: String, response: String) throws {
        let sim = try Board()
        defer { sim.shutDown() }
        #expect(try sim.client.send(command) == response)
        let malformed = command.hasPrefix("hci event 04") ? 1 : 0
        #expect(try sim.client.send("hci stats")
            == "events=\(malformed) reports=0 delivered=\(0) malformed=\(malformed) replaying=0")
    }

    @Test func replayOfARecordedTraceReachesTheScanInOrderAndOnTime() throws {
        let sim = try Board()
        defer { sim.shutDown() }
        let reports = Recorder<Advertisement>()
        try sim.startScan(into: reports)
        let started = Reactor.now()
        #expect(try sim.client.send("hci replay \(fixturesDirectory)/eddystone.hcitrace 2")
            == "ok events=4 duration_ms=500")
        #expect(eventually { reports.count == 3 })
        #expect(eventually { (try? sim.client.send("hci stats")) == "events=4 reports=4 delivered=3 malformed=0 replaying=0" })
        let seen = reports.all
        #expect(seen.map(\.eddystone).compactMap { $0 }.count == 3)
        if case .url(let url, _)? = seen.count == 3 ? seen[1].eddystone : nil {
            #expect(url == "https://goo.gl/S6zT6P")
        } else {
            Issue.record("expected the URL frame second, got \(seen)")
        }
        // TLM is at 666 ms in the trace: 333 ms at speed 2.
        if seen.count == 3 { #expect(seen[2].timestamp - started >= 333) }
    }

    @Test func phonesTraceThroughTheBoardIsDedupedAsDocumented() throws {
        // docs/cli.md shows this exchange: 30 reports, 4 passed on by the scanner's default filter
        // (the iPhone's first report and its move away; the Android phone's advertisement and scan
        // response, once each in the second).
        let sim = try Board()
        defer { sim.shutDown() }
        let reports = Recorder<Advertisement>()
        try sim.startScan(into: reports)
        #expect(try sim.client.send("hci replay \(fixturesDirectory)/phones.hcitrace 2") == "ok events=20 duration_ms=460")
        #expect(eventually { (try? sim.client.send("hci stats"))?.hasSuffix("replaying=0") == true })
        #expect(try sim.client.send("hci stats") == "events=20 reports=30 delivered=4 malformed=0 replaying=0")
        let iphone = reports.all.filter { $0.address == "6B:1F:4A:2C:9D:E0" }
        #expect(iphone.map(\.rssi) == [-58, -67])
    }

    @Test func replaySkipsMalformedEventsAsTheScannerDoes() throws {
        let sim = try Board()
        defer { sim.shutDown() }
        let reports = Recorder<Advertisement>()
        try sim.startScan(into: reports)
        #expect(try sim.client.send("hci replay \(fixturesDirectory)/malformed.hcitrace 100").hasPrefix("ok events=9"))
        #expect(eventually { (try? sim.client.send("hci stats"))?.hasSuffix("replaying=0") == true })
        #expect(try sim.client.send("hci stats") == "events=9 reports=2 delivered=1 malformed=7 replaying=0")
        #expect(reports.all.map(\.rssi) == [-63])   // the second good report is a duplicate in the window
    }

    @Test func replayStopEndsIt() throws {
        let sim = try Board()
        defer { sim.shutDown() }
        let path = uniqueTemporaryPath(".hcitrace")
        defer { unlink(path) }
        let event = try fixture("ibeacon.hcitrace").entries[0].packet
        writeFile(path, HCITrace(entries: [.init(milliseconds: 0, packet: event),
                                           .init(milliseconds: 60_000, packet: event)]).formatted())
        #expect(try sim.client.send("hci replay \(path)") == "ok events=2 duration_ms=60000")
        #expect(eventually { (try? sim.client.send("hci stats")) == "events=1 reports=1 delivered=0 malformed=0 replaying=1" })
        #expect(try sim.client.send("hci replay stop") == "ok")
        #expect(try sim.client.send("hci stats") == "events=1 reports=1 delivered=0 malformed=0 replaying=0")
    }

    @Test func helpListsTheHCICommands() throws {
        let sim = try Board()
        defer { sim.shutDown() }
        let help = try sim.client.send("help")
        for command in ["hci event HEX", "hci replay FILE [SPEED]", "hci replay stop", "hci stats"] {
            #expect(help.contains(command))
        }
    }
}
