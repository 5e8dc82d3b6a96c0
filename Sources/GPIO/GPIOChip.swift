import CGPIOD
import Hardware

#if canImport(Glibc)
import Glibc
#endif

/// One GPIO chip, opened by label.
///
/// libgpiod 1.6 (Debian 12, bookworm) and 2.x (Debian 13, trixie) share little beyond
/// `gpiod_chip_open` and `gpiod_chip_close`, so this file and GPIOLines.swift hold what both do,
/// and one backend file is compiled beside them: LibgpiodV1.swift, or LibgpiodV2.swift when the
/// manifest defines LIBGPIOD_V2 (docs/boards.md). Each provides `GPIOChipDiscovery.probe(_:)` and
/// `libraryVersion`, `GPIOChip.request(_:_:)` and `describe(_:)`, and `RequestedLine`.
public final class GPIOChip {
    let raw: OpaquePointer
    public let info: GPIOChipInfo
    /// The consumer name every request carries, as `gpioinfo` shows it.
    public static let consumer = "nanoedge"

    private init(raw: OpaquePointer, info: GPIOChipInfo) {
        self.raw = raw
        self.info = info
    }

    deinit { gpiod_chip_close(raw) }

    /// Opens the chip whose label is `label`. Errors list the chips that exist, or say which
    /// could not be opened for lack of permission.
    public static func open(label: String, deviceDirectory: String = "/dev") throws(HardwareError) -> GPIOChip {
        let chips = GPIOChipDiscovery.scan(deviceDirectory: deviceDirectory)
        if let match = chips.first(where: { $0.openErrno == nil && $0.label == label }) {
            guard let raw = gpiod_chip_open(match.path) else {
                throw openError(path: match.path, errno: errno)
            }
            return GPIOChip(raw: raw, info: match)
        }
        // Not found among the readable chips: a chip we could not open may be the one.
        if let denied = chips.first(where: { $0.openErrno == EACCES || $0.openErrno == EPERM }) {
            throw .permissionDenied(path: denied.path, hint: gpioPermissionHint
                + " (no readable chip has label \"\(label)\")")
        }
        throw .chipNotFound(label: label, available: chips.map(\.description))
    }

    static func openError(path: String, errno code: Int32) -> HardwareError {
        if code == EACCES || code == EPERM { return .permissionDenied(path: path, hint: gpioPermissionHint) }
        return .io(errno: code, operation: "open \(path)")
    }

    /// `holder` asks the kernel who has the line, for a "busy" error; it is called only then.
    static func requestError(_ code: Int32, line: BoardProfile.Line, chip: GPIOChipInfo,
                             holder: () -> String?) -> HardwareError {
        switch code {
        case EBUSY: return .lineBusy(line.description, consumer: holder() ?? "an unnamed consumer")
        case EACCES, EPERM: return .permissionDenied(path: chip.path, hint: gpioPermissionHint)
        default: return .io(errno: code, operation: "request \(line) on \(chip.name)")
        }
    }

    /// Requests the PIR line for both edges with the pull-down bias.
    public func input(_ line: BoardProfile.Line, bias: GPIOInput.Bias = .pullDown) throws(HardwareError) -> GPIOInput {
        GPIOInput(try request(line, .bothEdges(bias)))
    }

    /// Requests an LED line as an output, initially low.
    public func output(_ line: BoardProfile.Line) throws(HardwareError) -> GPIOOutput {
        GPIOOutput(try request(line, .outputLow))
    }
}

/// What a request asks of a line; each backend turns it into its own flags or settings.
enum LineMode {
    case bothEdges(GPIOInput.Bias)
    case outputLow
}
