import CryptoEVP
import Foundation
import JSON
import OCI
import OCITools
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11, class 5: an image cannot reach the host through its rootfs, its size, its device
/// nodes or its setuid files.

/// Applies one layer to a fresh rootfs inside `dir`; `dir/outside` is next to it and no layer may touch it.
@discardableResult
private func apply(_ build: (inout TarWriter) -> Void, in dir: String,
                   options: RootfsWriter.Options = .init()) throws -> RootfsWriter.Stats {
    try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
    var tar = TarWriter()
    build(&tar)
    tar.finish()
    let writer = try RootfsWriter(rootfs: dir + "/rootfs", options: options)
    return try writer.apply(layer: TarReader(MemorySource(tar.bytes)))
}

private func code(_ error: any Error) -> OCIError.Code? { (error as? OCIError)?.code }

private func mode(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode : nil
}

/// Both lines of defence, and the user-space walk alone (a kernel without openat2).
private let resolutions = [true, false]

@Suite struct EscapeTests {
    @Test(arguments: resolutions)
    func absoluteSymlinkEscape(kernel: Bool) throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        #expect {
            try apply({
                $0.addSymlink("etc", target: dir + "/outside")
                $0.addFile("etc/cron.d/pwned", [1])
            }, in: dir, options: .init(kernelResolution: kernel))
        } throws: { code($0) == .unsafePath }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/outside").isEmpty)
    }

    @Test(arguments: resolutions)
    func fileThroughAnEarlierSymlink(kernel: Bool) throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        // A chain: a relative link that stays inside, to one that climbs out.
        #expect {
            try apply({
                $0.addDirectory("usr")
                $0.addSymlink("usr/lib", target: "../lib")
                $0.addSymlink("lib", target: "../outside")
                $0.addFile("usr/lib/pwned", [1])
            }, in: dir, options: .init(kernelResolution: kernel))
        } throws: { code($0) == .unsafePath }
        #expect(!exists(dir + "/outside/pwned"))
        // A relative chain that stays inside is followed.
        let insideDir = dir + "/inside"
        try apply({
            $0.addDirectory("real")
            $0.addSymlink("usr", target: "real")
            $0.addFile("usr/ok", [7])
        }, in: insideDir, options: .init(kernelResolution: kernel))
        #expect(fileBytes(insideDir + "/rootfs/real/ok") == [7])
    }

    @Test(arguments: resolutions)
    func hardLinkEscape(kernel: Bool) throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: dir + "/outside/shadow"))
        #expect {
            try apply({
                $0.addSymlink("host", target: dir + "/outside")
                $0.addHardLink("stolen", target: "host/shadow")
            }, in: dir, options: .init(kernelResolution: kernel))
        } throws: { code($0) == .unsafePath }
        #expect(!exists(dir + "/rootfs/stolen"))
        // A later file written at the link's name must not change the host's file either.
        #expect {
            try apply({ $0.addHardLink("stolen2", target: "../outside/shadow") }, in: dir,
                      options: .init(kernelResolution: kernel))
        } throws: { code($0) == .unsafePath }
        #expect(fileBytes(dir + "/outside/shadow") == Array("secret".utf8))
        var info = stat()
        #expect(stat(dir + "/outside/shadow", &info) == 0 && info.st_nlink == 1)
    }

    @Test(.enabled(if: Beneath.isAvailable, "the kernel has no openat2"))
    func theKernelRefusesOnItsOwn() throws {
        // The first line without the second: openat2 alone refuses absolute links and climbs.
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/rootfs/in", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/rootfs/abs", withDestinationPath: dir)
        try FileManager.default.createSymbolicLink(atPath: dir + "/rootfs/up", withDestinationPath: "../..")
        let root = open(dir + "/rootfs", O_RDONLY | O_DIRECTORY)
        defer { close(root) }
        for path in ["abs", "abs/rootfs", "up", "in/../..", "/tmp", "/proc/self/root"] {
            let outcome = Beneath.open(root, path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            #expect(outcome == .escapes(EXDEV), "\(path): \(outcome)")
        }
        guard case .opened(let fd) = Beneath.open(root, "in", flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC) else {
            Issue.record("in: not opened")
            return
        }
        close(fd)
        #expect(try RootfsWriter(rootfs: dir + "/rootfs").usesKernelResolution)
    }
}

@Suite struct SizeLimitTests {
    @Test func aHugeSizeHeaderStopsBeforeAnyByteIsWritten() throws {
        // A 10 MiB layer that claims 8 GiB: the header alone is refused, nothing is created.
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        var tar = TarWriter()
        tar.addFile("big", [UInt8](repeating: 0, count: 10 << 20))
        var bytes = tar.bytes
        let size = Array("77777777777\0".utf8)  // 8 GiB - 1, octal
        bytes.replaceSubrange(124..<136, with: size)
        for index in 148..<156 { bytes[index] = 0x20 }
        let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
        bytes.replaceSubrange(148..<156, with: Array((String(sum, radix: 8).leftPad(6) + "\0 ").utf8))
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        let writer = try RootfsWriter(rootfs: dir + "/rootfs")
        #expect { try writer.apply(layer: TarReader(MemorySource(bytes))) } throws: { error in
            code(error) == .tooLarge && "\(error)".contains("custom.unpack.max_bytes")
        }
        #expect(!exists(dir + "/rootfs/big"))
    }

    @Test func aCompressedBombStopsAtTheLimit() throws {
        // Many files of zeros in a gzip layer (128 KiB compressed, 16 MiB expanded) under a 4 MiB
        // limit: the unpack stops before the file that would pass it.
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        var tar = TarWriter()
        for index in 0..<16 { tar.addFile("zeros/\(index)", [UInt8](repeating: 0, count: 1 << 20)) }
        tar.finish()
        let compressed = try gzip(tar.bytes)
        #expect(compressed.count < 200 << 10)
        var layout = try OCILayoutWriter(path: dir + "/layout")
        try layout.addImage(layers: [(compressed, OCIMediaType.layerGzip, diffID(tar.bytes))], config: ["Cmd": ["/x"]])
        let image = try OCIImageLayout.open(dir + "/layout").image()
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        let policy = UnpackPolicy(maxBytes: 4 << 20)
        #expect {
            try OCIImageLayout.open(dir + "/layout").unpack(image, into: dir + "/rootfs", options: .init(policy: policy))
        } throws: { code($0) == .tooLarge }
        let written = try FileManager.default.contentsOfDirectory(atPath: dir + "/rootfs/zeros")
        #expect(written.count == 4)
        // The server's check is the same code: it refuses too, and leaves no scratch behind.
        #expect {
            try OCIImageLayout.open(dir + "/layout").inspect(image, policy: policy, scratch: dir + "/scratch")
        } throws: { code($0) == .tooLarge }
        #expect(!exists(dir + "/scratch"))
        // Under the default 1 GiB it unpacks.
        let stats = try OCIImageLayout.open(dir + "/layout").inspect(image, policy: UnpackPolicy(), scratch: dir + "/scratch")
        #expect(stats.bytes == 16 << 20)
    }

    @Test func linkTargetsCountTowardsTheLimit() throws {
        // 100,000 links with 4 KiB targets would be 400 MB of metadata with no file data at all.
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        let target = String(repeating: "x", count: 2000)
        #expect {
            try apply({ tar in for index in 0..<3 { tar.addSymlink("l\(index)", target: target) } }, in: dir,
                      options: .init(policy: UnpackPolicy(maxBytes: 5000)))
        } throws: { code($0) == .tooLarge }
        #expect(exists(dir + "/rootfs/l1") && !exists(dir + "/rootfs/l2"))
    }

    @Test func tooManyEntries() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        #expect {
            try apply({ tar in
                for index in 0..<51 { tar.addDirectory("d\(index)") }
            }, in: dir, options: .init(policy: UnpackPolicy(maxEntries: 50)))
        } throws: { code($0) == .tooLarge && "\($0)".contains("more than 50 entries") }
        #expect(!exists(dir + "/rootfs/d50"))
        #expect(UnpackPolicy().maxEntries == 100_000 && UnpackPolicy().maxBytes == 1 << 30)
    }

    @Test func theFreeSpaceReserveIsKept() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        #expect {
            try apply({ $0.addFile("f", [1, 2, 3]) }, in: dir,
                      options: .init(policy: UnpackPolicy(freeSpaceReserve: 1 << 60)))
        } throws: { code($0) == .diskFull && "\($0)".contains("event log") }
        #expect(!exists(dir + "/rootfs/f"))
    }

    @Test func customUnpackIsRead() throws {
        let policy = try UnpackPolicy(unpack: ["max_bytes": 2048, "max_entries": 10, "allow_setuid": true])
        #expect(policy == UnpackPolicy(maxBytes: 2048, maxEntries: 10, allowSetuid: true))
        #expect(try UnpackPolicy(unpack: nil) == UnpackPolicy())
        #expect(try UnpackPolicy(unpack: policy.json) == policy)
        for bad: JSON in [["max_bytes": 0], ["max_entries": -1], ["allow_setuid": "yes"], ["max_bytes": .int(Int64.max)], "big"] {
            #expect(throws: OCIError.self) { try UnpackPolicy(unpack: bad) }
        }
    }
}

@Suite struct PermissionTests {
    @Test func deviceNodesAndFIFOsAreNeverCreated() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        // As root too (these tests run as root in CI): the writer makes no node at all.
        let stats = try apply({
            $0.addCharacterDevice("dev/mem", major: 1, minor: 1)
            $0.add(path: "dev/sda", type: "4", mode: 0o666, major: 8, minor: 0)
            $0.add(path: "run/fifo", type: "6", mode: 0o666)
            $0.addFile("bin/app", [1])
        }, in: dir)
        #expect(stats.skippedDevices == 3)
        #expect(!exists(dir + "/rootfs/dev/mem") && !exists(dir + "/rootfs/dev/sda") && !exists(dir + "/rootfs/run/fifo"))
        #expect(fileBytes(dir + "/rootfs/bin/app") == [1])
        #expect(stats.notes.contains { $0.contains("dev/mem") && $0.contains("device nodes") })
    }

    @Test func setuidAndSetgidAreClearedUnlessAllowed() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        let layer: (inout TarWriter) -> Void = {
            $0.addFile("bin/su", [1], mode: 0o4755)
            $0.addFile("bin/wall", [1], mode: 0o2755)
            $0.addDirectory("shared", mode: 0o2775)
            $0.addDirectory("tmp", mode: 0o1777)
        }
        let stats = try apply(layer, in: dir)
        #expect(mode(dir + "/rootfs/bin/su").map { $0 & 0o7777 } == 0o755)
        #expect(mode(dir + "/rootfs/bin/wall").map { $0 & 0o7777 } == 0o755)
        #expect(mode(dir + "/rootfs/shared").map { $0 & 0o7777 } == 0o775)
        #expect(mode(dir + "/rootfs/tmp").map { $0 & 0o7777 } == 0o1777)
        #expect(stats.strippedSetuid == 3)

        let allowed = dir + "/allowed"
        try apply(layer, in: allowed, options: .init(policy: UnpackPolicy(allowSetuid: true)))
        #expect(mode(allowed + "/rootfs/bin/su").map { $0 & 0o7777 } == 0o4755)
    }
}

@Suite struct RuntimeUserTests {
    private func config(user: String) throws -> OCIImageConfig {
        try OCIImageConfig(parsing: [
            "config": ["Cmd": ["/app"], "User": .string(user)], "rootfs": ["type": "layers", "diff_ids": []],
        ])
    }

    @Test func containersRunAsNobodyByDefault() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        let document = try RuntimeSpec().document(for: try config(user: ""), rootfsDirectory: dir)
        #expect(document["process"]?["user"]?["uid"] == 65534)
        #expect(document["process"]?["user"]?["gid"] == 65534)
        #expect(document["process"]?["noNewPrivileges"] == true)
    }

    @Test(arguments: ["0", "root", "0:0"])
    func anImageAskingForRootIsRefusedUnlessAllowed(user: String) throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try Data("root:x:0:0::/root:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: dir + "/etc/passwd"))
        var spec = RuntimeSpec()
        #expect { try spec.document(for: try config(user: user), rootfsDirectory: dir) } throws: {
            "\($0)".contains("custom.allow_root")
        }
        spec.allowRoot = true
        #expect(try spec.document(for: try config(user: user), rootfsDirectory: dir)["process"]?["user"]?["uid"] == 0)
    }
}

extension String {
    fileprivate func leftPad(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - utf8.count)) + self
    }
}
