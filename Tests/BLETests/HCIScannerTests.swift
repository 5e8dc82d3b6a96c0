#if canImport(Glibc)
import Glibc
#endif
import BLE
import CBlueZ
import Hardware
import Reactor
import Testing

/// The hardware boundary played by the test: a socket pair stands in for the raw HCI socket, and the
/// test writes what a controller would answer. Everything above it (the reactor watch, the reads, the
/// command sequencing, the filter save and restore, the parsers) is the real code.
private final class FakeController: HCIDevice {
    let adapter = "hci7"
    let fileDescriptor: Int32
    private let controllerSide: Int32
    private var controllerClosed = false
    var up = true
    var currentFilter = HCISocketFilter(typeMask: 0x10, eventMask: 0x8000_0000_0000_0001)
    var filterWrites = 0
    var sent: [HCICommand] = []
    var refusal: Int32?

    init() {
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        fileDescriptor = fds[0]
        controllerSide = fds[1]
    }

    deinit {
        close(fileDescriptor)
        if !controllerClosed { close(controllerSide) }
    }

    func isUp() throws(HardwareError) -> Bool { up }
    func filter() throws(HardwareError) -> HCISocketFilter { currentFilter }
    func setFilter(_ filter: HCISocketFilter) throws(HardwareError) {
        currentFilter = filter
        filterWrites += 1
    }

    func send(_ command: HCICommand) throws(HardwareError) {
        if let refusal { throw HCIScanner.socketError(adapter, operation: "sending \(command.name)", errno: refusal) }
        sent.append(command)
    }

    /// One packet from the controller to the scanner.
    func deliver(_ packet: [UInt8]) {
        let written = packet.withUnsafeBytes { Glibc.send(controllerSide, $0.baseAddress, $0.count, 0) }
        precondition(written == packet.count)
    }

    func complete(_ command: HCICommand, status: UInt8 = 0) {
        deliver([0x04, 0x0E, 0x04, 0x01, UInt8(command.opcode & 0xFF), UInt8(command.opcode >> 8), status])
    }

    func unplug() {
        close(controllerSide)
        controllerClosed = true
    }
}

private let disable = HCICommand.setScanEnable(false, filterDuplicates: false)
private let enable = HCICommand.setScanEnable(true, filterDuplicates: false)
private let parameters = HCICommand.setScanParameters(.standard)
private let extendedDisable = HCICommand.setExtendedScanEnable(false, filterDuplicates: false)
private let extendedEnable = HCICommand.setExtendedScanEnable(true, filterDuplicates: false)
private let extendedParameters = HCICommand.setExtendedScanParameters(.standard)

/// A scanner on a reactor that this thread runs by hand.
private struct Rig {
    let reactor = Reactor()
    let controller = FakeController()
    let scanner: HCIScanner

    init(timeout: Int = 2_000) {
        scanner = HCIScanner(device: controller, configuration: .init(commandTimeoutMilliseconds: timeout),
                             reactor: reactor)
    }

    /// Runs the loop until nothing is ready for 20 ms.
    func settle() {
        for _ in 0..<5 { reactor.runOnce(maxWaitMilliseconds: 20) }
    }
}

@Suite struct HCIScannerTests {
    @Test func aScanStartsReportsAndStopsLikeTheSpecificationSays() throws {
        let rig = Rig()
        let seen = Box<[Advertisement]>([])
        let original = rig.controller.currentFilter
        try rig.scanner.startScan { seen.value.append($0) }
        #expect(rig.controller.sent == [disable])
        #expect(rig.controller.currentFilter == .scan)

        rig.controller.complete(disable)
        rig.settle()
        #expect(rig.controller.sent == [disable, parameters])
        rig.controller.complete(parameters)
        rig.settle()
        #expect(rig.controller.sent == [disable, parameters, enable])
        #expect(!rig.scanner.isScanning)
        rig.controller.complete(enable)
        rig.settle()
        #expect(rig.scanner.isScanning)

        let beacon = try fixture("ibeacon.hcitrace").entries.map(\.packet)
        rig.controller.deliver(beacon[0])
        rig.controller.deliver([0x04, 0x3E, 0x02, 0x02, 0x00])   // Num_Reports 0: skipped, counted
        rig.controller.deliver(beacon[1])                        // a duplicate within the window
        rig.settle()
        #expect(seen.value.map(\.address) == ["C4:7C:8D:6A:12:34"])
        #expect(seen.value.first?.iBeacon?.major == 1)
        #expect(rig.scanner.malformedEvents == 1 && rig.scanner.isScanning)

        rig.scanner.stopScan()
        #expect(rig.controller.sent.last == disable)
        #expect(rig.controller.currentFilter == .scan)           // kept until the disable completes
        rig.controller.deliver(beacon[2])
        rig.controller.complete(disable)
        rig.settle()
        #expect(rig.controller.currentFilter == original)
        #expect(seen.value.count == 1)                            // nothing after stopScan
    }

    @Test func aControllerInExtendedModeIsScannedWithTheExtendedCommands() throws {
        let rig = Rig()
        let seen = Box<[Advertisement]>([])
        try rig.scanner.startScan { seen.value.append($0) }
        rig.controller.complete(disable, status: 0x0C)
        rig.settle()
        rig.controller.complete(parameters, status: 0x0C)
        rig.settle()
        #expect(rig.controller.sent.last == extendedDisable)
        for command in [extendedDisable, extendedParameters, extendedEnable] {
            rig.controller.complete(command)
            rig.settle()
        }
        #expect(rig.controller.sent.suffix(3) == [extendedDisable, extendedParameters, extendedEnable])
        #expect(rig.scanner.isScanning && rig.scanner.usesExtendedCommands)

        // Such a controller sends LE Extended Advertising Reports.
        rig.controller.deliver(try fixture("multi-report.hcitrace").entries[1].packet)
        rig.settle()
        #expect(seen.value.map(\.name) == ["Alice", "Ext"])

        rig.scanner.stopScan()
        #expect(rig.controller.sent.last == extendedDisable)
        rig.controller.complete(extendedDisable)
        rig.settle()
        try rig.scanner.startScan { _ in }
        #expect(rig.controller.sent.last == extendedDisable)   // straight to the extended commands
    }

    @Test func commandDisallowedForBothEndsTheScanThroughOnFailureAndRestoresTheFilter() throws {
        let rig = Rig()
        let failures = Box<[HardwareError]>([])
        let original = rig.controller.currentFilter
        try rig.scanner.startScan({ _ in }, onFailure: { failures.value.append($0) })
        rig.controller.complete(disable)
        rig.settle()
        rig.controller.complete(parameters, status: 0x0C)
        rig.settle()
        rig.controller.complete(extendedDisable)
        rig.settle()
        rig.controller.complete(extendedParameters, status: 0x0C)
        rig.settle()
        #expect(failures.value.map(\.code) == [.commandDisallowed])
        #expect(failures.value.first?.description.contains("hciconfig hci7 reset") == true)
        #expect(!rig.scanner.isScanning && rig.controller.currentFilter == original)

        // The next scan starts from the beginning (with the extended commands, which it now knows of).
        try rig.scanner.startScan { _ in }
        #expect(rig.controller.sent.last == extendedDisable)
        #expect(rig.controller.sent.count == 5)
    }

    @Test func aControllerThatNeverAnswersTimesOut() throws {
        let rig = Rig(timeout: 30)
        let failures = Box<[HardwareError]>([])
        try rig.scanner.startScan({ _ in }, onFailure: { failures.value.append($0) })
        for _ in 0..<50 where failures.value.isEmpty { rig.reactor.runOnce(maxWaitMilliseconds: 10) }
        #expect(failures.value.map(\.code) == [.timeout])
        #expect(failures.value.first?.description.contains("did not answer LE Set Scan Enable (off) within 30 ms") == true)
        #expect(rig.controller.currentFilter != .scan)
    }

    @Test func aRefusedWriteIsThrownAndTheNextStartBeginsAgain() throws {
        let rig = Rig()
        rig.controller.refusal = EPERM
        #expect {
            try rig.scanner.startScan { _ in }
        } throws: { error in
            (error as? HardwareError)?.code == .permissionDenied
        }
        #expect(rig.controller.currentFilter != .scan)
        rig.controller.refusal = nil
        try rig.scanner.startScan { _ in }
        #expect(rig.controller.sent == [disable])
    }

    @Test func anAdapterThatIsDownIsRefusedBeforeAnythingChanges() {
        let rig = Rig()
        rig.controller.up = false
        #expect {
            try rig.scanner.startScan { _ in }
        } throws: { error in
            (error as? HardwareError)?.code == .adapterDown
        }
        #expect(rig.controller.filterWrites == 0 && rig.controller.sent.isEmpty)
    }

    @Test func oneScanAtATime() throws {
        let rig = Rig()
        try rig.scanner.startScan { _ in }
        #expect {
            try rig.scanner.startScan { _ in }
        } throws: { error in
            (error as? HardwareError)?.code == .scanInProgress
        }
    }

    @Test func aControllerThatGoesAwayMidScanIsReported() throws {
        let rig = Rig()
        let failures = Box<[HardwareError]>([])
        try rig.scanner.startScan({ _ in }, onFailure: { failures.value.append($0) })
        for command in [disable, parameters, enable] {
            rig.controller.complete(command)
            rig.settle()
        }
        #expect(rig.scanner.isScanning)
        rig.controller.unplug()
        rig.settle()
        #expect(failures.value.map(\.code) == [.adapterNotFound])
        #expect(!rig.scanner.isScanning)
    }

    @Test func theScanFilterIsTheOneLibbluetoothBuilds() {
        var filter = hci_filter()
        hci_filter_clear(&filter)
        hci_filter_set_ptype(Int32(HCI_EVENT_PKT), &filter)
        hci_filter_set_event(Int32(EVT_LE_META_EVENT), &filter)
        hci_filter_set_event(Int32(EVT_CMD_COMPLETE), &filter)
        hci_filter_set_event(Int32(EVT_CMD_STATUS), &filter)
        let scan = HCISocketFilter.scan
        #expect(scan.typeMask == filter.type_mask)
        #expect(UInt32(truncatingIfNeeded: scan.eventMask) == filter.event_mask.0)
        #expect(UInt32(truncatingIfNeeded: scan.eventMask >> 32) == filter.event_mask.1)
        #expect(scan.opcode == filter.opcode)
    }
}

/// A mutable value the report callbacks (escaping closures) can append to.
private final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}
