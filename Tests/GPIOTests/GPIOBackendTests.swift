@testable import GPIO
import Hardware
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The backend against a device directory that has no real chip: the error paths a user meets on a
/// wrong image or a container without /dev/gpiochip*. These hold for whichever libgpiod backend is
/// compiled in; LibgpiodV1Tests and LibgpiodV2Tests check what only one has. The real chip is
/// exercised by the rig under QEMU with gpio-sim (docs/hil.md).
@Suite struct GPIOBackendTests {
    private func makeDirectory() -> String {
        var template = Array("/tmp/nanoedge-gpio-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        return path
    }

    @Test func theLibraryIsTheOneTheBackendWasBuiltFor() {
        #if LIBGPIOD_V2
        #expect(GPIOChipDiscovery.libraryVersion.hasPrefix("2."))
        #else
        #expect(GPIOChipDiscovery.libraryVersion.hasPrefix("1."))
        #endif
    }

    @Test func noChipsAtAll() {
        let dir = makeDirectory()
        #expect(GPIOChipDiscovery.scan(deviceDirectory: dir) == [])
        #expect {
            _ = try GPIOChip.open(label: "pinctrl-bcm2711", deviceDirectory: dir)
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .chipNotFound && error.description.contains("no GPIO chips found")
                && error.description.contains("gpio.chip_label")
        }
    }

    @Test func aMissingDeviceDirectoryHasNoChips() {
        #expect(GPIOChipDiscovery.scan(deviceDirectory: "/nonexistent-nanoedge-dev") == [])
    }

    @Test func aFileThatIsNotAChipIsListedAsUnopenable() throws {
        let dir = makeDirectory()
        let fd = open(dir + "/gpiochip0", O_CREAT | O_WRONLY, 0o644)
        close(fd)
        let chips = GPIOChipDiscovery.scan(deviceDirectory: dir)
        #expect(chips.count == 1)
        #expect(chips.first?.openErrno != nil)
        #expect(chips.first?.description.contains("cannot open") == true)
        #expect {
            _ = try GPIOChip.open(label: "pinctrl-rp1", deviceDirectory: dir)
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .chipNotFound && error.description.contains("\(dir)/gpiochip0 (cannot open")
        }
    }

    @Test func chipsSortNumerically() {
        let dir = makeDirectory()
        for name in ["gpiochip10", "gpiochip2", "gpiochip0", "other"] {
            close(open(dir + "/" + name, O_CREAT | O_WRONLY, 0o644))
        }
        #expect(GPIOChipDiscovery.scan(deviceDirectory: dir).map(\.path)
            == ["gpiochip0", "gpiochip2", "gpiochip10"].map { dir + "/" + $0 })
    }

    @Test func edgeTimestampsBecomeMonotonicMilliseconds() {
        #expect(GPIOInput.edge(rising: true, nanoseconds: 1_234_567_890_123) == LineEdge(rising: true, timestamp: 1_234_567))
        #expect(GPIOInput.edge(rising: false, nanoseconds: 999_999).timestamp == 0)
    }

    // MARK: The errors a request or an open turns into

    private let chip = GPIOChipInfo(path: "/dev/gpiochip0", name: "gpiochip0", label: "pinctrl-bcm2711",
                                    lineCount: 58, openErrno: nil)

    @Test func aBusyLineNamesItsHolder() {
        let error = GPIOChip.requestError(EBUSY, line: .name("GPIO17"), chip: chip) { "pir-daemon" }
        #expect(error.code == .lineBusy)
        #expect(error.description == "line \"GPIO17\" is already in use by \"pir-daemon\"; "
            + "stop that process or pick another line")
        let unnamed = GPIOChip.requestError(EBUSY, line: .offset(4), chip: chip) { nil }
        #expect(unnamed.description.contains("line \"offset 4\" is already in use by \"an unnamed consumer\""))
    }

    @Test(arguments: [EACCES, EPERM]) func aRefusedRequestHintsAtTheGPIOGroup(code: Int32) {
        var asked = false
        let error = GPIOChip.requestError(code, line: .name("GPIO17"), chip: chip) { asked = true; return nil }
        #expect(!asked)
        #expect(error.code == .permissionDenied)
        #expect(error.description.hasPrefix("permission denied: /dev/gpiochip0: add the agent's user to the gpio group"))
        #expect(error.description.contains("DeviceAllow=/dev/gpiochip* rw"))
    }

    @Test func anyOtherRequestFailureIsAnIOError() {
        let error = GPIOChip.requestError(EINVAL, line: .name("GPIO17"), chip: chip) { nil }
        #expect(error.code == .io)
        #expect(error.errno == EINVAL)
        #expect(error.description.contains("request GPIO17 on gpiochip0"))
    }

    @Test func openErrors() {
        #expect(GPIOChip.openError(path: "/dev/gpiochip4", errno: EACCES).code == .permissionDenied)
        let io = GPIOChip.openError(path: "/dev/gpiochip4", errno: ENODEV)
        #expect(io.code == .io)
        #expect(io.description.contains("open /dev/gpiochip4"))
    }
}
