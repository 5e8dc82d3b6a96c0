import CGPIOD
import GPIO
import Hardware
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The backend against a device directory that has no real chip: the error paths a user meets on a
/// wrong image or a container without /dev/gpiochip*. The real chip is exercised by the rig
/// under QEMU with gpio-sim (docs/hil.md).
@Suite struct GPIOBackendTests {
    private func makeDirectory() -> String {
        var template = Array("/tmp/nanoedge-gpio-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        return path
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
        var event = gpiod_line_event()
        event.ts.tv_sec = 1234
        event.ts.tv_nsec = 567_890_123
        event.event_type = Int32(GPIOD_LINE_EVENT_RISING_EDGE)
        #expect(GPIOInput.edge(event) == LineEdge(rising: true, timestamp: 1_234_567))
        event.event_type = Int32(GPIOD_LINE_EVENT_FALLING_EDGE)
        #expect(GPIOInput.edge(event).rising == false)
    }
}
