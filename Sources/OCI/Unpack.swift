extension OCIImageLayout {
    /// Unpacks `image`'s layers into the existing, empty directory `rootfs`, in order. Each layer's
    /// compressed bytes are checked against its descriptor and its uncompressed tar against the
    /// config's diff_id; on any error the rootfs is incomplete and must be discarded.
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
            total.entries += stats.entries
            total.files += stats.files
            total.bytes += stats.bytes
            total.whiteouts += stats.whiteouts
            total.skippedDevices += stats.skippedDevices
        }
        return total
    }
}
