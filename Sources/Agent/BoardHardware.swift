import BLE
import BLEBlueZ
import GPIO
import Hardware
import Reactor
import SimulatedBoard

#if canImport(Glibc)
import Glibc
#endif

/// The devices the roles drive, from the simulated board or from the real backends. Only what the
/// configured roles need is opened, so a corridor Pi never touches the Bluetooth adapter.
final class BoardHardware {
    let pir: InputLine?
    let leds: [OutputLine]
    let scanner: BLEScanner?
    let display: ContentDisplay?
    private let simulated: SimulatedBoard?

    private init(pir: InputLine?, leds: [OutputLine], scanner: BLEScanner?, display: ContentDisplay?,
                 simulated: SimulatedBoard?) {
        self.pir = pir
        self.leds = leds
        self.scanner = scanner
        self.display = display
        self.simulated = simulated
    }

    static func open(config: AgentConfig, reactor: Reactor) throws(AgentError) -> BoardHardware {
        let profile = config.board
        if profile.simulated {
            let board = SimulatedBoard(profile: profile, socketPath: config.simulatorSocket)
            do { try board.start(on: reactor) } catch { throw AgentError("simulated board: \(error)") }
            return BoardHardware(pir: board.pir, leds: board.leds, scanner: board.scanner, display: board.display,
                                 simulated: board)
        }
        let roles = config.roles
        var pir: GPIOInput?
        var leds: [GPIOOutput] = []
        if roles.contains(.presence) || roles.contains(.guidance) {
            do {
                let chip = try GPIOChip.open(label: profile.chipLabel)
                if roles.contains(.presence), let line = profile.pir {
                    let input = try chip.input(line)
                    input.attach(to: reactor)
                    pir = input
                }
                if roles.contains(.guidance) {
                    for line in profile.leds { leds.append(try chip.output(line)) }
                }
            } catch {
                throw AgentError("GPIO (board \(profile.name)): \(error)")
            }
        }
        var scanner: BLEScanner?
        if roles.contains(.scanner) {
            scanner = try openScanner(profile: profile, reactor: reactor)
        }
        let display: ContentDisplay? = roles.contains(.display)
            ? FileDisplay(directory: config.contentDirectory) : nil
        return BoardHardware(pir: pir, leds: leds, scanner: scanner, display: display, simulated: nil)
    }

    private static func openScanner(profile: BoardProfile, reactor: Reactor) throws(AgentError) -> BLEScanner {
        guard let adapter = profile.bleAdapter else {
            throw AgentError("BLE (board \(profile.name)): the profile names no adapter ([ble] adapter)")
        }
        do {
            return try HCIScanner(configuration: HCIScanner.Configuration(adapter: adapter), reactor: reactor)
        } catch {
            throw AgentError("BLE (board \(profile.name)): \(error)")
        }
    }

    func stop() { simulated?.stop() }
}

/// A real room's display: the presented meeting is written to `current.txt` (title on the first
/// line) in the content directory, where a kiosk browser or a display command picks it up; hiding
/// removes it. Writes are crash-safe, so the screen never shows half a file.
final class FileDisplay: ContentDisplay {
    let directory: String
    static let fileName = "current.txt"

    init(directory: String) { self.directory = directory }

    func present(title: String, content: [UInt8]) throws(HardwareError) {
        do {
            try EventLog.writeFileAtomically(directory: directory, name: Self.fileName,
                                             bytes: Array((title + "\n").utf8) + content)
        } catch {
            throw .io(errno: EIO, operation: "write \(directory)/\(Self.fileName): \(error)")
        }
    }

    func hide() throws(HardwareError) {
        let path = directory + "/" + Self.fileName
        if unlink(path) != 0 && errno != ENOENT {
            throw .io(errno: errno, operation: "remove \(path)")
        }
    }
}
