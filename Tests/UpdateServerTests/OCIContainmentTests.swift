import CryptoEVP
import Foundation
import JSON
import OCI
import OCITools
import Testing
import UpdateServer

/// Issue 11, class 5 at upload: the server unpacks each image's layers with the devices' code and
/// policy, and refuses what a device would refuse, before anything is stored or signed.

/// An oci-archive whose single layer `build` writes (arm64, to match rpi4b).
private func archive(gzipLayer: Bool = false, _ build: (inout TarWriter) -> Void) throws -> [UInt8] {
    let directory = try TemporaryDirectory()
    let layoutPath = directory.file("layout")
    var writer = try OCILayoutWriter(path: layoutPath)
    var layer = TarWriter()
    build(&layer)
    layer.finish()
    try writer.addImage(layers: [(bytes: layer.bytes, mediaType: OCIMediaType.layer,
                                  diffID: OCIDigest(sha256: Digest.sha256(layer.bytes)))],
                        config: ["Cmd": ["/app/run"]], platform: OCIPlatform(os: "linux", architecture: "arm64"))
    var archive = TarWriter()
    for file in ["oci-layout", "index.json"] {
        archive.addFile(file, Array(try Data(contentsOf: URL(fileURLWithPath: layoutPath + "/" + file))))
    }
    archive.addDirectory("blobs")
    archive.addDirectory("blobs/sha256")
    for blob in try FileManager.default.contentsOfDirectory(atPath: layoutPath + "/blobs/sha256").sorted() {
        archive.addFile("blobs/sha256/" + blob, Array(try Data(contentsOf: URL(fileURLWithPath: layoutPath + "/blobs/sha256/" + blob))))
    }
    archive.finish()
    return archive.bytes
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct OCIContainmentUploadTests {
    static var hostile: [(String, (inout TarWriter) -> Void, String)] { [
        ("absolute symlink", { $0.addSymlink("etc", target: "/etc"); $0.addFile("etc/cron.d/x", [1]) }, "rootfs"),
        ("climbing symlink", { $0.addSymlink("up", target: "../../.."); $0.addFile("up/x", [1]) }, "rootfs"),
        ("hard link out", { $0.addSymlink("h", target: "/etc"); $0.addHardLink("shadow", target: "h/shadow") }, "rootfs"),
    ] }

    @Test func theServerRefusesWhatADeviceWouldRefuse() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        let query = "kind=oci&name=presence-app&board=rpi4b"
        try await fixture.application(service).test(.router) { client in
            for (name, build, reason) in Self.hostile {
                let (status, body) = try await client.release(query + "&version=1.0.0", try archive(build))
                let message = body?["error"]?.stringValue ?? ""
                #expect(status == .badRequest, "\(name): \(status) \(message)")
                #expect(message.contains("devices would refuse") && message.contains(reason), "\(name): \(message)")
            }
            #expect(fixture.storedFiles().isEmpty)
            let (_, none) = try await client.api("/api/v1/releases")
            #expect(none?.arrayValue?.isEmpty == true)

            // Devices, FIFOs and setuid files are not refused (a device skips or clears them).
            let (created, body) = try await client.release(query + "&version=1.0.0", try archive {
                $0.addCharacterDevice("dev/null", major: 1, minor: 3)
                $0.addFile("app/run", Array("#!/bin/sh\n".utf8), mode: 0o4755)
            })
            #expect(created == .created, "\(body?.serialized() ?? "")")
        }
    }

    @Test func aReleasesOwnLimitsAreCheckedAndPublished() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        let query = "kind=oci&name=presence-app&board=rpi4b&version=1.0.0"
        let image = try archive { tar in
            for index in 0..<8 { tar.addFile("data/\(index)", [UInt8](repeating: 0, count: 64 << 10)) }
        }
        try await fixture.application(service).test(.router) { client in
            let (tight, tightBody) = try await client.release(query + "&unpack_max_bytes=100000", image)
            #expect(tight == .badRequest)
            #expect(tightBody?["error"]?.stringValue?.contains("100000-byte limit") == true, "\(tightBody?.serialized() ?? "")")
            let (bad, badBody) = try await client.release(query + "&unpack_max_bytes=0", image)
            #expect(bad == .badRequest && badBody?["error"]?.stringValue?.contains("max_bytes") == true)
            let (binary, _) = try await client.release("kind=binary&name=agent&board=rpi4b&version=1.0.0&allow_root=true",
                                                        elfExecutable())
            #expect(binary == .badRequest)
            #expect(fixture.storedFiles().isEmpty)

            let (created, body) = try await client.release(
                query + "&unpack_max_bytes=1000000&allow_setuid=true&allow_root=true", image)
            #expect(created == .created, "\(body?.serialized() ?? "")")
            #expect(try UnpackPolicy(unpack: body?["custom"]?["unpack"]) == UnpackPolicy(maxBytes: 1_000_000, allowSetuid: true))
            #expect(body?["custom"]?["allow_root"] == true)
            // The signed targets metadata carries it to devices.
            let metadata = fixture.options.repositoryDirectory + "/metadata"
            let signed = try FileManager.default.contentsOfDirectory(atPath: metadata).filter { $0.hasSuffix("targets.json") }
                .map { try String(contentsOfFile: metadata + "/" + $0, encoding: .utf8) }
            #expect(signed.contains { $0.contains("\"max_bytes\":1000000") && $0.contains("\"allow_root\":true") })
        }
    }

    @Test func aLayerPastTheSizeOrEntryLimitIsRefused() throws {
        // The check itself, with a small limit: a few KiB of gzip that expand to 8 MiB.
        let directory = try TemporaryDirectory()
        let path = directory.file("image.tar")
        let bytes = try archive { tar in
            for index in 0..<8 { tar.addFile("zeros/\(index)", [UInt8](repeating: 0, count: 1 << 20)) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try OCIArchiveCheck(policy: UnpackPolicy(maxBytes: 4 << 20)).validate(archiveAt: path)
        } throws: { "\($0)".contains("4194304-byte limit") }
        #expect(try OCIArchiveCheck().validate(archiveAt: path).layers > 0)
        #expect {
            _ = try OCIArchiveCheck(policy: UnpackPolicy(maxEntries: 5)).validate(archiveAt: path)
        } throws: { "\($0)".contains("more than 5 entries") }
        #expect(!FileManager.default.fileExists(atPath: path + ".unpack-check"))
    }
}
