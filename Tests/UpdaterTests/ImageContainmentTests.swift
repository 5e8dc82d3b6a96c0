import CryptoEVP
import Foundation
import JSON
import OCI
import OCITools
import Testing
@testable import Updater

/// Issue 11, class 5 on the device: the release's custom.unpack and custom.allow_root reach the
/// unpacker and the runtime spec; without them the defaults hold (no setuid, no devices, nobody).
@Suite struct ImageContainmentTests {
    private func release(_ dir: String, custom extra: [String: JSON] = [:], user: String? = nil,
                         layer build: (inout TarWriter) -> Void) throws -> (target: TargetDescription, artifact: String) {
        var tar = TarWriter()
        build(&tar)
        tar.finish()
        var writer = try OCILayoutWriter(path: dir + "/layout")
        var config: [String: JSON] = ["Cmd": ["/bin/app"]]
        if let user { config["User"] = .string(user) }
        try writer.addImage(layers: [(tar.bytes, OCIMediaType.layer, OCIDigest(sha256: Digest.sha256(tar.bytes)))],
                            config: config)
        // Packed in process: a spawned tar would inherit the updater lock of a test running beside
        // this one for the instant between fork and exec.
        var packed = TarWriter()
        let layout = dir + "/layout"
        for file in ["oci-layout", "index.json"] {
            packed.addFile(file, Array(try Data(contentsOf: URL(fileURLWithPath: layout + "/" + file))))
        }
        for blob in try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256").sorted() {
            packed.addFile("blobs/sha256/" + blob, Array(try Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + blob))))
        }
        packed.finish()
        let bytes = packed.bytes
        let path = dir + "/image.tar"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var custom: [String: JSON] = ["kind": "oci", "version": "1.0.0", "boards": ["sim"]]
        for (key, value) in extra { custom[key] = value }
        let target = try TargetDescription(name: "image.tar", length: Int64(bytes.count),
                                           sha256: Hex.encode(Digest.sha256(bytes)), custom: .object(custom))
        return (target, path)
    }

    private final class Lines: @unchecked Sendable { var all: [String] = [] }

    @discardableResult
    private func stage(_ dir: String, _ release: (target: TargetDescription, artifact: String)) throws -> [String] {
        let lines = Lines()
        var configuration = Updater.Configuration(stateDirectory: dir + "/state", board: "sim")
        configuration.log = { lines.all.append($0) }
        let updater = try Updater(configuration: configuration)
        try updater.stage(target: release.target, from: release.artifact)
        return lines.all
    }

    private func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }

    @Test func customUnpackAndAllowRootAreRead() throws {
        let target = try TargetDescription(name: "app.tar", length: 1, sha256: String(repeating: "a", count: 64), custom: [
            "kind": "oci", "version": "1.0.0", "boards": ["sim"],
            "unpack": ["max_bytes": 4096, "max_entries": 12, "allow_setuid": true], "allow_root": true,
        ])
        #expect(target.unpack == UnpackPolicy(maxBytes: 4096, maxEntries: 12, allowSetuid: true))
        #expect(target.allowRoot)
        #expect(try TargetDescription(json: target.json) == target)
        let plain = try TargetDescription(name: "app.tar", length: 1, sha256: String(repeating: "a", count: 64),
                                          custom: ["kind": "oci", "version": "1.0.0", "boards": ["sim"]])
        #expect(plain.unpack == UnpackPolicy() && !plain.allowRoot)
        #expect {
            _ = try TargetDescription(name: "app.tar", length: 1, sha256: String(repeating: "a", count: 64), custom: [
                "kind": "oci", "version": "1.0.0", "boards": ["sim"], "unpack": ["max_bytes": -5],
            ])
        } throws: { ($0 as? UpdateError)?.code == .invalidTarget && "\($0)".contains("max_bytes") }
    }

    @Test func anImageOverTheReleasesLimitIsRefusedAndTheSlotLeftClean() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        let release = try release(dir, custom: ["unpack": ["max_bytes": 65536]]) { tar in
            for index in 0..<4 { tar.addFile("data/\(index)", [UInt8](repeating: 0, count: 32768)) }
        }
        #expect { try stage(dir, release) } throws: { error in
            (error as? UpdateError)?.code == .image && "\(error)".contains("65536-byte limit")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/state/slots/a").isEmpty)
    }

    @Test func setuidDevicesAndRootAreDroppedByDefault() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        let log = try stage(dir, try release(dir) { tar in
            tar.addFile("bin/app", [1], mode: 0o4755)
            tar.addCharacterDevice("dev/kmem", major: 1, minor: 2)
        })
        #expect(log.contains { $0.contains("dev/kmem") && $0.contains("device nodes") }, "\(log)")
        #expect(log.contains { $0.contains("bin/app") && $0.contains("allow_setuid") }, "\(log)")
        let rootfs = dir + "/state/slots/a/bundle/rootfs"
        #expect(mode(rootfs + "/bin/app") == 0o755)
        #expect(!FileManager.default.fileExists(atPath: rootfs + "/dev/kmem"))
        let config = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/state/slots/a/bundle/config.json"))))
        #expect(config["process"]?["user"]?["uid"] == 65534 && config["process"]?["user"]?["gid"] == 65534)
        #expect(config["process"]?["noNewPrivileges"] == true)
    }

    @Test func theReleaseCanAllowSetuidAndRoot() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        try stage(dir, try release(dir, custom: ["unpack": ["allow_setuid": true], "allow_root": true], user: "0") { tar in
            tar.addFile("bin/app", [1], mode: 0o4755)
        })
        #expect(mode(dir + "/state/slots/a/bundle/rootfs/bin/app") == 0o4755)
        let config = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/state/slots/a/bundle/config.json"))))
        #expect(config["process"]?["user"]?["uid"] == 0)
    }

    @Test func anImageAskingForRootWithoutTheReleasesLeaveIsRefused() throws {
        let dir = makeTemporaryDirectory("contain")
        defer { removeTree(dir) }
        #expect { try stage(dir, try release(dir, user: "0") { $0.addFile("bin/app", [1], mode: 0o755) }) } throws: {
            "\($0)".contains("custom.allow_root")
        }
    }
}
