import BLEBlueZ
import GPIO
import Hardware

#if canImport(Glibc)
import Glibc
#endif

/// `nanoedge-agent --board NAME --check`: resolves a board profile, probes the hardware it names and
/// prints a readable report. It requests each line for a moment, exactly as the agent would, so a
/// permission problem or a line held by another process shows up here and not at 3 a.m.
public struct BoardCheck {
    public struct Finding: Sendable, Equatable {
        public var ok: Bool
        public var text: String
    }

    public let profile: BoardProfile
    public var deviceDirectory = "/dev"
    public var bluetoothClassDirectory = "/sys/class/bluetooth"
    /// Open the adapter's raw HCI socket too (off in tests that fake /sys).
    public var probeSocket = true

    public init(profile: BoardProfile) { self.profile = profile }

    public func run() -> [Finding] {
        var findings: [Finding] = [
            Finding(ok: true, text: "board \(profile.name) (\(profile.summary)) from \(profile.path)"),
        ]
        let t = profile.pirTiming
        findings.append(Finding(ok: true, text: "pir timing: warm-up \(t.warmupMs) ms, min high \(t.minHighMs) ms, "
            + "hold \(t.holdMs) ms, stuck high after \(t.stuckHighMs) ms"))
        if profile.simulated {
            findings.append(Finding(ok: true, text: "simulated board: no hardware to probe; the agent listens on its "
                + "control socket (docs/simulator.md)"))
            return findings
        }
        findings += gpio()
        findings += bluetooth()
        return findings
    }

    /// Findings as text lines, and whether every one passed.
    public static func report(_ findings: [Finding]) -> (text: String, ok: Bool) {
        let failed = findings.filter { !$0.ok }.count
        var lines = findings.map { ($0.ok ? "ok    " : "FAIL  ") + $0.text }
        lines.append(failed == 0 ? "result: ok" : "result: \(failed) problem(s)")
        return (lines.joined(separator: "\n") + "\n", failed == 0)
    }

    private func gpio() -> [Finding] {
        let chips = GPIOChipDiscovery.scan(deviceDirectory: deviceDirectory)
        var findings = [Finding(ok: !chips.isEmpty, text: "gpio chips: "
            + (chips.isEmpty ? "none in \(deviceDirectory)" : chips.map(\.description).joined(separator: ", ")))]
        let chip: GPIOChip
        do {
            chip = try GPIOChip.open(label: profile.chipLabel, deviceDirectory: deviceDirectory)
        } catch {
            findings.append(Finding(ok: false, text: "gpio chip \"\(profile.chipLabel)\": \(error)"))
            return findings
        }
        findings.append(Finding(ok: true, text: "gpio chip \"\(profile.chipLabel)\": \(chip.info.path) "
            + "(\(chip.info.name), \(chip.info.lineCount) lines)"))
        if let pir = profile.pir {
            do {
                let (offset, _, _) = try chip.describe(pir)
                let line = try chip.input(pir)
                let level = try line.read() ? "high" : "low"
                findings.append(Finding(ok: true, text: "pir \(pir): offset \(offset), requested for both edges "
                    + "with pull-down, level \(level)"))
            } catch {
                findings.append(Finding(ok: false, text: "pir \(pir): \(error)"))
            }
        }
        for (index, led) in profile.leds.enumerated() {
            do {
                let (offset, _, _) = try chip.describe(led)
                _ = try chip.output(led)
                findings.append(Finding(ok: true, text: "led \(index) \(led): offset \(offset), requested as output (off)"))
            } catch {
                findings.append(Finding(ok: false, text: "led \(index) \(led): \(error)"))
            }
        }
        return findings
    }

    private func bluetooth() -> [Finding] {
        guard let adapter = profile.bleAdapter else {
            return [Finding(ok: true, text: "ble: none on this board")]
        }
        let path = bluetoothClassDirectory + "/" + adapter
        if access(path, F_OK) == 0 {
            // Opening the raw HCI socket is what the scanner will do: it needs CAP_NET_RAW.
            guard probeSocket else { return [Finding(ok: true, text: "ble \(adapter): present (\(path))")] }
            do {
                let device = try BlueZHCIDevice(adapter: adapter, sysfsDirectory: bluetoothClassDirectory)
                let up = try device.isUp()
                return [Finding(ok: up, text: "ble \(adapter): present (\(path)), raw HCI socket opened, "
                    + (up ? "adapter up" : "adapter DOWN: `hciconfig \(adapter) up` or `btmgmt --index \(adapter.dropFirst(3)) power on`"))]
            } catch {
                return [Finding(ok: false, text: "ble \(adapter): \(error)")]
            }
        }
        let found = listAdapters()
        return [Finding(ok: false, text: "ble \(adapter): no such adapter (adapters found: "
            + (found.isEmpty ? "none" : found.joined(separator: ", "))
            + "); check that Bluetooth is enabled (dtparam, rfkill unblock bluetooth) or set [ble] adapter")]
    }

    private func listAdapters() -> [String] {
        guard let dir = opendir(bluetoothClassDirectory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix("hci") { names.append(name) }
        }
        return names.sorted()
    }
}
