#if canImport(Glibc)
import Glibc
#endif
import BLE
import BLEBlueZ
import Hardware
import Reactor
import Testing

/// True where the kernel has no Bluetooth sockets (containers, CI): opening any adapter must fail so.
private let kernelLacksBluetooth: Bool = {
    let fd = socket(31 /* AF_BLUETOOTH */, Int32(SOCK_RAW.rawValue), 1 /* BTPROTO_HCI */)
    if fd >= 0 { close(fd) }
    return fd < 0 && errno == EAFNOSUPPORT
}()

@Suite struct HCIScannerErrorTests {
    @Test func noAdapterListsTheAdaptersThatExist() {
        let error = HCIScanner.openError("hci1", errno: ENODEV, available: ["hci0", "hci2"])
        #expect(error.code == .adapterNotFound)
        #expect(error.description == "no Bluetooth adapter hci1 (adapters found: hci0, hci2); "
            + "check ble.adapter in the board profile")
        let none = HCIScanner.openError("hci0", errno: ENODEV, available: [])
        #expect(none.description.contains("no Bluetooth adapters found"))
    }

    @Test func adapterDownSaysHowToBringItUp() {
        let error = HCIScanner.openError("hci0", errno: ENETDOWN, available: ["hci0"])
        #expect(error.code == .adapterDown)
        #expect(error.description.contains("`hciconfig hci0 up`"))
        #expect(error.description.contains("`btmgmt --index 0 power on`"))
    }

    @Test(arguments: [EPERM, EACCES])
    func refusedSocketOrCommandNamesTheCapabilities(code: Int32) {
        for error in [HCIScanner.openError("hci0", errno: code, available: []),
                      HCIScanner.socketError("hci0", operation: "sending LE Set Scan Enable (on)", errno: code)] {
            #expect(error.code == .permissionDenied)
            #expect(error.errno == code)
            #expect(error.description.contains("CAP_NET_RAW and CAP_NET_ADMIN"))
            #expect(error.description.contains("setcap cap_net_raw,cap_net_admin+eip"))
            #expect(error.description.contains("AmbientCapabilities"))
        }
    }

    @Test func otherErrnosStayIOErrors() {
        let error = HCIScanner.socketError("hci0", operation: "reading from the HCI socket", errno: EIO)
        #expect(error.code == .io && error.errno == EIO)
        #expect(HCIScanner.openError("hci0", errno: EAFNOSUPPORT, available: []).description
            .contains("this kernel has no Bluetooth support"))
    }

    @Test func adaptersAreListedFromSysfsWithoutConnections() throws {
        let directory = uniqueTemporaryPath(".d")
        try #require(mkdir(directory, 0o700) == 0)
        defer {
            for name in ["hci10", "hci0", "hci0:11", "hci1", "hcix"] { rmdir(directory + "/" + name) }
            rmdir(directory)
        }
        for name in ["hci10", "hci0", "hci0:11", "hci1", "hcix"] { #expect(mkdir(directory + "/" + name, 0o700) == 0) }
        #expect(HCIScanner.availableAdapters(sysfsDirectory: directory) == ["hci0", "hci1", "hci10"])
        #expect(HCIScanner.availableAdapters(sysfsDirectory: directory + "/missing") == [])
    }

    @Test(.enabled(if: kernelLacksBluetooth, "needs a kernel without Bluetooth sockets"))
    func openingOnAKernelWithoutBluetoothSaysSo() {
        #expect {
            _ = try HCIScanner(configuration: .init(adapter: "hci0"), reactor: Reactor())
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .adapterNotFound && error.errno == EAFNOSUPPORT
        }
    }

    @Test func controllerErrorsNameTheStatus() {
        #expect(HCIStatus.name(0x0C) == "Command Disallowed")
        #expect(HCIStatus.name(0xEE) == "status 0xEE")
        let error = HardwareError.controllerError("hci0", command: "LE Set Scan Enable (on)", status: 0x03,
                                                  statusName: HCIStatus.name(0x03))
        #expect(error.description.hasPrefix("Bluetooth adapter hci0 answered LE Set Scan Enable (on) with status 0x03 (Hardware Failure)"))
    }
}
