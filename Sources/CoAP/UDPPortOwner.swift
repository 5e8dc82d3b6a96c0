#if canImport(Glibc)
import Glibc
#endif

/// Who already holds a UDP address, from /proc: libcoap binds with SO_REUSEADDR, with which Linux
/// lets a second UDP socket bind the same port without an error and then splits the datagrams
/// between the two. So a clash (the gateway and the update server's push on one host) must be
/// looked for before binding, and is reported as "pid N (command line)" when /proc tells the
/// process, which it does for the same user or root.
public func udpPortHolder(host: String, port: UInt16) -> String? {
    let wanted = LiteralAddress(host)
    var inodes = Set<Substring>()
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        guard let text = readSmallFile(table) else { continue }
        // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …": the local
        // address as the kernel's words in hex, then the port.
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, let colon = fields[1].lastIndex(of: ":"),
                  UInt16(fields[1][fields[1].index(after: colon)...], radix: 16) == port
            else { continue }
            let bound = LiteralAddress(procHex: fields[1][..<colon])
            guard wanted.overlaps(bound) else { continue }
            inodes.insert(fields[9])
        }
    }
    // This process's own sockets are its business (two contexts may share a port on purpose).
    inodes.subtract(socketInodes(of: "self"))
    guard !inodes.isEmpty else { return nil }
    return processHolding(inodes) ?? "another process (one /proc does not show to this user)"
}

/// The inodes of the sockets a process holds ("self" or a pid).
private func socketInodes(of process: String) -> Set<Substring> {
    var found = Set<Substring>()
    guard let fds = opendir("/proc/\(process)/fd") else { return found }
    defer { closedir(fds) }
    while let fd = readdir(fds) {
        var target = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/\(process)/fd/\(name(of: fd))", &target, target.count - 1)
        guard count > 0 else { continue }
        let link = String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link.hasPrefix("socket:[") { found.insert(Substring(String(link.dropFirst(8).dropLast()))) }
    }
    return found
}

/// An address as /proc/net/udp prints it, or as a listen host names it: four 32-bit words (IPv4
/// in the first), empty for a wildcard, nil for a host name.
private struct LiteralAddress {
    var words: [UInt32]?

    init(_ host: String) {
        if host.isEmpty || host == "0.0.0.0" || host == "::" { words = []; return }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { words = [v4.s_addr]; return }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            words = withUnsafeBytes(of: &v6) { raw in (0..<4).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
            if words!.allSatisfy({ $0 == 0 }) { words = [] }
            return
        }
        words = nil
    }

    init(procHex: Substring) {
        var parsed: [UInt32] = []
        var index = procHex.startIndex
        while index < procHex.endIndex {
            let end = procHex.index(index, offsetBy: 8, limitedBy: procHex.endIndex) ?? procHex.endIndex
            parsed.append(UInt32(procHex[index..<end], radix: 16) ?? 0)
            index = end
        }
        words = parsed.allSatisfy { $0 == 0 } ? [] : parsed
    }

    /// Whether a socket bound here receives what one bound at `other` would: a wildcard on either
    /// side, the same address, or a host name (unknown until resolved: assume so).
    func overlaps(_ other: LiteralAddress) -> Bool {
        guard let mine = words, let theirs = other.words else { return true }
        return mine.isEmpty || theirs.isEmpty || mine == theirs
            || (mine.count == 1 && theirs == [0, 0, 0xFFFF_0000, mine[0]])
    }
}

/// The first process with a socket of one of these inodes.
private func processHolding(_ inodes: Set<Substring>) -> String? {
    guard let proc = opendir("/proc") else { return nil }
    defer { closedir(proc) }
    while let entry = readdir(proc) {
        let pid = name(of: entry)
        guard Int32(pid) != nil, !socketInodes(of: pid).isDisjoint(with: inodes) else { continue }
        let command = readSmallFile("/proc/\(pid)/cmdline")
            .map { $0.split(separator: "\0").prefix(4).joined(separator: " ") } ?? "?"
        // Printable ASCII only: the command line is another user's text.
        let shown = String(decoding: command.utf8.prefix(160).map { (0x20..<0x7f).contains($0) ? $0 : UInt8(ascii: "?") },
                           as: UTF8.self)
        return "pid \(pid) (\(shown))"
    }
    return nil
}

private func name(of entry: UnsafeMutablePointer<dirent>) -> String {
    withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// Up to 1 MiB of a /proc file (their sizes read as 0, so read until end of file).
private func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    while bytes.count < 1 << 20 {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes += buffer[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
