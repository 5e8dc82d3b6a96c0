#if canImport(Glibc)
import Glibc
#endif

extension OCIImageLayout {
    /// Unpacks `image`'s layers into the existing, empty directory `rootfs`, in order. Each layer's
    /// compressed bytes are checked against its descriptor and its uncompressed tar against the
    /// config's diff_id; on any error the rootfs is incomplete and must be discarded. The options'
    /// policy bounds the whole image (every layer together).
    @discardableResult
    public func unpack(_ image: OCIImage, into rootfs: String,
                       options: RootfsWriter.Options = .init()) throws(OCIError) -> RootfsWriter.Stats {
        let writer = try RootfsWriter(rootfs: rootfs, options: options)
        var total = RootfsWriter.Stats()
        for (number, layer) in image.layers.enumerated() {
            let compressed = try openBlob(layer)
            let tar: ByteSource
            switch OCIMediaType.layerCompression(layer.mediaType) {
            case .gzip: tar = try GzipSource(compressed)
            case .zstd: tar = try ZstdSource(compressed)
            case .none?: tar = compressed
            case nil:
                throw OCIError(.unsupported, "layer \(number) has media type \(layer.mediaType)")
            }
            let hashed = HashingSource(tar)
            let stats: RootfsWriter.Stats
            do {
                stats = try writer.apply(layer: TarReader(hashed))
                try hashed.drain()
                try compressed.drain()
            } catch {
                throw OCIError(error.code, errno: error.errno, "layer \(number) (\(layer.digest)): \(error)")
            }
            let diffID = hashed.finish()
            guard diffID == image.config.diffIDs[number] else {
                throw OCIError(.digestMismatch, "layer \(number) (\(layer.digest)) uncompresses to \(diffID), "
                                   + "but the config's diff_id is \(image.config.diffIDs[number]); the image is corrupt")
            }
            total.add(stats)
        }
        return total
    }

    /// Checks that `image` unpacks under `policy` exactly as a device would unpack it, by unpacking
    /// it with the same writer into `scratch` (created, then removed), without ownership. The
    /// policy's byte limit bounds what this writes. Throws what the device would throw.
    @discardableResult
    public func inspect(_ image: OCIImage, policy: UnpackPolicy, scratch: String) throws(OCIError) -> RootfsWriter.Stats {
        try FileTree.remove(scratch)  // left by a check that was killed
        guard mkdir(scratch, 0o700) == 0 else { throw .system(errno, "create", scratch) }
        defer { try? FileTree.remove(scratch) }
        return try unpack(image, into: scratch, options: .init(preserveOwnership: false, policy: policy))
    }
}
