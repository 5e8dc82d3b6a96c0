import Hardware

#if canImport(Glibc)
import Glibc
#endif

/// What `/dev` offers: every GPIO character device, opened once to read its name and label.
///
/// Chips are found by label because their numbers move between kernels (the Pi 5's RP1 chip was
/// gpiochip4, then gpiochip0). A chip that cannot be opened is kept with its errno, so an error can
/// say "permission denied" instead of "not found".
public struct GPIOChipInfo: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var name: String
    public var label: String
    public var lineCount: Int
    /// Set when the chip could not be opened; name, label and lineCount are then empty.
    public var openErrno: Int32?

    public var description: String {
        if let openErrno { return "\(path) (cannot open: \(String(cString: strerror(openErrno))))" }
        return "\(name) [\(label)] (\(lineCount) lines)"
    }

    static func unopenable(_ path: String, errno code: Int32) -> GPIOChipInfo {
        GPIOChipInfo(path: path, name: "", label: "", lineCount: 0, openErrno: code)
    }
}

public enum GPIOChipDiscovery {
    /// The device directory; tests of the error paths point it elsewhere.
    public static func scan(deviceDirectory: String = "/dev") -> [GPIOChipInfo] {
        var chips: [GPIOChipInfo] = []
        for entry in listDirectory(deviceDirectory) where entry.hasPrefix("gpiochip") {
            chips.append(probe(deviceDirectory + "/" + entry))
        }
        // gpiochip2 before gpiochip10.
        return chips.sorted { ($0.path.count, $0.path) < ($1.path.count, $1.path) }
    }

    private static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            names.append(name)
        }
        return names
    }
}

/// The hint for EACCES on a GPIO chip: on Raspberry Pi OS the gpio group owns /dev/gpiochip*.
let gpioPermissionHint =
    "add the agent's user to the gpio group (`sudo usermod -aG gpio USER`, then log in again), "
    + "or install ota/99-nanoedge-gpio.rules (udev) and re-plug or reboot; the systemd unit also needs DeviceAllow=/dev/gpiochip* rw"
