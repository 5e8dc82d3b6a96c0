import OCI

#if canImport(Glibc)
import Glibc
#endif

/// Checks an OCI release with the `OCI` module: the upload must be an oci-archive tar (a plain
/// file, not a directory), with `oci-layout` and `index.json`, every manifest reachable from it,
/// and every manifest, config and layer present with the size and sha256 its descriptor names.
public struct OCIArchiveCheck: OCIArchiveValidator {
    public init() {}

    public func validate(archiveAt path: String) throws(ServerError) -> OCIImageSummary {
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
                architectures.append(try layout.load(manifest: descriptor).config.architecture)
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
