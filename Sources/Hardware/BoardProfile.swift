import TOML

/// What one board model offers and how it is wired: the GPIO chip (by label), the PIR and LED lines,
/// the BLE adapter and the PIR timing. Loaded from `boards/NAME.toml`; see docs/boards.md.
public struct BoardProfile: Sendable, Equatable {
    /// A GPIO line: by name (as `gpioinfo` shows it) or by offset on the chip.
    public enum Line: Sendable, Hashable, CustomStringConvertible {
        case name(String)
        case offset(Int)

        public var description: String {
            switch self {
            case .name(let name): name
            case .offset(let offset): "offset \(offset)"
            }
        }
    }

    public var name: String
    /// The `description` key: a human-readable board name.
    public var summary: String
    /// True for the simulated board, which has no chip or adapter behind it.
    public var simulated: Bool
    /// The GPIO chip's label. Chips are found by label, because chip numbers change across kernels.
    public var chipLabel: String
    public var pir: Line?
    public var leds: [Line]
    /// The HCI adapter, e.g. "hci0"; nil for a board without BLE.
    public var bleAdapter: String?
    public var pirTiming: PIRFilter.Configuration
    /// The CPU architecture releases for the board are built for (`aarch64`, `armv7`, `x86_64`);
    /// nil runs anything the host runs (the simulator).
    public var architecture: String?
    /// The file the profile came from.
    public var path: String

    public init(name: String, summary: String = "", simulated: Bool = false, chipLabel: String,
                pir: Line? = nil, leds: [Line] = [], bleAdapter: String? = nil,
                pirTiming: PIRFilter.Configuration = .init(), architecture: String? = nil, path: String = "") {
        self.name = name
        self.summary = summary
        self.simulated = simulated
        self.chipLabel = chipLabel
        self.pir = pir
        self.leds = leds
        self.bleAdapter = bleAdapter
        self.pirTiming = pirTiming
        self.architecture = architecture
        self.path = path
    }

    /// The values `arch` may take: what release artifacts are built for.
    public static let architectures = ["aarch64", "armv7", "x86_64"]

    /// Where an installed agent looks for profiles, most specific first.
    public static let standardSearchPaths = [
        "/etc/nanoedge/boards", "/usr/local/share/nanoedge/boards", "/usr/share/nanoedge/boards",
    ]

    /// Loads `NAME.toml` from the first directory in `searchPaths` that has it.
    public static func load(name: String, searchPaths: [String]) throws(HardwareError) -> BoardProfile {
        let valid = !name.isEmpty && name.utf8.allSatisfy { isNameByte($0) }
        if valid {
            for directory in searchPaths {
                let path = join(directory, name + ".toml")
                if FileSystem.isRegularFile(path) {
                    return try load(path: path, expectedName: name)
                }
            }
        }
        let searched = searchPaths.map { FileSystem.list($0) == nil ? "\($0) (missing)" : $0 }
        throw .profileNotFound(board: name, searched: searched, available: available(in: searchPaths))
    }

    /// Loads one profile file. `expectedName`, if given, must match its `name` key.
    public static func load(path: String, expectedName: String? = nil) throws(HardwareError) -> BoardProfile {
        let text = try FileSystem.readText(path)
        return try parse(text, path: path, expectedName: expectedName)
    }

    /// The board names (file stems of `*.toml`) found in `searchPaths`, sorted and without duplicates.
    public static func available(in searchPaths: [String]) -> [String] {
        var names = Set<String>()
        for directory in searchPaths {
            for file in FileSystem.list(directory) ?? [] where file.hasSuffix(".toml") {
                let stem = String(file.dropLast(5))
                if !stem.isEmpty { names.insert(stem) }
            }
        }
        return names.sorted()
    }

    /// Parses and validates profile text; `path` only names the source in errors.
    public static func parse(_ text: String, path: String, expectedName: String? = nil) throws(HardwareError)
        -> BoardProfile
    {
        let root: TOMLTable
        do {
            root = try TOML.parse(text)
        } catch {
            throw .invalidProfile(path: path, key: nil, problem: error.description)
        }
        let reader = ProfileReader(path: path)

        try reader.rejectUnknown(in: root, prefix: "",
                                 known: ["name", "description", "simulated", "arch", "gpio", "ble", "pir"])
        let name = try reader.required(root, "name", prefix: "", as: "a string", reader.string)
        guard !name.isEmpty, name.utf8.allSatisfy({ isNameByte($0) }) else {
            throw .invalidProfile(path: path, key: "name",
                                  problem: "\"\(name)\" may only hold letters, digits, '-' and '_'")
        }
        if let expectedName, expectedName != name {
            throw .invalidProfile(path: path, key: "name",
                                  problem: "\"\(name)\" does not match the file name \"\(expectedName).toml\"")
        }
        let summary = try reader.optional(root, "description", prefix: "", reader.string) ?? ""
        let simulated = try reader.optional(root, "simulated", prefix: "", reader.bool) ?? false
        let architecture = try reader.optional(root, "arch", prefix: "", reader.string)
        if let architecture, !BoardProfile.architectures.contains(architecture) {
            throw .invalidProfile(path: path, key: "arch", problem: "\"\(architecture)\" is not one of "
                + BoardProfile.architectures.joined(separator: ", "))
        }

        guard let gpio = try reader.optional(root, "gpio", prefix: "", reader.table) else {
            throw .invalidProfile(path: path, key: "gpio", problem: "missing table [gpio]")
        }
        try reader.rejectUnknown(in: gpio, prefix: "gpio.", known: ["chip_label", "pir", "leds"])
        let chipLabel = try reader.required(gpio, "chip_label", prefix: "gpio.", as: "a string", reader.string)
        if chipLabel.isEmpty {
            throw .invalidProfile(path: path, key: "gpio.chip_label", problem: "must not be empty")
        }
        let pir = try reader.optional(gpio, "pir", prefix: "gpio.", reader.line)
        let leds = try reader.optional(gpio, "leds", prefix: "gpio.", reader.lines) ?? []
        var seen = Set<Line>()
        for line in leds + (pir.map { [$0] } ?? []) where !seen.insert(line).inserted {
            throw .invalidProfile(path: path, key: "gpio", problem: "line \(line) is used twice")
        }

        var adapter: String?
        if let ble = try reader.optional(root, "ble", prefix: "", reader.table) {
            try reader.rejectUnknown(in: ble, prefix: "ble.", known: ["adapter"])
            adapter = try reader.required(ble, "adapter", prefix: "ble.", as: "a string", reader.string)
            if let adapter, !isAdapterName(adapter) {
                throw .invalidProfile(path: path, key: "ble.adapter",
                                      problem: "\"\(adapter)\" is not an HCI adapter name like \"hci0\"")
            }
        }

        var timing = PIRFilter.Configuration()
        if let section = try reader.optional(root, "pir", prefix: "", reader.table) {
            try reader.rejectUnknown(in: section, prefix: "pir.",
                                     known: ["warmup_ms", "min_high_ms", "hold_ms", "stuck_high_ms"])
            timing.warmupMs = try reader.optional(section, "warmup_ms", prefix: "pir.", reader.millis)
                ?? timing.warmupMs
            timing.minHighMs = try reader.optional(section, "min_high_ms", prefix: "pir.", reader.millis)
                ?? timing.minHighMs
            timing.holdMs = try reader.optional(section, "hold_ms", prefix: "pir.", reader.millis) ?? timing.holdMs
            timing.stuckHighMs = try reader.optional(section, "stuck_high_ms", prefix: "pir.", reader.millis)
                ?? timing.stuckHighMs
            if timing.stuckHighMs <= timing.minHighMs {
                throw .invalidProfile(path: path, key: "pir.stuck_high_ms",
                                      problem: "must be greater than pir.min_high_ms (\(timing.minHighMs))")
            }
        }

        return BoardProfile(name: name, summary: summary, simulated: simulated, chipLabel: chipLabel,
                            pir: pir, leds: leds, bleAdapter: adapter, pirTiming: timing, architecture: architecture,
                            path: path)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    private static func isAdapterName(_ name: String) -> Bool {
        name.hasPrefix("hci") && name.count > 3
            && name.utf8.dropFirst(3).allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func join(_ directory: String, _ file: String) -> String {
        if directory.isEmpty { return file }
        return directory.hasSuffix("/") ? directory + file : directory + "/" + file
    }
}

/// Typed access to profile keys, with errors that name the file and the dotted key.
private struct ProfileReader {
    let path: String

    typealias Convert<T> = (TOMLValue, String) throws(HardwareError) -> T

    func required<T>(_ table: TOMLTable, _ key: String, prefix: String, as expected: String,
                     _ convert: Convert<T>) throws(HardwareError) -> T
    {
        guard let value = table.entries[key] else {
            throw .invalidProfile(path: path, key: prefix + key, problem: "missing; expected \(expected)")
        }
        return try convert(value, prefix + key)
    }

    func optional<T>(_ table: TOMLTable, _ key: String, prefix: String,
                     _ convert: Convert<T>) throws(HardwareError) -> T?
    {
        guard let value = table.entries[key] else { return nil }
        return try convert(value, prefix + key)
    }

    func rejectUnknown(in table: TOMLTable, prefix: String, known: Set<String>) throws(HardwareError) {
        for key in table.entries.keys.sorted() where !known.contains(key) {
            throw .invalidProfile(path: path, key: prefix + key,
                                  problem: "unknown key; known keys here: \(known.sorted().joined(separator: ", "))")
        }
    }

    func string(_ value: TOMLValue, _ key: String) throws(HardwareError) -> String {
        guard case .string(let text) = value else { throw mistyped(key, "a string", value) }
        return text
    }

    func bool(_ value: TOMLValue, _ key: String) throws(HardwareError) -> Bool {
        guard case .boolean(let flag) = value else { throw mistyped(key, "true or false", value) }
        return flag
    }

    func table(_ value: TOMLValue, _ key: String) throws(HardwareError) -> TOMLTable {
        guard case .table(let table) = value else { throw mistyped(key, "a table", value) }
        return table
    }

    func millis(_ value: TOMLValue, _ key: String) throws(HardwareError) -> Int64 {
        guard case .integer(let number) = value else { throw mistyped(key, "an integer of milliseconds", value) }
        guard number >= 0 else { throw .invalidProfile(path: path, key: key, problem: "must not be negative") }
        return number
    }

    func line(_ value: TOMLValue, _ key: String) throws(HardwareError) -> BoardProfile.Line {
        switch value {
        case .string(let name) where !name.isEmpty:
            return .name(name)
        case .integer(let offset) where offset >= 0 && offset <= Int64(Int32.max):
            return .offset(Int(offset))
        default:
            throw mistyped(key, "a line name like \"GPIO17\" or a line offset", value)
        }
    }

    func lines(_ value: TOMLValue, _ key: String) throws(HardwareError) -> [BoardProfile.Line] {
        guard case .array(let items) = value else { throw mistyped(key, "an array of line names or offsets", value) }
        var result: [BoardProfile.Line] = []
        for (index, item) in items.enumerated() {
            result.append(try line(item, "\(key)[\(index)]"))
        }
        return result
    }

    private func mistyped(_ key: String, _ expected: String, _ value: TOMLValue) -> HardwareError {
        .invalidProfile(path: path, key: key, problem: "expected \(expected), found \(Self.describe(value))")
    }

    private static func describe(_ value: TOMLValue) -> String {
        switch value {
        case .string(let text): "the string \"\(text)\""
        case .integer(let number): "the integer \(number)"
        case .float(let number): "the float \(number)"
        case .boolean(let flag): "the boolean \(flag)"
        case .datetime(let text): "the date-time \(text)"
        case .array: "an array"
        case .table: "a table"
        }
    }
}
