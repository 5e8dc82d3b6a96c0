/// One entry of a tar stream, with pax and GNU long-name extensions already applied.
public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case regular, hardLink, symbolicLink, characterDevice, blockDevice, directory, fifo
        /// A type flag this reader does not interpret (e.g. 'S' sparse); the data is skipped.
        case other(UInt8)
    }

    public var kind: Kind
    /// As stored: may start with "./" or end with "/"; see `OCIPath` for the checked form.
    public var path: String
    /// The target of a symbolic or hard link.
    public var linkTarget: String
    /// Permission bits, including setuid, setgid and sticky.
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var size: Int64
    /// Seconds since the Unix epoch.
    public var modificationTime: Int64
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Offset of the entry's data in the tar stream, for indexing an uncompressed archive.
    public var dataOffset: Int64
}

/// Reads a tar stream front to back (POSIX ustar, pax extended headers, GNU long names and links,
/// GNU base-256 numbers), without holding entry data in memory.
///
/// Call `next()` for each entry and `readData(into:)` for its contents; data left unread is
/// skipped by the following `next()`.
public final class TarReader {
    private let source: ByteSource
    /// Bytes consumed from the source.
    public private(set) var position: Int64 = 0
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var ended = false

    /// Upper bounds on the metadata a hostile stream could make us hold.
    static let maxExtendedHeader = 1 << 20
    static let maxLongName = 64 * 1024
    /// Far above any real entry, and far enough below Int64.max that size, padding and position add
    /// up without overflow.
    static let maxEntrySize: Int64 = 1 << 50

    public init(_ source: ByteSource) {
        self.source = source
    }

    /// The next entry, or nil after the end-of-archive marker (or a clean end of stream).
    public func next() throws(OCIError) -> TarEntry? {
        guard !ended else { return nil }
        try skipRest()
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        while true {
            guard let block = try readHeaderBlock() else {
                ended = true
                return nil
            }
            if block.allSatisfy({ $0 == 0 }) {
                // End-of-archive: two zero blocks (tolerate one, as GNU tar does).
                ended = true
                return nil
            }
            try verifyChecksum(block)
            let type = block[156]
            let size = try number(block, 124, 12, "size")
            guard size >= 0 else { throw OCIError(.invalidTar, "tar header at offset \(position - 512) has a negative size") }
            try TarReader.checkEntrySize(size, at: position - 512)
            switch type {
            case UInt8(ascii: "x"):
                let data = try readMeta(size: size, limit: TarReader.maxExtendedHeader, what: "pax extended header")
                for (key, value) in try parsePax(data) { pax[key] = value }
                continue
            case UInt8(ascii: "g"):
                // Global pax headers set defaults for later entries; layers do not rely on them.
                _ = try readMeta(size: size, limit: TarReader.maxExtendedHeader, what: "pax global header")
                continue
            case UInt8(ascii: "L"):
                longName = try cString(try readMeta(size: size, limit: TarReader.maxLongName, what: "GNU long name"), "GNU long name")
                continue
            case UInt8(ascii: "K"):
                longLink = try cString(try readMeta(size: size, limit: TarReader.maxLongName, what: "GNU long link"), "GNU long link")
                continue
            default:
                break
            }
            var entry = try decode(block, type: type, size: size)
            if let longName { entry.path = longName }
            if let longLink { entry.linkTarget = longLink }
            try apply(pax, to: &entry)
            // Pre-POSIX tars mark directories only by a trailing slash on the (full) name.
            if type == 0 && entry.path.utf8.last == UInt8(ascii: "/") { entry.kind = .directory }
            // Only regular files (and unknown types) carry data; a link's size field is ignored.
            let carriesData: Bool
            switch entry.kind {
            case .regular, .other: carriesData = true
            default: carriesData = false
            }
            if !carriesData { entry.size = 0 }
            let stored = carriesData ? entry.size : 0
            remaining = stored
            padding = (512 - stored % 512) % 512
            entry.dataOffset = position
            return entry
        }
    }

    /// Reads the current entry's data; 0 at its end.
    public func readData(into buffer: UnsafeMutableRawBufferPointer) throws(OCIError) -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), remaining))
        let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        if got == 0 {
            throw OCIError(.invalidTar, "tar stream ends inside an entry's data (truncated archive)")
        }
        remaining -= Int64(got)
        position += Int64(got)
        return got
    }

    // MARK: Blocks

    private func skipRest() throws(OCIError) {
        let count = remaining + padding
        if count > 0 {
            try source.skip(count)
            position += count
        }
        remaining = 0
        padding = 0
    }

    /// A full 512-byte block, or nil at a clean end of stream.
    private func readHeaderBlock() throws(OCIError) -> [UInt8]? {
        var block = [UInt8](repeating: 0, count: 512)
        var filled = 0
        while filled < 512 {
            let got = try block.withBytes { buffer throws(OCIError) in
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            }
            if got == 0 {
                if filled == 0 { return nil }
                throw OCIError(.invalidTar, "tar stream ends inside a header (truncated archive)")
            }
            filled += got
        }
        position += 512
        return block
    }

    private func readMeta(size: Int64, limit: Int, what: String) throws(OCIError) -> [UInt8] {
        guard size <= Int64(limit) else {
            throw OCIError(.tooLarge, "\(what) of \(size) bytes exceeds the \(limit)-byte limit")
        }
        var data = [UInt8](repeating: 0, count: Int(size))
        var filled = 0
        while filled < data.count {
            let got = try data.withBytes { buffer throws(OCIError) in
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            }
            if got == 0 { throw OCIError(.invalidTar, "tar stream ends inside a \(what)") }
            filled += got
        }
        position += size
        let pad = (512 - size % 512) % 512
        try source.skip(pad)
        position += pad
        return data
    }

    // MARK: Header fields

    private func verifyChecksum(_ block: [UInt8]) throws(OCIError) {
        let stored = try number(block, 148, 8, "checksum")
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in block.enumerated() {
            let value = (148..<156).contains(index) ? 0x20 : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw OCIError(.invalidTar, "tar header at offset \(position - 512) has a bad checksum "
                               + "(not a tar stream, or a corrupt one)")
        }
    }

    private func decode(_ block: [UInt8], type: UInt8, size: Int64) throws(OCIError) -> TarEntry {
        let kind: TarEntry.Kind
        switch type {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): kind = .regular
        case UInt8(ascii: "1"): kind = .hardLink
        case UInt8(ascii: "2"): kind = .symbolicLink
        case UInt8(ascii: "3"): kind = .characterDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "6"): kind = .fifo
        default: kind = .other(type)
        }
        var name = try field(block, 0, 100, "name")
        // POSIX ustar splits long names into prefix + name; old GNU headers use that area otherwise.
        let isPOSIX = Array(block[257..<263]) == Array("ustar\0".utf8)
        if isPOSIX {
            let prefix = try field(block, 345, 155, "name prefix")
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        return TarEntry(
            kind: kind, path: name, linkTarget: try field(block, 157, 100, "link name"),
            mode: UInt32(truncatingIfNeeded: try number(block, 100, 8, "mode") & 0o7777),
            uid: Int(try number(block, 108, 8, "uid")), gid: Int(try number(block, 116, 8, "gid")),
            size: size, modificationTime: try number(block, 136, 12, "mtime"),
            deviceMajor: UInt32(truncatingIfNeeded: try number(block, 329, 8, "devmajor")),
            deviceMinor: UInt32(truncatingIfNeeded: try number(block, 337, 8, "devminor")),
            dataOffset: 0)
    }

    private func field(_ block: [UInt8], _ offset: Int, _ length: Int, _ what: String) throws(OCIError) -> String {
        try cString(Array(block[offset..<offset + length]), what)
    }

    private func cString(_ bytes: [UInt8], _ what: String) throws(OCIError) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return try utf8(bytes[0..<end], what)
    }

    /// Names must be valid UTF-8. Decoding with replacement would write a file under a name the
    /// layer never gave, and an overlong form such as C0 AF must never be read as "/".
    private func utf8(_ bytes: ArraySlice<UInt8>, _ what: String) throws(OCIError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw OCIError(.unsafePath, "tar \(what) near offset \(position) is not valid UTF-8 (overlong or "
                               + "truncated sequence); refusing it (rebuild the image with UTF-8 file names)")
        }
        return text
    }

    /// Octal ASCII (space or NUL padded), or GNU base-256 when the first byte has its high bit set.
    private func number(_ block: [UInt8], _ offset: Int, _ length: Int, _ name: String) throws(OCIError) -> Int64 {
        let bytes = block[offset..<offset + length]
        if let first = bytes.first, first & 0x80 != 0 {
            guard first & 0x40 == 0 else {
                throw OCIError(.invalidTar, "tar header field \(name) is a negative base-256 number")
            }
            var value: Int64 = Int64(first & 0x3F)
            for byte in bytes.dropFirst() {
                guard value < Int64.max >> 8 else { throw OCIError(.invalidTar, "tar header field \(name) overflows") }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var seenDigit = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard value < Int64.max >> 3 else { throw OCIError(.invalidTar, "tar header field \(name) overflows") }
                value = value << 3 | Int64(byte - UInt8(ascii: "0"))
                seenDigit = true
            case 0, UInt8(ascii: " "):
                if seenDigit { return value }
            default:
                throw OCIError(.invalidTar, "tar header at offset \(position - 512) has a malformed \(name) field")
            }
        }
        return value
    }

    private static func checkEntrySize(_ size: Int64, at offset: Int64) throws(OCIError) {
        guard size <= maxEntrySize else {
            throw OCIError(.invalidTar, "tar entry at offset \(offset) claims \(size) bytes, more than any real file "
                               + "(\(maxEntrySize)); the archive is corrupt or hostile")
        }
    }

    // MARK: pax

    /// Records are "LENGTH key=value\n", LENGTH counting the whole record.
    private func parsePax(_ data: [UInt8]) throws(OCIError) -> [(String, String)] {
        var records: [(String, String)] = []
        var index = 0
        while index < data.count {
            if data[index] == 0 { break }
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
                  length > space - index, length <= data.count - index, data[index + length - 1] == 0x0A,
                  let equals = data[(space + 1)..<(index + length)].firstIndex(of: UInt8(ascii: "="))
            else {
                throw OCIError(.invalidTar, "malformed pax extended header record at offset \(index)")
            }
            let key = String(decoding: data[(space + 1)..<equals], as: UTF8.self)
            let raw = data[(equals + 1)..<(index + length - 1)]
            let value = key == "path" || key == "linkpath"
                ? try utf8(raw, "pax \(key)") : String(decoding: raw, as: UTF8.self)
            records.append((key, value))
            index += length
        }
        return records
    }

    private func apply(_ pax: [String: String], to entry: inout TarEntry) throws(OCIError) {
        if let path = pax["path"] { entry.path = path }
        if let link = pax["linkpath"] { entry.linkTarget = link }
        func integer(_ key: String) throws(OCIError) -> Int64? {
            guard let text = pax[key] else { return nil }
            // mtime may have a fraction: "1700000000.123456789".
            let whole = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let value = Int64(whole) else {
                throw OCIError(.invalidTar, "pax header \(key)=\(text) is not a number")
            }
            return value
        }
        if let size = try integer("size") {
            guard size >= 0 else { throw OCIError(.invalidTar, "pax header size is negative") }
            try TarReader.checkEntrySize(size, at: position - 512)
            entry.size = size
        }
        if let uid = try integer("uid") { entry.uid = Int(uid) }
        if let gid = try integer("gid") { entry.gid = Int(gid) }
        if let mtime = try integer("mtime") { entry.modificationTime = mtime }
    }
}
