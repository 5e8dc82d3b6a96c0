import Foundation
import OCI
import OCITools
import Testing

private func entries(_ bytes: [UInt8]) throws -> [(TarEntry, [UInt8])] {
    let reader = TarReader(MemorySource(bytes))
    var out: [(TarEntry, [UInt8])] = []
    while let entry = try reader.next() {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 7)  // odd size: data spans several reads
        while true {
            let got = try chunk.withUnsafeMutableBytes { try reader.readData(into: $0) }
            if got == 0 { break }
            data += chunk[0..<got]
        }
        out.append((entry, data))
    }
    return out
}

@Suite struct TarReaderTests {
    @Test func readsWhatTheWriterWrote() throws {
        var tar = TarWriter()
        tar.addDirectory("usr/bin", mode: 0o755)
        tar.addFile("usr/bin/hello", Array("hi\n".utf8), mode: 0o4755, uid: 12, gid: 34, mtime: 1_700_000_000)
        tar.addSymlink("usr/bin/hey", target: "hello")
        tar.addHardLink("usr/bin/hello2", target: "usr/bin/hello")
        let long = String(repeating: "d/", count: 70) + "file.txt"
        tar.addFile(long, Array(repeating: 0x41, count: 1000))
        tar.finish()
        let read = try entries(tar.bytes)
        #expect(read.map(\.0.path) == ["usr/bin/", "usr/bin/hello", "usr/bin/hey", "usr/bin/hello2", long])
        #expect(read[0].0.kind == .directory)
        #expect(read[1].0.kind == .regular && read[1].1 == Array("hi\n".utf8))
        #expect(read[1].0.mode == 0o4755 && read[1].0.uid == 12 && read[1].0.gid == 34)
        #expect(read[1].0.modificationTime == 1_700_000_000)
        #expect(read[2].0.kind == .symbolicLink && read[2].0.linkTarget == "hello")
        #expect(read[3].0.kind == .hardLink && read[3].0.linkTarget == "usr/bin/hello")
        #expect(read[4].1.count == 1000)
    }

    @Test(arguments: ["gnu", "pax", "ustar"])
    func readsGNUTarFormats(format: String) throws {
        let dir = makeTemporaryDirectory("tar")
        defer { removeTree(dir) }
        let deep = String(repeating: "long-directory-name/", count: 8)
        try FileManager.default.createDirectory(atPath: dir + "/src/" + deep, withIntermediateDirectories: true)
        try Data("payload".utf8).write(to: URL(fileURLWithPath: dir + "/src/" + deep + "f.txt"))
        let linkTarget = String(repeating: "t", count: 120)
        try FileManager.default.createSymbolicLink(atPath: dir + "/src/link", withDestinationPath: linkTarget)
        let arguments = ["-C", dir + "/src", "--format=" + format, "-cf", "-", "."]
        if format == "ustar" {
            // ustar cannot hold a 120-byte link target; GNU tar refuses it, which is its business.
            try FileManager.default.removeItem(atPath: dir + "/src/link")
        }
        let bytes = try run("/usr/bin/tar", arguments)
        let read = try entries(bytes)
        let file = try #require(read.first { $0.0.path.hasSuffix("f.txt") })
        #expect(file.0.path == "./" + deep + "f.txt")
        #expect(file.1 == Array("payload".utf8))
        if format != "ustar" {
            let link = try #require(read.first { $0.0.path == "./link" })
            #expect(link.0.linkTarget == linkTarget)
        }
    }

    @Test func badChecksumIsRefused() throws {
        var tar = TarWriter()
        tar.addFile("a", [1, 2, 3])
        tar.finish()
        var bytes = tar.bytes
        bytes[10] ^= 0xFF
        #expect { try entries(bytes) } throws: { ($0 as? OCIError)?.code == .invalidTar }
    }

    @Test func truncatedDataIsRefused() throws {
        var tar = TarWriter()
        tar.addFile("a", [UInt8](repeating: 7, count: 2000))
        #expect { try entries(Array(tar.bytes.prefix(1024))) } throws: { ($0 as? OCIError)?.code == .invalidTar }
    }
}
