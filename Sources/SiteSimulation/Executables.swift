import Foundation

/// The few ELF facts the simulated site needs about the binaries it runs: which architecture an
/// agent is built for, and a stand-in program for a release that cannot run.
public enum Executables {
    /// The `arch` name a board profile uses (`aarch64`, `armv7`, `x86_64`) for the ELF file at
    /// `path`, or nil for a file that is not an ELF executable for one of those.
    public static func architecture(of path: String) throws -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw SimulationError("cannot read \(path)") }
        defer { try? handle.close() }
        let header = [UInt8](handle.readData(ofLength: 20))
        guard header.count == 20, header[0...3] == [0x7F, 0x45, 0x4C, 0x46], header[5] == 1 else { return nil }
        switch UInt16(header[18]) | UInt16(header[19]) << 8 {
        case 62: return "x86_64"
        case 183: return "aarch64"
        case 40: return "armv7"
        default: return nil
        }
    }

    /// The architecture of the running process: what runs here without emulation.
    public static var hostArchitecture: String? { try? architecture(of: "/proc/self/exe") }

    /// A static ELF executable for `architecture` that calls exit(1) at once: the system's `false`,
    /// for any architecture, so a broken release can be made for an agent the host does not run natively.
    public static func exitingELF(architecture: String) throws -> [UInt8] {
        let (machine, code): (UInt16, [UInt8])
        switch architecture {
        case "x86_64":
            // mov edi, 1; mov eax, 60 (exit); syscall
            (machine, code) = (62, [0xBF, 1, 0, 0, 0, 0xB8, 60, 0, 0, 0, 0x0F, 0x05])
        case "aarch64":
            // mov x0, #1; mov x8, #93 (exit); svc #0
            (machine, code) = (183, littleEndian(UInt32(0xD280_0020)) + littleEndian(UInt32(0xD280_0BA8))
                + littleEndian(UInt32(0xD400_0001)))
        default:
            throw SimulationError("no stand-in executable for \(architecture)")
        }
        let base: UInt64 = 0x40_0000
        let headers = 64 + 56
        let size = UInt64(headers + code.count)
        var elf: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        elf += littleEndian(UInt16(2)) + littleEndian(machine) + littleEndian(UInt32(1))  // ET_EXEC, EV_CURRENT
        elf += littleEndian(base + UInt64(headers)) + littleEndian(UInt64(64)) + littleEndian(UInt64(0))  // entry, phoff, shoff
        elf += littleEndian(UInt32(0)) + littleEndian(UInt16(64)) + littleEndian(UInt16(56)) + littleEndian(UInt16(1))
        elf += littleEndian(UInt16(0)) + littleEndian(UInt16(0)) + littleEndian(UInt16(0))
        // One PT_LOAD, read and execute, mapping the whole file at `base`.
        elf += littleEndian(UInt32(1)) + littleEndian(UInt32(5)) + littleEndian(UInt64(0))
        elf += littleEndian(base) + littleEndian(base) + littleEndian(size) + littleEndian(size) + littleEndian(UInt64(0x1_0000))
        return elf + code
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
