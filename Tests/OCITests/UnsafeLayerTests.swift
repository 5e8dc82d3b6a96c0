import Foundation
import OCI
import OCITools
import Testing

/// Applies one layer to a fresh rootfs inside `dir`; `dir/outside` is a directory next to it that
/// no layer may touch.
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

private func isUnsafe(_ error: any Error) -> Bool { (error as? OCIError)?.code == .unsafePath }

@Suite struct UnsafeLayerTests {
    @Test func dotDotEntryIsRefused() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        #expect(throws: OCIError.self) {
            try apply({ $0.addFile("../outside/pwned", [1]) }, in: dir)
        }
        #expect { try apply({ $0.addFile("a/../../outside/pwned", [1]) }, in: dir) } throws: { isUnsafe($0) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/outside").isEmpty)
    }

    @Test func absolutePathIsRefused() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        #expect { try apply({ $0.addFile(dir + "/outside/pwned", [1]) }, in: dir) } throws: { isUnsafe($0) }
        #expect(!exists(dir + "/outside/pwned"))
    }

    @Test func writingThroughAnAbsoluteSymlinkIsRefused() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        #expect {
            try apply({
                $0.addSymlink("escape", target: dir + "/outside")
                $0.addFile("escape/pwned", [1])
            }, in: dir)
        } throws: { isUnsafe($0) }
        #expect(!exists(dir + "/outside/pwned"))
    }

    @Test func writingThroughAnEscapingRelativeSymlinkIsRefused() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        #expect {
            try apply({
                $0.addDirectory("a")
                $0.addSymlink("a/up", target: "../../outside")
                $0.addFile("a/up/pwned", [1])
            }, in: dir)
        } throws: { isUnsafe($0) }
        #expect(!exists(dir + "/outside/pwned"))
        // Hard links resolve their target the same way.
        #expect {
            try apply({
                $0.addSymlink("up", target: "../outside")
                $0.addHardLink("stolen", target: "up/secret")
            }, in: dir)
        } throws: { isUnsafe($0) }
    }

    @Test func absoluteSymlinksAsEntriesAreKeptAsLinks() throws {
        // A link is only read inside the container; creating it is harmless, following it is not.
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        try apply({ $0.addSymlink("bin/sh", target: "/bin/busybox") }, in: dir)
        #expect(linkTarget(dir + "/rootfs/bin/sh") == "/bin/busybox")
    }

    @Test func replacingALinkWithAFileDoesNotWriteThroughIt() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        try Data("host".utf8).write(to: URL(fileURLWithPath: dir + "/victim"))
        try apply({
            $0.addSymlink("etc-file", target: dir + "/victim")
            $0.addFile("etc-file", Array("layer".utf8))
        }, in: dir)
        #expect(fileBytes(dir + "/victim") == Array("host".utf8))
        #expect(fileBytes(dir + "/rootfs/etc-file") == Array("layer".utf8))
    }

    @Test func whiteoutCannotReachOutside() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: dir + "/outside/keep"))
        #expect {
            try apply({
                $0.addSymlink("out", target: "../outside")
                $0.addFile("out/.wh.keep", [])
            }, in: dir)
        } throws: { isUnsafe($0) }
        #expect(fileBytes(dir + "/outside/keep") == Array("keep".utf8))
    }

    @Test func devicesAreSkippedWithoutPrivilege() throws {
        let dir = makeTemporaryDirectory("unsafe")
        defer { removeTree(dir) }
        let stats = try apply({ $0.addCharacterDevice("dev/null", major: 1, minor: 3) }, in: dir,
                              options: .init(preserveOwnership: false))
        #expect(stats.skippedDevices == 1)
        #expect(!exists(dir + "/rootfs/dev/null"))
    }
}
