import CZlib
import DurableFile

#if canImport(Glibc)
import Glibc
#endif

/// Whole-OS A/B on a Raspberry Pi with the bootloader's tryboot and autoboot.txt (see docs/ota.md).
///
/// The boot FAT partition (partition 1) holds autoboot.txt, which the bootloader reads:
///
///     [all]
///     tryboot_a_b=1
///     boot_partition=2        the committed OS
///     [tryboot]
///     boot_partition=3        the OS tried once after `reboot '0 tryboot'`
///     # nanoedge generation=5 crc32=1a2b3c4d
///
/// A try is one-shot: the tryboot flag lives only until the next reset, so a hang or power cut in the
/// new OS comes back to the committed partition. Committing swaps the two partitions in the file.
///
/// FAT has no atomic rename, so the file is rewritten in place with two copies beside it: the new
/// contents go to autoboot.new first, the old valid contents to autoboot.bak, then autoboot.txt is
/// overwritten; every copy ends in a checksum line (a comment to the bootloader). A reader takes the
/// valid copy with the highest generation and repairs autoboot.txt from it.
public final class Tryboot {
    public struct Configuration {
        /// Where the boot FAT partition is mounted (/boot/firmware on Raspberry Pi OS bookworm).
        public var bootDirectory: String
        /// The bootloader's report of this boot: `partition` and `tryboot`, big-endian u32 each.
        public var deviceTreeDirectory = "/proc/device-tree/chosen/bootloader"
        /// Reboots into the one-shot try; injected so tests do not reboot the machine.
        public var reboot: ([String]) throws(UpdateError) -> Void = { argv throws(UpdateError) in
            let result = try Subprocess.run(argv)
            if result.status != 0 { throw UpdateError(.io, "\(argv.joined(separator: " ")) exited \(result.status)") }
        }
        public var rebootCommand = ["reboot", "0 tryboot"]
        public var faults: FaultInjector = .none

        public init(bootDirectory: String) {
            self.bootDirectory = bootDirectory
        }
    }

    public struct Autoboot: Sendable, Equatable {
        /// `[all] boot_partition`: what boots normally.
        public var committed: Int
        /// `[tryboot] boot_partition`: what boots once after `reboot '0 tryboot'`.
        public var trial: Int
        public var generation: Int

        public init(committed: Int, trial: Int, generation: Int) {
            self.committed = committed
            self.trial = trial
            self.generation = generation
        }
    }

    /// What the bootloader says about this boot.
    public struct BootState: Sendable, Equatable {
        public var partition: Int?
        public var tryboot: Bool
    }

    public let configuration: Configuration
    private var primary: String { configuration.bootDirectory + "/autoboot.txt" }
    private var backup: String { configuration.bootDirectory + "/autoboot.bak" }
    private var pending: String { configuration.bootDirectory + "/autoboot.new" }

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: File format

    /// The file's bytes (well under the bootloader's 512-byte limit).
    public static func render(_ autoboot: Autoboot) -> [UInt8] {
        let body = "[all]\ntryboot_a_b=1\nboot_partition=\(autoboot.committed)\n[tryboot]\nboot_partition=\(autoboot.trial)\n"
        let bytes = Array(body.utf8)
        let crc = bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        var hex = String(crc, radix: 16)
        while hex.count < 8 { hex = "0" + hex }
        return bytes + Array("# nanoedge generation=\(autoboot.generation) crc32=\(hex)\n".utf8)
    }

    /// Parses a copy; nil when it is torn, damaged or not in our shape. A file without a checksum
    /// line (the hand-written first one) counts as generation 0 when it is complete.
    public static func parse(_ bytes: [UInt8]) -> Autoboot? {
        guard bytes.count <= 512 else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n") else { return nil }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        var generation = 0
        if let last = lines.last, last.hasPrefix("# nanoedge ") {
            let fields = last.dropFirst("# nanoedge ".count).split(separator: " ")
            guard fields.count == 2, fields[0].hasPrefix("generation="), fields[1].hasPrefix("crc32="),
                  let g = Int(fields[0].dropFirst("generation=".count)),
                  let crc = UInt32(fields[1].dropFirst("crc32=".count), radix: 16) else { return nil }
            lines.removeLast()
            let body = Array((lines.joined(separator: "\n") + "\n").utf8)
            let actual = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            guard actual == crc else { return nil }
            generation = g
        }
        var section = "all"
        var committed: Int?
        var trial: Int?
        var abEnabled = false
        for raw in lines {
            let line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            guard parts.count == 2 else { return nil }
            switch (section, parts[0]) {
            case ("all", "tryboot_a_b"): abEnabled = parts[1] == "1"
            case ("all", "boot_partition"): committed = Int(parts[1])
            case ("tryboot", "boot_partition"): trial = Int(parts[1])
            default: continue
            }
        }
        guard abEnabled, let committed, let trial, (1...63).contains(committed), (1...63).contains(trial) else {
            return nil
        }
        return Autoboot(committed: committed, trial: trial, generation: generation)
    }

    // MARK: Reading

    /// The valid copy with the highest generation; autoboot.txt is rewritten from it when it differs.
    public func read() throws(UpdateError) -> Autoboot {
        let copies = [primary, pending, backup].map { path in (path, readFile(path).flatMap(Tryboot.parse)) }
        guard let best = copies.compactMap({ $0.1 }).max(by: { $0.generation < $1.generation }) else {
            throw UpdateError(.corruptState, "no valid autoboot.txt in \(configuration.bootDirectory) (nor .new or .bak); "
                                  + "run `nanoedge-agent update os init` with the committed and trial partitions")
        }
        if copies[0].1 != best {
            configuration.faults.step("os.repair.begin")
            try writeInPlace(primary, Tryboot.render(best), step: "os.repair.primary")
        }
        return best
    }

    /// Writes the first autoboot.txt (generation 1) unless a valid one exists.
    @discardableResult
    public func initialize(committed: Int, trial: Int) throws(UpdateError) -> Autoboot {
        if let existing = try? read() { return existing }
        let first = Autoboot(committed: committed, trial: trial, generation: 1)
        try install(first, previous: nil)
        return first
    }

    public func bootState() -> BootState {
        BootState(partition: readNumber("partition").map(Int.init), tryboot: (readNumber("tryboot") ?? 0) != 0)
    }

    // MARK: The flow

    /// Points the `[tryboot]` entry at `partition` (where the new OS was written).
    @discardableResult
    public func prepareTrial(partition: Int) throws(UpdateError) -> Autoboot {
        let current = try read()
        guard partition != current.committed else {
            throw UpdateError(.invalidState, "partition \(partition) is the committed OS; write the new OS to another one")
        }
        guard current.trial != partition else { return current }
        let next = Autoboot(committed: current.committed, trial: partition, generation: current.generation + 1)
        try install(next, previous: current)
        return next
    }

    /// Reboots once into the trial partition (`reboot '0 tryboot'`).
    public func startTrial() throws(UpdateError) {
        _ = try read()
        configuration.faults.step("os.reboot")
        try configuration.reboot(configuration.rebootCommand)
    }

    /// After a healthy trial boot: makes the running partition the committed one.
    @discardableResult
    public func commit() throws(UpdateError) -> Autoboot {
        let current = try read()
        let boot = bootState()
        guard boot.tryboot, let running = boot.partition, running == current.trial else {
            if boot.partition == current.committed && !boot.tryboot {
                throw UpdateError(.invalidState, "this boot runs the committed partition \(current.committed); "
                                      + "there is no trial to commit (did the try fail and fall back?)")
            }
            throw UpdateError(.invalidState, "this is not a trial boot of partition \(current.trial) "
                                  + "(booted partition \(boot.partition.map(String.init) ?? "unknown"), "
                                  + "tryboot \(boot.tryboot ? "set" : "not set")); nothing was changed")
        }
        let next = Autoboot(committed: current.trial, trial: current.committed, generation: current.generation + 1)
        try install(next, previous: current)
        return next
    }

    // MARK: Writing on FAT

    /// autoboot.new (durable) → autoboot.bak from the previous valid contents → autoboot.txt in place.
    private func install(_ next: Autoboot, previous: Autoboot?) throws(UpdateError) {
        let bytes = Tryboot.render(next)
        try writeInPlace(pending, bytes, step: "os.write.new")
        if let previous {
            try writeInPlace(backup, Tryboot.render(previous), step: "os.write.backup")
        }
        try writeInPlace(primary, bytes, step: "os.write.primary")
        configuration.faults.step("os.write.done")
    }

    /// Truncate, write, fsync, fsync the directory; a copy torn here is caught by its checksum.
    private func writeInPlace(_ path: String, _ bytes: [UInt8], step: String) throws(UpdateError) {
        configuration.faults.step(step + ".begin")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(errno, "open", path, consequence: "the boot configuration was not changed") }
        configuration.faults.step(step + ".truncated")
        var failure: Int32?
        let half = bytes.count / 2
        failure = DurableFile.writeAll(fd, Array(bytes[0..<half]))
        if failure == nil {
            configuration.faults.step(step + ".half")
            failure = DurableFile.writeAll(fd, Array(bytes[half...]))
        }
        if failure == nil { failure = DurableFile.syncFailure(fd) }
        close(fd)
        if let failure { throw .system(failure, "write", path, consequence: "a valid copy remains beside it") }
        try? DurableFile.syncDirectory(configuration.bootDirectory)
        configuration.faults.step(step + ".synced")
    }

    private func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = Glibc.read(fd, &bytes, bytes.count)
        guard count >= 0 else { return nil }
        return Array(bytes[0..<count])
    }

    private func readNumber(_ name: String) -> UInt32? {
        guard let bytes = readFile(configuration.deviceTreeDirectory + "/" + name), bytes.count >= 4 else { return nil }
        return bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
