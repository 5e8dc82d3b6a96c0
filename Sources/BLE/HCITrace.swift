#if canImport(Glibc)
import Glibc
#endif

/// A recorded sequence of HCI event packets, in the text format of `*.hcitrace` files:
///
///     # comment lines and blank lines are ignored
///     # <milliseconds since the trace started> <one HCI packet in hex, packet type 04 first>
///     0    04 3E 1A 02 01 03 01 56 34 12 EF CD AB 0E 02 01 06 0A 09 ...
///     105  04 3E ...
///
/// Hex digits may be grouped with spaces; times never decrease. Whether a packet is a well-formed
/// event is not checked here: a trace may hold the junk a controller sent, and readers skip what the
/// HCI parser rejects, as the scanner does. A btsnoop capture can be read too (`init(btsnoop:)`).
/// docs/ble.md describes how traces are made.
public struct HCITrace: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var milliseconds: Int64
        public var packet: [UInt8]
        /// 1-based line in the file, for messages.
        public var line: Int
        public init(milliseconds: Int64, packet: [UInt8], line: Int = 0) {
            self.milliseconds = milliseconds
            self.packet = packet
            self.line = line
        }
    }

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let problem: String
        public init(line: Int, problem: String) {
            self.line = line
            self.problem = problem
        }
        public var description: String { "line \(line): \(problem)" }
    }

    /// Traces are read whole; this keeps a wrong path (a disk image, say) from eating the memory.
    public static let maximumFileBytes = 64 << 20

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// The time of the last entry: how long a replay at speed 1 takes.
    public var duration: Int64 { entries.last?.milliseconds ?? 0 }

    public init(parsing text: String) throws(FormatError) {
        var entries: [Entry] = []
        var lineNumber = 0
        var previous: Int64 = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.first == "#" || line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                continue
            }
            let timeText = line.prefix { $0 != " " && $0 != "\t" }
            guard let time = Int64(timeText), time >= 0 else {
                // Quote only a little: the file may not be a trace at all.
                throw FormatError(line: lineNumber,
                                  problem: "\"\(timeText.prefix(20))\" is not a time in milliseconds (0 or more)")
            }
            guard time >= previous else {
                throw FormatError(line: lineNumber, problem: "time \(time) is before the previous entry's \(previous)")
            }
            guard let packet = Self.decodeHex(line.dropFirst(timeText.count)), !packet.isEmpty else {
                throw FormatError(line: lineNumber,
                                  problem: "expected the packet as an even number of hex digits after the time")
            }
            previous = time
            entries.append(Entry(milliseconds: time, packet: packet, line: lineNumber))
        }
        self.entries = entries
    }

    /// Reads and parses a trace file: the text format, or a btsnoop capture (`btmon -w`, Android's
    /// HCI snoop log), recognised by its magic. Errors name the file.
    public static func load(path: String) throws(FormatError) -> HCITrace {
        guard let bytes = readFile(path) else {
            throw FormatError(line: 0, problem: "\(path): cannot read (\(String(cString: strerror(errno))))")
        }
        guard bytes.count <= maximumFileBytes else {
            throw FormatError(line: 0, problem: "\(path): larger than \(maximumFileBytes >> 20) MiB")
        }
        do {
            if bytes.starts(with: btsnoopMagic) { return try HCITrace(btsnoop: bytes) }
            return try HCITrace(parsing: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw FormatError(line: error.line, problem: "\(path): \(error.problem)")
        }
    }

    static let btsnoopMagic: [UInt8] = Array("btsnoop".utf8) + [0]

    /// The HCI event packets of a btsnoop capture, timed from the first one. Datalink types: 2001
    /// (Linux monitor, as `btmon -w` writes; `adapterIndex` picks one controller, nil takes all),
    /// 1002 (HCI UART, H4) and 1001 (unencapsulated HCI). Other packets (commands, ACL, notes) are
    /// skipped. `line` in the entries and errors is the record number, from 1.
    public init(btsnoop bytes: [UInt8], adapterIndex: UInt16? = nil) throws(FormatError) {
        func be32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        guard bytes.count >= 16, bytes.starts(with: Self.btsnoopMagic) else {
            throw FormatError(line: 0, problem: "not a btsnoop capture (no \"btsnoop\" header)")
        }
        guard be32(8) == 1 else { throw FormatError(line: 0, problem: "btsnoop version \(be32(8)); only 1 is known") }
        let datalink = be32(12)
        guard [1001, 1002, 2001].contains(datalink) else {
            throw FormatError(line: 0, problem: "btsnoop datalink \(datalink); known: 1001 (HCI), 1002 (H4), 2001 (monitor)")
        }
        var entries: [Entry] = []
        var offset = 16
        var record = 0
        var first: UInt64?
        while offset < bytes.count {
            record += 1
            guard bytes.count - offset >= 24 else {
                throw FormatError(line: record, problem: "record header cut off at byte \(offset)")
            }
            let included = Int(be32(offset + 4))
            let flags = be32(offset + 8)
            let microseconds = UInt64(be32(offset + 16)) << 32 | UInt64(be32(offset + 20))
            let data = offset + 24
            guard bytes.count - data >= included else {
                throw FormatError(line: record, problem: "record says \(included) bytes, \(bytes.count - data) left")
            }
            offset = data + included
            var packet: [UInt8]?
            switch datalink {
            case 2001:  // flags: adapter index << 16 | opcode; 3 is an event packet
                if flags & 0xFFFF == 3, adapterIndex.map({ UInt32($0) == flags >> 16 }) ?? true {
                    packet = [HCIEvent.packetType] + bytes[data..<offset]
                }
            case 1002:  // the H4 packet type byte comes first
                if included > 0 && bytes[data] == HCIEvent.packetType { packet = Array(bytes[data..<offset]) }
            default:    // 1001: bit 0 received, bit 1 command or event
                if flags & 0x3 == 0x3 { packet = [HCIEvent.packetType] + bytes[data..<offset] }
            }
            guard let packet else { continue }
            let start = first ?? microseconds
            first = start
            let milliseconds = microseconds >= start ? Int64((microseconds - start) / 1000) : 0
            entries.append(Entry(milliseconds: max(milliseconds, entries.last?.milliseconds ?? 0),
                                 packet: packet, line: record))
        }
        self.entries = entries
    }

    /// The text form, one entry per line, readable by `init(parsing:)`.
    public func formatted(header: String? = nil) -> String {
        var out = ""
        if let header { for line in header.split(separator: "\n") { out += "# \(line)\n" } }
        for entry in entries {
            out += "\(entry.milliseconds) " + entry.packet.map(hex).joined(separator: " ") + "\n"
        }
        return out
    }

    /// Hex digits with optional spaces or tabs between them; nil for anything else or an odd count.
    public static func decodeHex(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let value: UInt8
            switch c {
            case 0x30...0x39: value = c - 0x30
            case 0x41...0x46: value = c - 0x41 + 10
            case 0x61...0x66: value = c - 0x61 + 10
            case 0x20, 0x09, 0x0D:
                guard high == nil else { return nil }  // a space inside a byte
                continue
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return high == nil ? out : nil
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            bytes += chunk[0..<count]
            if bytes.count > maximumFileBytes { return bytes }
        }
    }
}
