import Foundation
@testable import OCI
import OCITools
import Testing

// Paths from a layer are bytes to the kernel. These names put a "/" into one Swift Character with a
// prepend scalar before it (U+0600) or a combining scalar after it (U+0301), or spell it as an
// overlong UTF-8 form; each must still be seen as a separator, or refused.

private func isUnsafe(_ error: any Error) -> Bool { (error as? OCIError)?.code == .unsafePath }

/// A fresh rootfs and a sibling `outside` directory that no layer may touch.
private func applyLayer(in dir: String, _ build: (inout TarWriter) -> Void) throws {
    try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
    var tar = TarWriter()
    build(&tar)
    tar.finish()
    try RootfsWriter(rootfs: dir + "/rootfs").apply(layer: TarReader(MemorySource(tar.bytes)))
}

/// One ustar header block with raw name and link-name bytes, and a valid checksum.
private func rawHeader(name: [UInt8], link: [UInt8] = [], type: UInt8) -> [UInt8] {
    var block = [UInt8](repeating: 0, count: 512)
    block.replaceSubrange(0..<name.count, with: name)
    for (offset, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (124, "00000000000"), (136, "00000000000")] {
        block.replaceSubrange(offset..<offset + text.count, with: Array(text.utf8))
    }
    block[156] = type
    block.replaceSubrange(157..<157 + link.count, with: link)
    block.replaceSubrange(257..<265, with: Array("ustar\u{0}00".utf8))
    for index in 148..<156 { block[index] = 0x20 }
    let sum = block.reduce(0) { $0 + Int($1) }
    let digits = Array(String(sum, radix: 8).utf8)
    let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20]
    block.replaceSubrange(148..<156, with: field)
    return block
}

/// A pax header whose `key` record holds `value` as raw bytes, then a plain file entry.
private func paxEntry(key: String, value: [UInt8]) -> [UInt8] {
    let tail = Array(" \(key)=".utf8) + value + [0x0A]
    var length = tail.count + 1
    while String(length).utf8.count + tail.count > length { length += 1 }
    let body = Array(String(length).utf8) + tail
    var header = rawHeader(name: Array("PaxHeaders/x".utf8), type: UInt8(ascii: "x"))
    let size = Array(String(body.count, radix: 8).utf8)
    header.replaceSubrange(124..<135, with: [UInt8](repeating: UInt8(ascii: "0"), count: 11 - size.count) + size)
    // The size changed: checksum again.
    for index in 148..<156 { header[index] = 0x20 }
    let sum = header.reduce(0) { $0 + Int($1) }
    let digits = Array(String(sum, radix: 8).utf8)
    header.replaceSubrange(148..<156, with: [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20])
    let padded = body + [UInt8](repeating: 0, count: (512 - body.count % 512) % 512)
    return header + padded + rawHeader(name: Array("plain".utf8), type: UInt8(ascii: "0"))
}

@Suite struct TextIsBytesTests {
    @Test(arguments: [
        ("a\u{0600}/b", ["a\u{0600}", "b"]),
        ("a/\u{0301}b", ["a", "\u{0301}b"]),
        ("usr\u{0600}/bin\u{0600}/sh", ["usr\u{0600}", "bin\u{0600}", "sh"]),
    ])
    func pathsSplitOnSlashBytes(text: String, expected: [String]) throws {
        let components = try OCIPath(text).components
        #expect(components.map { Array($0.utf8) } == expected.map { Array($0.utf8) })
        #expect(components.allSatisfy { !$0.utf8.contains(UInt8(ascii: "/")) })
    }

    @Test(arguments: [
        "/\u{0301}etc/passwd",      // absolute to the kernel; its first Character is not "/"
        "x\u{0600}/..",             // ".." hidden behind a prepend scalar
        "x\u{0600}/../\u{0600}etc",
    ])
    func hiddenAbsoluteOrDotDotIsRefused(text: String) {
        #expect { try OCIPath(text) } throws: { isUnsafe($0) }
    }

    @Test func removalSplitsOnSlashBytes() {
        let (parent, name) = FileTree.split("/srv/slot/link/\u{0301}victim")
        #expect(Array(parent.utf8) == Array("/srv/slot/link".utf8))
        #expect(Array(name.utf8) == Array("\u{0301}victim".utf8))
        let (parent2, name2) = FileTree.split("/srv/slot/link\u{0600}/victim")
        #expect(Array(parent2.utf8) == Array("/srv/slot/link\u{0600}".utf8))
        #expect(name2 == "victim")
    }

    @Test func fileThroughAnAbsoluteLinkBehindAPrependScalarIsRefused() throws {
        let dir = makeTemporaryDirectory("bytes")
        defer { removeTree(dir) }
        #expect {
            try applyLayer(in: dir) {
                $0.addSymlink("l\u{0600}", target: dir + "/outside")
                $0.addFile("l\u{0600}/pwned", [1])
            }
        } throws: { isUnsafe($0) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/outside").isEmpty)
    }

    @Test func fileThroughAnAbsoluteLinkBeforeACombiningScalarIsRefused() throws {
        let dir = makeTemporaryDirectory("bytes")
        defer { removeTree(dir) }
        #expect {
            try applyLayer(in: dir) {
                $0.addSymlink("l", target: dir + "/outside")
                $0.addFile("l/\u{0301}pwned", [1])
            }
        } throws: { isUnsafe($0) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/outside").isEmpty)
    }

    @Test func hardLinkToAHostFileBehindAPrependScalarIsRefused() throws {
        let dir = makeTemporaryDirectory("bytes")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        try Data([7]).write(to: URL(fileURLWithPath: dir + "/outside/secret"))
        #expect {
            try applyLayer(in: dir) {
                $0.addSymlink("l\u{0600}", target: dir + "/outside")
                $0.addHardLink("stolen", target: "l\u{0600}/secret")
            }
        } throws: { isUnsafe($0) }
        #expect(!exists(dir + "/rootfs/stolen"))
    }

    @Test func whiteoutThroughAnAbsoluteLinkRemovesNothingOutside() throws {
        let dir = makeTemporaryDirectory("bytes")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        try Data([7]).write(to: URL(fileURLWithPath: dir + "/outside/victim"))
        try? applyLayer(in: dir) {
            $0.addSymlink("l\u{0600}", target: dir + "/outside")
            $0.addFile(".wh.l\u{0600}/victim", [])
        }
        #expect(exists(dir + "/outside/victim"))
    }

    @Test func linkWhoseTargetIsAbsoluteOnlyInBytesIsNotFollowed() throws {
        let dir = makeTemporaryDirectory("bytes")
        // The kernel reads this target from "/": a directory at the host's root.
        let host = "/\u{0301}nanoedge-test-" + UUID().uuidString.prefix(8)
        defer {
            removeTree(dir)
            removeTree(host)
        }
        #expect {
            try applyLayer(in: dir) {
                $0.addSymlink("l", target: host)
                $0.addFile("l/pwned", [1])
            }
        } throws: { isUnsafe($0) }
        #expect(!exists(host))
    }

    @Test(arguments: [
        // "a" C0 AF "b": an overlong "/", which a lax decoder reads as "a/b".
        (name: [0x61, 0xC0, 0xAF, 0x62] as [UInt8], link: [] as [UInt8], type: UInt8(ascii: "0")),
        (name: [0x61, 0xE0, 0x80, 0xAF, 0x62], link: [], type: UInt8(ascii: "0")),
        (name: [0x6C], link: [0xC0, 0xAF, 0x65, 0x74, 0x63], type: UInt8(ascii: "2")),
        (name: [0x61, 0xFF], link: [], type: UInt8(ascii: "0")),
    ])
    func headerNamesThatAreNotUTF8AreRefused(name: [UInt8], link: [UInt8], type: UInt8) {
        let tar = rawHeader(name: name, link: link, type: type) + [UInt8](repeating: 0, count: 1024)
        #expect { try TarReader(MemorySource(tar)).next() } throws: { isUnsafe($0) }
    }

    @Test(arguments: ["path", "linkpath"])
    func paxNamesThatAreNotUTF8AreRefused(key: String) {
        let tar = paxEntry(key: key, value: [0x61, 0xC0, 0xAF, 0x62]) + [UInt8](repeating: 0, count: 1024)
        #expect { try TarReader(MemorySource(tar)).next() } throws: { isUnsafe($0) }
    }
}

@Suite struct ImageUserBytesTests {
    /// A rootfs with these /etc/passwd and /etc/group.
    private func rootfs(passwd: String, group: String = "") throws -> String {
        let dir = makeTemporaryDirectory("user")
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try Data(passwd.utf8).write(to: URL(fileURLWithPath: dir + "/etc/passwd"))
        try Data(group.utf8).write(to: URL(fileURLWithPath: dir + "/etc/group"))
        return dir
    }

    @Test func crlfPasswdIsReadPerLine() throws {
        // CR LF is one Character: split per Character, the file is a single line and "app" is not found.
        let dir = try rootfs(passwd: "root:x:0:0:root:/root:/bin/sh\r\napp:x:1000:1001::/home/app:/bin/sh\r\n",
                             group: "root:x:0:\r\nstaff:x:50:\r\n")
        defer { removeTree(dir) }
        let user = try ImageUser.resolve("app:staff", rootfs: dir)
        #expect(user.uid == 1000 && user.gid == 50)
    }

    @Test func aNameWithACombiningMarkIsNotAnotherName() throws {
        // "e" + U+0301 and "é" are equal as Swift Strings, but getpwnam compares bytes.
        let dir = try rootfs(passwd: "root:x:0:0::/:/bin/sh\ncafe\u{0301}:x:0:0::/:/bin/sh\ncaf\u{E9}:x:1000:1000::/:/bin/sh\n")
        defer { removeTree(dir) }
        #expect(try ImageUser.resolve("caf\u{E9}", rootfs: dir).uid == 1000)
    }
}
