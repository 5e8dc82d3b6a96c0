#if canImport(Glibc)
import Glibc
#endif
import CBlueZ
import Hardware
import Reactor

/// A passive BLE scanner on a local controller through BlueZ's raw HCI socket (libbluetooth).
///
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
    /// Events from the controller that did not parse; they are skipped.
    public private(set) var malformedEvents = 0
    public var isScanning: Bool { session.isScanning }

    private let reactor: Reactor
    private let deviceID: Int32
    private var fd: Int32
    private var savedFilter: hci_filter?
    private var session: ScanSession
    private var decoder: AdvertisementDecoder
    private var watch: Reactor.WatchID?
    private var timer: Reactor.TimerID?
    private var onReport: ((Advertisement) -> Void)?
    private var onFailure: ((HardwareError) -> Void)?
    private var buffer = [UInt8](repeating: 0, count: 1024)

    /// Opens the adapter. Throws when it does not exist, is down, or the socket is refused.
    public init(configuration: Configuration = Configuration(), reactor: Reactor) throws(HardwareError) {
        self.configuration = configuration
        self.reactor = reactor
        let adapter = configuration.adapter
        let id = hci_devid(adapter)
        if id < 0 {
            throw Self.openError(adapter, errno: errno,
                                 available: Self.availableAdapters(sysfsDirectory: configuration.sysfsDirectory))
        }
        let socket = hci_open_dev(id)
        if socket < 0 {
            throw Self.openError(adapter, errno: errno,
                                 available: Self.availableAdapters(sysfsDirectory: configuration.sysfsDirectory))
        }
        _ = fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK)
        deviceID = id
        fd = socket
        session = ScanSession(adapter: adapter, parameters: configuration.parameters,
                              commandTimeoutMilliseconds: configuration.commandTimeoutMilliseconds)
        decoder = AdvertisementDecoder(filter: configuration.filter)
    }

    deinit {
        if !session.isIdle {
            // Best effort: the loop cannot wait for the completion any more.
            let disable = HCICommand.setScanEnable(false, filterDuplicates: false)
            _ = try? send(disable)
        }
        if let watch { reactor.unwatch(watch) }
        if let timer { reactor.cancel(timer) }
        restoreFilter()
        hci_close_dev(fd)
    }

    // MARK: BLEScanner

    public func startScan(_ onReport: @escaping (Advertisement) -> Void) throws(HardwareError) {
        try startScan(onReport, onFailure: { _ in })
    }

    public func startScan(_ onReport: @escaping (Advertisement) -> Void,
                          onFailure: @escaping (HardwareError) -> Void) throws(HardwareError) {
        assert(reactor.isOnLoop, "HCIScanner must be used on its reactor's thread")
        guard self.onReport == nil else { throw .scanInProgress(configuration.adapter) }
        try checkUp()
        if savedFilter == nil { try installFilter() }
        if watch == nil {
            watch = reactor.watch(fd: fd, for: .readable) { [weak self] _ in self?.readEvents() }
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
            _ = session.stop(now: Reactor.now())
            finishIfIdle()
            throw error
        }
    }

    public func stopScan() {
        onReport = nil
        onFailure = nil
        try? apply(session.stop(now: Reactor.now()))
        finishIfIdle()
    }

    // MARK: Socket

    private func checkUp() throws(HardwareError) {
        var info = hci_dev_info()
        if hci_devinfo(Int32(deviceID), &info) < 0 {
            let code = errno
            throw code == ENODEV
                ? .adapterNotFound(configuration.adapter,
                                   available: Self.availableAdapters(sysfsDirectory: configuration.sysfsDirectory))
                : .io(errno: code, operation: "reading the state of \(configuration.adapter)")
        }
        guard info.flags & (1 << UInt32(HCI_UP)) != 0 else { throw .adapterPoweredOff(configuration.adapter) }
    }

    /// Saves the socket's filter and lets through only what the scan reads: LE Meta events, and
    /// Command Complete / Command Status for the scan's own commands.
    private func installFilter() throws(HardwareError) {
        var old = hci_filter()
        var length = socklen_t(MemoryLayout<hci_filter>.size)
        guard getsockopt(fd, Int32(SOL_HCI), Int32(HCI_FILTER), &old, &length) == 0 else {
            throw socketError("reading the HCI socket filter", errno)
        }
        var filter = hci_filter()
        hci_filter_clear(&filter)
        hci_filter_set_ptype(Int32(HCI_EVENT_PKT), &filter)
        hci_filter_set_event(Int32(EVT_LE_META_EVENT), &filter)
        hci_filter_set_event(Int32(EVT_CMD_COMPLETE), &filter)
        hci_filter_set_event(Int32(EVT_CMD_STATUS), &filter)
        guard setsockopt(fd, Int32(SOL_HCI), Int32(HCI_FILTER), &filter, socklen_t(MemoryLayout<hci_filter>.size)) == 0 else {
            throw socketError("setting the HCI socket filter", errno)
        }
        savedFilter = old
    }

    private func restoreFilter() {
        guard var old = savedFilter else { return }
        _ = setsockopt(fd, Int32(SOL_HCI), Int32(HCI_FILTER), &old, socklen_t(MemoryLayout<hci_filter>.size))
        savedFilter = nil
    }

    private func send(_ command: HCICommand) throws(HardwareError) {
        var parameters = command.parameters
        let result = parameters.withUnsafeMutableBytes { raw in
            hci_send_cmd(fd, UInt16(command.ogf), command.ocf, UInt8(raw.count), raw.baseAddress)
        }
        if result < 0 { throw socketError("sending \(command.name)", errno) }
    }

    private func socketError(_ operation: String, _ code: Int32) -> HardwareError {
        Self.socketError(configuration.adapter, operation: operation, errno: code)
    }

    private func readEvents() {
        while watch != nil {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                handle(packet: Array(buffer[0..<count]))
                continue
            }
            let code = count == 0 ? ENODEV : errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return }
            // The adapter went away or down under the scan.
            fail(code == ENODEV || code == ENETDOWN ? .adapterPoweredOff(configuration.adapter)
                                                    : socketError("reading from the HCI socket", code))
            return
        }
    }

    private func handle(packet: [UInt8]) {
        let now = Reactor.now()
        let event: HCIEvent
        do {
            event = try decoder.decode(packet: packet, now: now) { [onReport] advertisement in
                onReport?(advertisement)
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
                try send(command)
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
        session = ScanSession(adapter: configuration.adapter, parameters: configuration.parameters,
                              commandTimeoutMilliseconds: configuration.commandTimeoutMilliseconds)
        finishIfIdle()
        failure?(error)
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
