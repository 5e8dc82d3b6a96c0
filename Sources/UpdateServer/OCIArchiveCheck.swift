import OCI

#if canImport(Glibc)
import Glibc
#endif

/// Checks an OCI release with the `OCI` module: the upload must be an oci-archive tar (a plain
/// file, not a directory), with `oci-layout` and `index.json`, every manifest reachable from it,
/// and every manifest, config and layer present with the size and sha256 its descriptor names.
///
/// Then every image's layers are unpacked, as a device would unpack them, into a scratch directory
/// next to the upload (removed afterwards), with the same `RootfsWriter` and `UnpackPolicy`: an
/// entry that leaves the rootfs, a layer that expands past the size or entry limit, or anything
/// else a device would refuse is refused here, before the release is stored or signed.
public struct OCIArchiveCheck: OCIArchiveValidator {
    /// The policy for `validate(archiveAt:)`; a release's own comes with `validate(archiveAt:policy:)`.
    public var policy: UnpackPolicy

    public init(policy: UnpackPolicy = UnpackPolicy()) {
        self.policy = policy
    }

    public func validate(archiveAt path: String) throws(ServerError) -> OCIImageSummary {
        try validate(archiveAt: path, policy: policy)
    }

    public func validate(archiveAt path: String, policy: UnpackPolicy) throws(ServerError) -> OCIImageSummary {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .badRequest("an OCI release is uploaded as an oci-archive tar")
        }
        do {
            let layout = try OCIImageLayout.open(path)
            let report = try layout.validate()
            guard report.manifests > 0 else {
                throw ServerError.badRequest("the OCI archive's index.json lists no image manifest")
            }
            var architectures: [String] = []
            for descriptor in layout.manifests where descriptor.mediaType == OCIMediaType.manifest
                || descriptor.mediaType == OCIMediaType.dockerManifest {
                let image = try layout.load(manifest: descriptor)
                architectures.append(image.config.architecture)
                do throws(OCIError) {
                    try layout.inspect(image, policy: policy, scratch: path + ".unpack-check")
                } catch {
                    throw ServerError.badRequest("devices would refuse to unpack the image \(descriptor.digest): \(error); "
                                                     + "nothing was stored")
                }
            }
            return OCIImageSummary(manifestDigest: layout.manifests.first.map { "\($0.digest)" } ?? "", layers: report.blobs,
                                   architectures: architectures)
        } catch let error as ServerError {
            throw error
        } catch {
            throw .badRequest("the OCI archive is not valid: \(error); nothing was stored")
        }
    }
}
