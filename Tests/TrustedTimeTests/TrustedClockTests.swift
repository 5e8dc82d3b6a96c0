import Foundation
import Synchronization
import Testing
import TUF
@testable import TrustedTime

/// A clock the test sets by hand: the boot clock, the wall clock and whether NTP synchronised it.
final class ManualClock: Sendable {
    struct State { var sinceBoot: Int64 = 5_000; var wall: Int64; var synchronised: Int64? }
    let state: Mutex<State>
    init(wall: Int64, synchronised: Int64? = nil) { state = Mutex(State(wall: wall, synchronised: synchronised)) }

    var sources: TimeSources {
        TimeSources(sinceBoot: { self.state.withLock { $0.sinceBoot } },
                    wallClock: { self.state.withLock { $0.wall } },
                    synchronisedTime: { self.state.withLock { $0.synchronised } })
    }
    func advance(seconds: Int64) {
        state.withLock { $0.sinceBoot += seconds * 1000; $0.wall += seconds; $0.synchronised = $0.synchronised.map { $0 + seconds } }
    }
    func synchronise(_ time: Int64?) { state.withLock { $0.synchronised = time } }
}

@Suite final class TrustedClockTests {
    /// 2026-12-06T12:00:00Z, the real time in these cases.
    static let real: Int64 = 1_796_558_400
    static let tenYears: Int64 = 10 * 365 * 86_400
    static let fortyYears: Int64 = 40 * 365 * 86_400

    /// Each test's files, removed when it ends.
    let root = NSTemporaryDirectory() + "trusted-time-\(UUID().uuidString)"
    deinit { try? FileManager.default.removeItem(atPath: root) }

    func directory() throws -> String {
        let path = root + "/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func clock(_ manual: ManualClock, _ directory: String, _ trust: SystemClockTrust = .synchronised) -> TrustedClock {
        TrustedClock(settings: TrustedTimeSettings(floorPath: directory + "/time-floor", systemClock: trust),
                     sources: manual.sources)
    }

    @Test func noGatewayAndNoNTPMeansNoTrustedTimeWithAReason() throws {
        let manual = ManualClock(wall: Self.real)
        let clock = Self.clock(manual, try directory())
        guard case .failure(let why) = clock.now() else { Issue.record("a time without NTP or gateway"); return }
        #expect(why.description.contains("not synchronised by NTP"))
        #expect(why.description.contains("the gateway has not given its time"))
        #expect(why.description.contains("updates wait"))
    }

    @Test func aClockTenYearsBehindIsNotBelievedButTheGatewaysTimeIs() throws {
        let manual = ManualClock(wall: Self.real - Self.tenYears)
        let clock = Self.clock(manual, try directory())
        #expect(throws: UntrustedTime.self) { try clock.now().get() }
        #expect(try clock.observeGateway(epochMilliseconds: Self.real * 1000).get() == Self.real)
        manual.advance(seconds: 90)
        #expect(try clock.now().get() == TrustedReading(seconds: Self.real + 90, source: .gateway))
    }

    @Test func aClockFortyYearsAheadDoesNotOverruleTheGateway() throws {
        let manual = ManualClock(wall: Self.real + Self.fortyYears)
        let clock = Self.clock(manual, try directory())
        #expect(try clock.observeGateway(epochMilliseconds: Self.real * 1000).get() == Self.real)
        #expect(try clock.now().get().seconds == Self.real)
        // The wrong clock never reached the floor: a later boot still takes the gateway's time.
        #expect(clock.floor.seconds == Self.real)
    }

    @Test func theSynchronisedClockIsBelievedAndRaisesThePersistedFloor() throws {
        let directory = try directory()
        let manual = ManualClock(wall: Self.real - Self.tenYears, synchronised: Self.real)
        let clock = Self.clock(manual, directory)
        #expect(try clock.now().get() == TrustedReading(seconds: Self.real, source: .synchronisedSystemClock))
        #expect(try String(contentsOfFile: directory + "/time-floor", encoding: .utf8) == "\(Self.real)\n")
        // After a reboot without NTP, a gateway set years back is refused against that floor.
        let rebooted = Self.clock(ManualClock(wall: Self.real - Self.tenYears), directory)
        #expect(rebooted.floor.seconds == Self.real)
        guard case .failure(let why) = rebooted.observeGateway(epochMilliseconds: (Self.real - Self.tenYears) * 1000) else {
            Issue.record("a gateway ten years behind the floor was believed"); return
        }
        #expect(why.description.contains("behind this device's time floor (2026-12-06T12:00:00Z)"))
        #expect(throws: UntrustedTime.self) { try rebooted.now().get() }
    }

    @Test func aGatewayWithinTheSkewOfTheFloorIsBelieved() throws {
        let directory = try directory()
        let clock = Self.clock(ManualClock(wall: 0, synchronised: Self.real), directory)
        _ = clock.now()
        let rebooted = Self.clock(ManualClock(wall: 0), directory)
        let behind = Self.real - TrustedTimeSettings.defaultSkewSeconds + 10
        #expect(try rebooted.observeGateway(epochMilliseconds: behind * 1000).get() == behind)
    }

    @Test func aSynchronisedClockBehindTheFloorLooksSpoofedAndTheGatewayDecides() throws {
        let directory = try directory()
        _ = Self.clock(ManualClock(wall: 0, synchronised: Self.real), directory).now()
        let manual = ManualClock(wall: Self.real - Self.tenYears, synchronised: Self.real - Self.tenYears)
        let clock = Self.clock(manual, directory)
        guard case .failure(let why) = clock.now() else { Issue.record("a spoofed NTP time was believed"); return }
        #expect(why.description.contains("its time server may be spoofed"))
        #expect(try clock.observeGateway(epochMilliseconds: (Self.real + 60) * 1000).get() == Self.real + 60)
        #expect(try clock.now().get().source == .gateway)
    }

    @Test func aGatewayFarAheadOfTheSynchronisedClockIsRefused() throws {
        let clock = Self.clock(ManualClock(wall: Self.real, synchronised: Self.real), try directory())
        guard case .failure(let why) = clock.observeGateway(epochMilliseconds: (Self.real + Self.fortyYears) * 1000) else {
            Issue.record("a gateway in 2066 was believed over NTP"); return
        }
        #expect(why.description.contains("ahead of the NTP-synchronised system clock"))
        #expect(clock.floor.seconds == TimeFloor.releaseEpoch, "a refused time does not raise the floor")
        #expect(try clock.now().get() == TrustedReading(seconds: Self.real, source: .synchronisedSystemClock))
    }

    @Test func neverIgnoresNTPAndAlwaysTakesTheWallClock() throws {
        let manual = ManualClock(wall: Self.real - Self.tenYears, synchronised: Self.real)
        let never = Self.clock(manual, try directory(), .never)
        guard case .failure(let why) = never.now() else { Issue.record("system_clock = never used NTP"); return }
        #expect(why.description.contains("system_clock = \"never\""))
        let always = Self.clock(manual, try directory(), .always)
        #expect(try always.now().get() == TrustedReading(seconds: Self.real - Self.tenYears, source: .systemClock))
    }

    @Test func theFloorStartsAtTheReleaseAndIgnoresAGarbledFile() throws {
        let directory = try directory()
        try "not a time\n".write(toFile: directory + "/time-floor", atomically: true, encoding: .utf8)
        #expect(TimeFloor(path: directory + "/time-floor").seconds == TimeFloor.releaseEpoch)
        #expect(TimeFloor(path: directory + "/missing").seconds == TimeFloor.releaseEpoch)
        // A clock at 1970 on a device that never saw a trusted time is behind the release itself.
        let clock = Self.clock(ManualClock(wall: 0), directory)
        #expect(throws: UntrustedTime.self) { try clock.observeGateway(epochMilliseconds: 0).get() }
    }

    @Test func theFloorIsWrittenOncePerHourNotOnEveryReading() throws {
        let directory = try directory()
        let manual = ManualClock(wall: 0, synchronised: Self.real)
        let clock = Self.clock(manual, directory)
        _ = clock.now()
        manual.advance(seconds: 600)
        _ = clock.now()
        #expect(clock.floor.seconds == Self.real + 600)
        #expect(try String(contentsOfFile: directory + "/time-floor", encoding: .utf8) == "\(Self.real)\n")
        manual.advance(seconds: 3000)
        _ = clock.now()
        #expect(try String(contentsOfFile: directory + "/time-floor", encoding: .utf8) == "\(Self.real + 3600)\n")
    }
}
