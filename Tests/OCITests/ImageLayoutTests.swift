import Foundation
import JSON
import OCI
import OCITools
import Testing

/// Two layers: the second deletes a file of the first (whiteout), empties a directory (opaque) but
/// adds to it, and replaces a file.
private func twoLayerLayout(at path: String, compression: LayerCompression) throws -> OCILayoutWriter {
    var lower = TarWriter()
    lower.addDirectory("etc")
    lower.addFile("etc/motd", Array("old\n".utf8))
    lower.addFile("etc/gone", Array("bye\n".utf8))
    lower.addDirectory("var/cache")
    lower.addFile("var/cache/stale", [1])
    lower.addDirectory("usr/lib")
    lower.addSymlink("lib", target: "usr/lib")
    lower.addFile("bin/tool", Array("#!/bin/sh\n".utf8), mode: 0o755)
    lower.addHardLink("bin/tool-alias", target: "bin/tool")
    lower.finish()
    var upper = TarWriter()
    upper.addFile("etc/motd", Array("new\n".utf8))
    upper.addFile("etc/.wh.gone", [])
    upper.addDirectory("var/cache")
    upper.addFile("var/cache/fresh", [2])
    upper.addFile("var/cache/.wh..wh..opq", [])
    upper.addFile("lib/libx.so", [3])  // through a relative link that stays inside
    upper.finish()
    var writer = try OCILayoutWriter(path: path)
    func layer(_ tar: [UInt8]) throws -> (bytes: [UInt8], mediaType: String, diffID: OCIDigest) {
        switch compression {
        case .gzip: return (try gzip(tar), OCIMediaType.layerGzip, diffID(tar))
        case .zstd: return (try zstd(tar), OCIMediaType.layerZstd, diffID(tar))
        case .none: return (tar, OCIMediaType.layer, diffID(tar))
        }
    }
    try writer.addImage(layers: [try layer(lower.bytes), try layer(upper.bytes)],
                        config: ["Entrypoint": ["/bin/tool"], "Cmd": ["--serve"], "Env": ["A=1"]], reference: "1.0.0")
    return writer
}

@Suite struct ImageLayoutTests {
    @Test(arguments: [LayerCompression.gzip, .zstd, .none])
    func unpacksLayersInOrderWithWhiteouts(compression: LayerCompression) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        _ = try twoLayerLayout(at: dir + "/layout", compression: compression)
        let layout = try OCIImageLayout.open(dir + "/layout")
        let report = try layout.validate()
        #expect(report.manifests == 1 && report.blobs == 4)
        let image = try layout.image(reference: "1.0.0")
        #expect(image.config.entrypoint == ["/bin/tool"] && image.config.cmd == ["--serve"])
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: false)
        let stats = try layout.unpack(image, into: dir + "/rootfs")
        #expect(stats.whiteouts == 2)
        let root = dir + "/rootfs"
        #expect(fileBytes(root + "/etc/motd") == Array("new\n".utf8))
        #expect(!exists(root + "/etc/gone"))
        #expect(!exists(root + "/var/cache/stale"))
        #expect(fileBytes(root + "/var/cache/fresh") == [2])
        #expect(!exists(root + "/var/cache/.wh..wh..opq"))
        #expect(linkTarget(root + "/lib") == "usr/lib")
        #expect(fileBytes(root + "/usr/lib/libx.so") == [3])
        var a = stat(), b = stat()
        #expect(stat(root + "/bin/tool", &a) == 0 && stat(root + "/bin/tool-alias", &b) == 0)
        #expect(a.st_ino == b.st_ino)
        #expect(a.st_mode & 0o777 == 0o755)
    }

    @Test func readsAnOCIArchive() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        _ = try twoLayerLayout(at: dir + "/layout", compression: .gzip)
        try run("/usr/bin/tar", ["-C", dir + "/layout", "-cf", dir + "/image.tar", "."])
        let layout = try OCIImageLayout.open(dir + "/image.tar")
        #expect(try layout.validate().blobs == 4)
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: false)
        try layout.unpack(try layout.image(), into: dir + "/rootfs")
        #expect(fileBytes(dir + "/rootfs/etc/motd") == Array("new\n".utf8))
    }

    @Test func corruptBlobFailsValidation() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        _ = try twoLayerLayout(at: dir + "/layout", compression: .gzip)
        let layout = try OCIImageLayout.open(dir + "/layout")
        let layer = try layout.image().layers[0]
        let blob = dir + "/layout/blobs/sha256/" + layer.digest.hex
        var bytes = try #require(fileBytes(blob))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: blob))
        #expect { try layout.validate() } throws: { ($0 as? OCIError)?.code == .digestMismatch }
        try Data(bytes.dropLast()).write(to: URL(fileURLWithPath: blob))
        #expect { try layout.validate() } throws: { ($0 as? OCIError)?.code == .sizeMismatch }
    }

    @Test func notALayoutIsRefused() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        #expect { try OCIImageLayout.open(dir) } throws: { ($0 as? OCIError)?.code == .invalidLayout }
        try Data("just text".utf8).write(to: URL(fileURLWithPath: dir + "/file.tar"))
        #expect { try OCIImageLayout.open(dir + "/file.tar") } throws: { ($0 as? OCIError)?.code == .invalidLayout }
    }

    @Test func imageForAnotherPlatformIsRefused() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        var writer = try OCILayoutWriter(path: dir + "/layout")
        var tar = TarWriter()
        tar.addFile("x", [1])
        tar.finish()
        try writer.addImage(layers: [(tar.bytes, OCIMediaType.layer, diffID(tar.bytes))], config: ["Cmd": ["/x"]],
                            platform: OCIPlatform(os: "linux", architecture: "riscv64"))
        let layout = try OCIImageLayout.open(dir + "/layout")
        #expect { try layout.image(platform: OCIPlatform(os: "linux", architecture: "arm64")) } throws: {
            ($0 as? OCIError)?.code == .notFound
        }
    }

    @Test func runtimeConfigFollowsTheImage() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try Data("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/etc/passwd"))
        let config = try OCIImageConfig(parsing: [
            "architecture": "amd64", "os": "linux",
            "config": ["Entrypoint": ["/app"], "Cmd": ["-v"], "Env": ["PATH=/bin", "MODE=a"], "WorkingDir": "/srv",
                       "User": "app"],
            "rootfs": ["type": "layers", "diff_ids": []],
        ])
        var spec = RuntimeSpec()
        spec.extraEnv = ["MODE=b"]
        let document = try spec.document(for: config, rootfsDirectory: dir)
        let process = try #require(document["process"])
        #expect(process["args"] == ["/app", "-v"])
        #expect(process["env"] == ["PATH=/bin", "MODE=b"])
        #expect(process["cwd"] == "/srv")
        #expect(process["user"]?["uid"] == 1000 && process["user"]?["gid"] == 1001)
        #expect(process["noNewPrivileges"] == true)
        let namespaces = document["linux"]?["namespaces"]?.arrayValue?.compactMap { $0["type"]?.stringValue }
        #expect(Set(namespaces ?? []) == ["pid", "ipc", "uts", "mount", "network"])
        #expect(document["root"]?["readonly"] == true)
        let unknown = try OCIImageConfig(parsing: [
            "config": ["Cmd": ["/x"], "User": "nobody-here"], "rootfs": ["type": "layers", "diff_ids": []],
        ])
        #expect { try spec.document(for: unknown, rootfsDirectory: dir) } throws: { ($0 as? OCIError)?.code == .invalidLayout }
    }
}
