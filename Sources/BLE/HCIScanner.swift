#if canImport(Glibc)
import Glibc
#endif
import Hardware
import Reactor

/// A passive BLE scanner on a local controller through BlueZ's raw HCI socket.
///
/// `HCIScanner(configuration:reactor:)` (module BLEBlueZ) opens the adapter through libbluetooth;
/// `init(device:configuration:reactor:)` takes any `HCIDevice`, which is how the tests drive it.
/// Bound to one reactor: create it, call it and drop it on that reactor's thread. The socket is read
/// when the reactor says it is readable; commands are written without waiting, and their completions
/// arrive with the advertising reports and drive `ScanSession`. Errors the kernel gives at once (no
/// adapter, adapter down, missing capabilities) are thrown by `init` or `startScan`; errors the
/// controller gives later (Command Disallowed, no answer) go to `onFailure`. docs/ble.md has the rest.
public final class HCIScanner: BLEScanner {
    public struct Configuration: Sendable {
        /// `hciN`, as in the board profile's `ble.adapter`.
        public var adapter: String
        public var parameters: ScanParameters
        public var commandTimeoutMilliseconds: Int
        /// Nil delivers every report with its raw RSSI.
        public var filter: ReportFilter.Configuration?
        /// Where the adapters that exist are listed for the "no adapter" error.
        public var sysfsDirectory: String

        public init(adapter: String = "hci0", parameters: ScanParameters = .standard,
                    commandTimeoutMilliseconds: Int = 2_000,
                    filter: ReportFilter.Configuration? = ReportFilter.Configuration(),
                    sysfsDirectory: String = "/sys/class/bluetooth") {
            self.adapter = adapter
            self.parameters = parameters
            self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
            self.filter = filter
            self.sysfsDirectory = sysfsDirectory
        }
    }

    public let configuration: Configuration
    public let device: HCIDevice
    /// Events from the controller that did not parse; they are skipped.
    public private(set) var malformedEvents = 0
    public var isScanning: Bool { session.isScanning }
    /// True once the controller refused the legacy scan commands and the extended ones are used.
    public var usesExtendedCommands: Bool { session.usesExtendedCommands }

    private let reactor: Reactor
    private var savedFilter: HCISocketFilter?
    private var session: ScanSession
    private var decoder: AdvertisementDecoder
    private var watch: Reactor.WatchID?
    private var timer: Reactor.TimerID?
    private var onReport: ((Advertisement) -> Void)?
    private var onFailure: ((HardwareError) -> Void)?
    private var buffer = [UInt8](repeating: 0, count: 1024)

    /// Scans on an opened device; `configuration.adapter` is ignored in favour of the device's.
    public init(device: HCIDevice, configuration: Configuration = Configuration(), reactor: Reactor) {
        self.device = device
        self.configuration = configuration
        self.reactor = reactor
        session = ScanSession(adapter: device.adapter, parameters: configuration.parameters,
                              commandTimeoutMilliseconds: configuration.commandTimeoutMilliseconds)
        decoder = AdvertisementDecoder(filter: configuration.filter)
    }

    deinit {
        if !session.isIdle {
            // Best effort: the loop cannot wait for the completion any more.
            try? device.send(.setScanEnable(false, filterDuplicates: false))
        }
        if let watch { reactor.unwatch(watch) }
        if let timer { reactor.cancel(timer) }
        restoreFilter()
    }

    // MARK: BLEScanner

    public func startScan(_ onReport: @escaping (Advertisement) -> Void) throws(HardwareError) {
        try startScan(onReport, onFailure: { _ in })
    }

    public func startScan(_ onReport: @escaping (Advertisement) -> Void,
                          onFailure: @escaping (HardwareError) -> Void) throws(HardwareError) {
        assert(reactor.isOnLoop, "HCIScanner must be used on its reactor's thread")
        guard self.onReport == nil else { throw .scanInProgress(device.adapter) }
        guard try device.isUp() else { throw .adapterPoweredOff(device.adapter) }
        if savedFilter == nil {
            // Saved before it is changed, and given back once the scan has wound down.
            let old = try device.filter()
            try device.setFilter(.scan)
            savedFilter = old
        }
        if watch == nil {
            watch = reactor.watch(fd: device.fileDescriptor, for: .readable) { [weak self] _ in self?.readEvents() }
        }
        // A first report forgets the last scan's dedupe state: each scan window starts fresh.
        decoder.filter?.reset()
        self.onReport = onReport
        self.onFailure = onFailure
        do {
            try apply(session.start(now: Reactor.now()))
        } catch {
            self.onReport = nil
            self.onFailure = nil
            abandonSession()
            throw error
        }
    }

    public func stopScan() {
        onReport = nil
        onFailure = nil
        do { try apply(session.stop(now: Reactor.now())) } catch { abandonSession() }
        finishIfIdle()
    }

    // MARK: Socket

    private func restoreFilter() {
        guard let old = savedFilter else { return }
        try? device.setFilter(old)
        savedFilter = nil
    }

    private func readEvents() {
        while watch != nil {
            let count = buffer.withUnsafeMutableBytes { read(device.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                handle(packet: Array(buffer[0..<count]))
                continue
            }
            let code = count == 0 ? ENODEV : errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return }
            // The adapter went away (the kernel fails the socket with EPIPE when it is unregistered)
            // or down under the scan.
            switch code {
            case ENODEV, EPIPE:
                fail(.adapterNotFound(device.adapter,
                                      available: Self.availableAdapters(sysfsDirectory: configuration.sysfsDirectory)))
            case ENETDOWN:
                fail(.adapterPoweredOff(device.adapter))
            default:
                fail(Self.socketError(device.adapter, operation: "reading from the HCI socket", errno: code))
            }
            return
        }
    }

    private func handle(packet: [UInt8]) {
        let now = Reactor.now()
        let event: HCIEvent
        do {
            // A report callback may stop the scan: later reports of the same event then go nowhere.
            event = try decoder.decode(packet: packet, now: now) { [weak self] advertisement in
                self?.onReport?(advertisement)
            }
        } catch {
            malformedEvents += 1
            return
        }
        if case .advertisingReports = event { return }
        do { try apply(session.handle(event, now: now)) } catch { fail(error) }
    }

    // MARK: Session actions

    private func apply(_ actions: [ScanSession.Action]) throws(HardwareError) {
        for action in actions {
            switch action {
            case .send(let command):
                try device.send(command)
            case .scanning:
                break
            case .failed(let error):
                let failure = onFailure
                onReport = nil
                onFailure = nil
                failure?(error)
            case .stopped:
                finishIfIdle()
            }
        }
        rearmTimer()
    }

    /// A write that failed, or a socket that broke: the session is abandoned and the owner told.
    private func fail(_ error: HardwareError) {
        let failure = onFailure
        onReport = nil
        onFailure = nil
        abandonSession()
        failure?(error)
    }

    /// A command that could not be written will never complete: start over from idle, so the next
    /// `startScan` sends the whole sequence again instead of waiting for it.
    private func abandonSession() {
        session = ScanSession(adapter: device.adapter, parameters: configuration.parameters,
                              commandTimeoutMilliseconds: configuration.commandTimeoutMilliseconds,
                              usesExtendedCommands: session.usesExtendedCommands)
        finishIfIdle()
    }

    private func rearmTimer() {
        if let timer { reactor.cancel(timer) }
        timer = nil
        guard let deadline = session.deadline else { return }
        timer = reactor.schedule(afterMilliseconds: deadline - Reactor.now()) { [weak self] in
            guard let self else { return }
            self.timer = nil
            do throws(HardwareError) { try self.apply(self.session.tick(now: Reactor.now())) } catch { self.fail(error) }
        }
    }

    /// Once nothing is outstanding: stop reading and give the socket its old filter back.
    private func finishIfIdle() {
        guard session.isIdle else { return }
        if let watch { reactor.unwatch(watch) }
        watch = nil
        if let timer { reactor.cancel(timer) }
        timer = nil
        restoreFilter()
    }
}

// MARK: Errors (pure, so they are tested without a controller)

extension HCIScanner {
    /// The error for a failed hci_devid / hci_open_dev.
    public static func openError(_ adapter: String, errno code: Int32, available: [String]) -> HardwareError {
        switch code {
        case EAFNOSUPPORT: .bluetoothUnsupported(adapter)
        case ENETDOWN: .adapterPoweredOff(adapter)
        case EPERM, EACCES: .missingCapabilities(adapter, operation: "opening the raw HCI socket", errno: code)
        case ENODEV, ENXIO, EINVAL, 0: .adapterNotFound(adapter, available: available)
        default: .io(errno: code, operation: "opening Bluetooth adapter \(adapter)")
        }
    }

    /// The error for a failed socket operation (filter, command write, read).
    public static func socketError(_ adapter: String, operation: String, errno code: Int32) -> HardwareError {
        switch code {
        case EPERM, EACCES: .missingCapabilities(adapter, operation: operation, errno: code)
        case ENETDOWN: .adapterPoweredOff(adapter)
        case ENODEV: .adapterNotFound(adapter, available: [])
        default: .io(errno: code, operation: "\(operation) on \(adapter)")
        }
    }

    /// The adapters the kernel knows: the `hciN` entries of /sys/class/bluetooth, sorted by number.
    public static func availableAdapters(sysfsDirectory: String = "/sys/class/bluetooth") -> [String] {
        guard let directory = opendir(sysfsDirectory) else { return [] }
        defer { closedir(directory) }
        var found: [(Int, String)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            // Connections show up as hci0:11; only the adapters themselves count.
            guard name.hasPrefix("hci"), let number = Int(name.dropFirst(3)), number >= 0 else { continue }
            found.append((number, name))
        }
        return found.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
