import CryptoEVP
import JSON
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// Writes an OCI image layout directory: blobs by digest, a manifest and config per image, and
/// index.json. For release tooling and tests; devices only read layouts.
public struct OCILayoutWriter {
    public let path: String
    private var manifests: [OCIDescriptor] = []

    public init(path: String) throws(OCIError) {
        self.path = path
        for directory in [path, path + "/blobs", path + "/blobs/sha256"] {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else { throw .system(errno, "create", directory) }
        }
        try write(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: path + "/oci-layout")
    }

    /// Stores `bytes` as a blob and returns its descriptor.
    @discardableResult
    public func addBlob(_ bytes: [UInt8], mediaType: String) throws(OCIError) -> OCIDescriptor {
        let digest = OCIDigest(sha256: Digest.sha256(bytes))
        try write(bytes, to: path + "/blobs/sha256/" + digest.hex)
        return OCIDescriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    /// Adds an image from layers already compressed as their media types say. `diffIDs` are the
    /// sha256 digests of the uncompressed tars.
    public mutating func addImage(layers: [(bytes: [UInt8], mediaType: String, diffID: OCIDigest)],
                                  config: [String: JSON], platform: OCIPlatform = .current,
                                  reference: String? = nil) throws(OCIError) {
        let configJSON: JSON = [
            "architecture": .string(platform.architecture), "os": .string(platform.os),
            "config": .object(config),
            "rootfs": ["type": "layers", "diff_ids": .array(layers.map { .string($0.diffID.description) })],
        ]
        let configDescriptor = try addBlob(configJSON.bytes(), mediaType: OCIMediaType.config)
        var layerDescriptors: [JSON] = []
        for layer in layers {
            layerDescriptors.append(try addBlob(layer.bytes, mediaType: layer.mediaType).json)
        }
        let manifest: JSON = [
            "schemaVersion": 2, "mediaType": .string(OCIMediaType.manifest),
            "config": configDescriptor.json, "layers": .array(layerDescriptors),
        ]
        var descriptor = try addBlob(manifest.bytes(), mediaType: OCIMediaType.manifest)
        descriptor.platform = platform
        if let reference { descriptor.annotations["org.opencontainers.image.ref.name"] = reference }
        manifests.append(descriptor)
        let index: JSON = [
            "schemaVersion": 2, "mediaType": .string(OCIMediaType.index), "manifests": .array(manifests.map(\.json)),
        ]
        try write(index.bytes(), to: path + "/index.json")
    }

    private func write(_ bytes: [UInt8], to file: String) throws(OCIError) {
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(errno, "create", file) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { throw .system(errno, "write", file) }
            offset += written
        }
    }
}
