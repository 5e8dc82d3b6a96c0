import OCI

/// Writes a tar stream in memory: ustar headers, with a pax extended header for names or link
/// targets that do not fit. For building layers and archives (release tooling, tests); the agent
/// only reads tars.
public struct TarWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func addDirectory(_ path: String, mode: UInt32 = 0o755, uid: Int = 0, gid: Int = 0, mtime: Int64 = 0) {
        add(path: path.hasSuffix("/") ? path : path + "/", type: "5", mode: mode, uid: uid, gid: gid, mtime: mtime)
    }

    public mutating func addFile(_ path: String, _ data: [UInt8], mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0,
                                 mtime: Int64 = 0) {
        add(path: path, type: "0", mode: mode, uid: uid, gid: gid, mtime: mtime, data: data)
    }

    public mutating func addSymlink(_ path: String, target: String) {
        add(path: path, type: "2", mode: 0o777, link: target)
    }

    public mutating func addHardLink(_ path: String, target: String) {
        add(path: path, type: "1", mode: 0o644, link: target)
    }

    public mutating func addCharacterDevice(_ path: String, major: UInt32, minor: UInt32) {
        add(path: path, type: "3", mode: 0o666, major: major, minor: minor)
    }

    /// The two zero blocks that end an archive.
    public mutating func finish() {
        bytes += [UInt8](repeating: 0, count: 1024)
    }

    public mutating func add(path: String, type: Character, mode: UInt32, uid: Int = 0, gid: Int = 0, mtime: Int64 = 0,
                             link: String = "", data: [UInt8] = [], major: UInt32 = 0, minor: UInt32 = 0) {
        var pax: [(String, String)] = []
        if path.utf8.count > 100 { pax.append(("path", path)) }
        if link.utf8.count > 100 { pax.append(("linkpath", link)) }
        if !pax.isEmpty {
            var body: [UInt8] = []
            for (key, value) in pax {
                let tail = " \(key)=\(value)\n"
                // The length counts its own digits.
                var length = tail.utf8.count + 1
                while String(length).utf8.count + tail.utf8.count > length { length += 1 }
                body += Array((String(length) + tail).utf8)
            }
            header(path: "PaxHeaders/" + String(path.suffix(80)), type: "x", mode: 0o644, uid: 0, gid: 0, mtime: mtime,
                   link: "", size: body.count, major: 0, minor: 0)
            append(body)
        }
        header(path: path, type: type, mode: mode, uid: uid, gid: gid, mtime: mtime, link: link, size: data.count,
               major: major, minor: minor)
        append(data)
    }

    private mutating func append(_ data: [UInt8]) {
        bytes += data
        let pad = (512 - data.count % 512) % 512
        bytes += [UInt8](repeating: 0, count: pad)
    }

    private mutating func header(path: String, type: Character, mode: UInt32, uid: Int, gid: Int, mtime: Int64,
                                 link: String, size: Int, major: UInt32, minor: UInt32) {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int64, _ offset: Int, _ length: Int) {
            var digits = String(value, radix: 8)
            while digits.count < length - 1 { digits = "0" + digits }
            put(digits, offset, length - 1)
        }
        put(String(path.utf8.prefix(100))!, 0, 100)
        octal(Int64(mode), 100, 8)
        octal(Int64(uid), 108, 8)
        octal(Int64(gid), 116, 8)
        octal(Int64(size), 124, 12)
        octal(mtime, 136, 12)
        block[156] = type.asciiValue!
        put(String(link.utf8.prefix(100))!, 157, 100)
        put("ustar\0", 257, 6)
        put("00", 263, 2)
        octal(Int64(major), 329, 8)
        octal(Int64(minor), 337, 8)
        for index in 148..<156 { block[index] = 0x20 }
        let sum = block.reduce(0) { $0 + Int64($1) }
        var digits = String(sum, radix: 8)
        while digits.count < 6 { digits = "0" + digits }
        put(digits + "\0 ", 148, 8)
        bytes += block
    }
}
