import BLE
import Hardware
import Reactor

/// The simulated PIR line. The control socket drives its level; edges go to the registered callback.
public final class SimulatedInputLine: InputLine {
    public let name: String
    public private(set) var level = false
    private var onEdge: ((LineEdge) -> Void)?

    init(name: String) { self.name = name }

    public func read() throws(HardwareError) -> Bool { level }

    public func startEdgeEvents(_ onEdge: @escaping (LineEdge) -> Void) throws(HardwareError) {
        guard self.onEdge == nil else {
            throw .simulator("edge events on \(name) are already started; call stopEdgeEvents() first")
        }
        self.onEdge = onEdge
    }

    public func stopEdgeEvents() { onEdge = nil }

    /// Sets the level; a change is delivered as an edge stamped `time`.
    func drive(_ high: Bool, at time: Int64) {
        guard high != level else { return }
        level = high
        onEdge?(LineEdge(rising: high, timestamp: time))
    }
}

/// One simulated LED. Changes are reported to the board, which keeps the history.
public final class SimulatedOutputLine: OutputLine {
    public let name: String
    public private(set) var level = false
    private let onChange: (SimulatedOutputLine) -> Void

    init(name: String, onChange: @escaping (SimulatedOutputLine) -> Void) {
        self.name = name
        self.onChange = onChange
    }

    public func set(_ on: Bool) throws(HardwareError) {
        guard on != level else { return }
        level = on
        onChange(self)
    }
}

/// A BLE tag that the simulated scanner can see.
public struct SimulatedBeacon: Sendable, Equatable {
    public var address: String
    public var rssi: Int
    public var name: String?

    public init(address: String, rssi: Int, name: String? = nil) {
        self.address = address
        self.rssi = rssi
        self.name = name
    }
}

/// The simulated scanner: while a scan runs it reports every beacon in range every 100 ms.
public final class SimulatedScanner: BLEScanner {
    public static let reportIntervalMs: Int64 = 100

    public let adapter: String
    public private(set) var beacons: [SimulatedBeacon] = []
    public private(set) var scansStarted = 0
    public var isScanning: Bool { onReport != nil }
    var reactor: Reactor?
    private var onReport: ((Advertisement) -> Void)?
    private var timer: Reactor.TimerID?

    init(adapter: String) { self.adapter = adapter }

    public func startScan(_ onReport: @escaping (Advertisement) -> Void) throws(HardwareError) {
        guard let reactor else { throw .adapterDown(adapter) }
        guard self.onReport == nil else { throw .scanInProgress(adapter) }
        scansStarted += 1
        decoder.filter?.reset()  // each scan starts with fresh dedupe state, as HCIScanner's does
        self.onReport = onReport
        // The first round comes on the next loop turn, never inside startScan itself.
        timer = reactor.schedule(afterMilliseconds: 0) { [weak self] in self?.reportRound() }
    }

    public func stopScan() {
        onReport = nil
        if let timer { reactor?.cancel(timer) }
        timer = nil
    }

    /// Counters of the HCI path (`hci event`, `hci replay`), as `hci stats` shows them.
    public struct HCIStatistics: Sendable, Equatable {
        public var events = 0
        public var reports = 0
        public var delivered = 0
        public var malformed = 0
    }

    public private(set) var hciStatistics = HCIStatistics()
    /// The same decoder (HCI parser, AD parser, dedupe and smoothing) as `HCIScanner` uses.
    private var decoder = AdvertisementDecoder()

    /// Runs one HCI event packet through the real parsers; its advertisements go to the running scan.
    /// With no scan running they are counted and dropped, as a controller that is not scanning would.
    @discardableResult
    func inject(packet: [UInt8], now: Int64) throws(HCIParseError) -> (reports: Int, delivered: Int) {
        hciStatistics.events += 1
        let event: HCIEvent
        do {
            event = try HCIEvent(packet: packet)
        } catch {
            hciStatistics.malformed += 1
            throw error
        }
        guard case .advertisingReports(let reports) = event else { return (0, 0) }
        hciStatistics.reports += reports.count
        var delivered = 0
        for report in reports {
            guard let onReport else { break }  // a report callback may have stopped the scan
            if let advertisement = decoder.advertisement(from: report, now: now) {
                delivered += 1
                onReport(advertisement)
            }
        }
        hciStatistics.delivered += delivered
        return (reports.count, delivered)
    }

    /// Adds a beacon, or updates the one with the same address.
    func put(_ beacon: SimulatedBeacon) {
        if let index = beacons.firstIndex(where: { $0.address == beacon.address }) {
            beacons[index] = beacon
        } else {
            beacons.append(beacon)
        }
    }

    func remove(address: String) -> Bool {
        guard let index = beacons.firstIndex(where: { $0.address == address }) else { return false }
        beacons.remove(at: index)
        return true
    }

    private func reportRound() {
        timer = nil
        let now = Reactor.now()
        for beacon in beacons {
            // A report callback may stop (and restart) the scan; a stopped scan reports no more.
            guard let onReport else { return }
            onReport(Advertisement(address: beacon.address, rssi: beacon.rssi, name: beacon.name, timestamp: now))
        }
        if isScanning && timer == nil, let reactor {
            timer = reactor.schedule(afterMilliseconds: Self.reportIntervalMs) { [weak self] in self?.reportRound() }
        }
    }
}

/// The simulated room display: it remembers what it shows.
public final class SimulatedDisplay: ContentDisplay {
    /// The presented title, or nil while hidden.
    public private(set) var title: String?
    /// The content of the last `present`, kept after `hide`.
    public private(set) var lastContent: [UInt8] = []
    public private(set) var presentCount = 0

    init() {}

    public func present(title: String, content: [UInt8]) throws(HardwareError) {
        self.title = title
        lastContent = content
        presentCount += 1
    }

    public func hide() throws(HardwareError) { title = nil }
}
