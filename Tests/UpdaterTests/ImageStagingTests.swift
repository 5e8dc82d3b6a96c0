import CryptoEVP
import Foundation
import JSON
import OCI
import OCITools
import Testing
@testable import Updater

/// Staging an image needs no runtime: these run everywhere.
@Suite struct ImageStagingTests {
    private func archive(_ dir: String, layer build: (inout TarWriter) -> Void) throws -> (info: String, artifact: String) {
        var tar = TarWriter()
        build(&tar)
        tar.finish()
        var writer = try OCILayoutWriter(path: dir + "/layout")
        try writer.addImage(layers: [(tar.bytes, OCIMediaType.layer, OCIDigest(sha256: Digest.sha256(tar.bytes)))],
                            config: ["Cmd": ["/bin/app"]])
        let path = dir + "/image.tar"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        process.arguments = ["-C", dir + "/layout", "-cf", path, "."]
        try process.run()
        process.waitUntilExit()
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let info: JSON = [
            "name": "image.tar", "length": .int(Int64(bytes.count)), "hashes": ["sha256": .string(Hex.encode(Digest.sha256(bytes)))],
            "custom": ["kind": "oci", "version": "1.0.0", "boards": ["sim"]],
        ]
        try writeFile(dir + "/target.json", info.bytes())
        return (dir + "/target.json", path)
    }

    private func stage(_ dir: String, _ release: (info: String, artifact: String)) throws -> Updater {
        let updater = try Updater(configuration: Updater.Configuration(stateDirectory: dir + "/state", board: "sim"))
        let json = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: release.info))))
        try updater.stage(target: try TargetDescription(json: json), from: release.artifact)
        return updater
    }

    @Test func imageBecomesARuntimeBundle() throws {
        let dir = makeTemporaryDirectory("image")
        defer { removeTree(dir) }
        let updater = try stage(dir, try archive(dir) { $0.addFile("bin/app", Array("#!/bin/sh\n".utf8), mode: 0o755) })
        #expect(FileManager.default.isExecutableFile(atPath: dir + "/state/slots/a/bundle/rootfs/bin/app"))
        let config = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/state/slots/a/bundle/config.json"))))
        #expect(config["process"]?["args"] == ["/bin/app"])
        #expect(config["root"]?["path"] == "rootfs")
        #expect(updater.lifecycle.phase == .staged(Installed(slot: .a, target: updater.lifecycle.candidate!.target)))
    }

    @Test(arguments: ["dotdot", "absolute", "through-link"])
    func hostileLayerIsRefusedAndTheSlotLeftClean(kind: String) throws {
        let dir = makeTemporaryDirectory("image")
        defer { removeTree(dir) }
        let release = try archive(dir) { tar in
            switch kind {
            case "dotdot": tar.addFile("../../escaped", [1])
            case "absolute": tar.addFile(dir + "/escaped", [1])
            default:
                tar.addSymlink("etc", target: dir)
                tar.addFile("etc/escaped", [1])
            }
        }
        #expect { try stage(dir, release) } throws: { error in
            let error = error as? UpdateError
            return error?.code == .image && error?.description.contains("refus") == true
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/escaped"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/escaped"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/state/slots/a").isEmpty)
        let state = try Updater(configuration: Updater.Configuration(stateDirectory: dir + "/state", board: "sim"))
        #expect(state.lifecycle.phase == .idle && state.lifecycle.lastOutcome?.result == .failed)
    }
}
