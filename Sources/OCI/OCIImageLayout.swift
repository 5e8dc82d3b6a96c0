import JSON

#if canImport(Glibc)
import Glibc
#endif

/// The parts of an image config (`application/vnd.oci.image.config.v1+json`) that running it needs.
public struct OCIImageConfig: Sendable, Equatable {
    public var os: String
    public var architecture: String
    public var variant: String?
    public var entrypoint: [String]
    public var cmd: [String]
    public var env: [String]
    public var workingDir: String
    public var user: String
    public var stopSignal: String?
    public var labels: [String: String]
    /// Digests of the uncompressed layer tars, in order.
    public var diffIDs: [OCIDigest]

    /// Parses an image config document (the update server reads them too).
    public init(parsing json: JSON) throws(OCIError) {
        try self.init(json: json, context: "image config")
    }

    init(json: JSON, context: String) throws(OCIError) {
        func strings(_ value: JSON?, _ name: String) throws(OCIError) -> [String] {
            guard let value, !value.isNull else { return [] }
            guard let array = value.arrayValue else { throw OCIError(.invalidLayout, "\(context): \(name) is not an array") }
            var out: [String] = []
            for item in array {
                guard let text = item.stringValue else {
                    throw OCIError(.invalidLayout, "\(context): \(name) holds a non-string")
                }
                out.append(text)
            }
            return out
        }
        guard case .object = json else { throw OCIError(.invalidLayout, "\(context) is not a JSON object") }
        os = json["os"]?.stringValue ?? ""
        architecture = json["architecture"]?.stringValue ?? ""
        variant = json["variant"]?.stringValue
        let config = json["config"] ?? .null
        entrypoint = try strings(config["Entrypoint"], "config.Entrypoint")
        cmd = try strings(config["Cmd"], "config.Cmd")
        env = try strings(config["Env"], "config.Env")
        workingDir = config["WorkingDir"]?.stringValue ?? ""
        user = config["User"]?.stringValue ?? ""
        stopSignal = config["StopSignal"]?.stringValue
        var labels: [String: String] = [:]
        for (key, value) in config["Labels"]?.objectValue ?? [:] {
            if let text = value.stringValue { labels[key] = text }
        }
        self.labels = labels
        guard let rootfs = json["rootfs"], rootfs["type"]?.stringValue == "layers" else {
            throw OCIError(.invalidLayout, "\(context): rootfs.type must be \"layers\"")
        }
        var diffIDs: [OCIDigest] = []
        for text in try strings(rootfs["diff_ids"], "rootfs.diff_ids") {
            guard let digest = OCIDigest(text) else {
                throw OCIError(.unsupported, "\(context): diff_id \"\(text)\" is not a sha256 digest")
            }
            diffIDs.append(digest)
        }
        self.diffIDs = diffIDs
    }
}

/// One image of a layout: its manifest's descriptor, the layers in order and the parsed config.
public struct OCIImage: Sendable {
    public var manifestDescriptor: OCIDescriptor
    public var config: OCIImageConfig
    public var configDescriptor: OCIDescriptor
    public var layers: [OCIDescriptor]
}

/// What `validate()` checked.
public struct OCIValidationReport: Sendable, Equatable {
    /// Manifests reached from index.json (through nested indexes).
    public var manifests: Int
    /// Distinct blobs whose size and digest were verified.
    public var blobs: Int
    /// Their total size.
    public var bytes: Int64
}

/// An OCI image layout (image-spec v1 "image-layout"), read from a directory or from an oci-archive
/// tar (what `skopeo copy … oci-archive:` and `podman save --format oci-archive` write).
///
/// Blobs are addressed by digest and checked as they are read: a blob whose size or sha256 differs
/// from its descriptor fails at the end of the read, so nothing built from it should be used.
public final class OCIImageLayout {
    public let path: String
    /// The manifests (or nested indexes) index.json lists.
    public let manifests: [OCIDescriptor]
    private let store: BlobStore

    /// JSON documents (index, manifests, configs) above this size are refused.
    public static let maxDocumentSize = 4 << 20

    /// Opens `path`: a layout directory, or an oci-archive tar file. Reads and checks `oci-layout` and
    /// `index.json`; blobs are read later, on demand.
    public static func open(_ path: String) throws(OCIError) -> OCIImageLayout {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .system(errno, "open image layout", path) }
        let store: BlobStore
        if (info.st_mode & S_IFMT) == S_IFDIR {
            store = try DirectoryStore(path: path)
        } else {
            store = try ArchiveStore(path: path)
        }
        return try OCIImageLayout(path: path, store: store)
    }

    private init(path: String, store: BlobStore) throws(OCIError) {
        self.path = path
        self.store = store
        let marker = try Self.parse(try store.file("oci-layout", limit: 4096), "\(path): oci-layout")
        guard let version = marker["imageLayoutVersion"]?.stringValue else {
            throw OCIError(.invalidLayout, "\(path): oci-layout has no imageLayoutVersion; not an OCI image layout")
        }
        guard version.hasPrefix("1.") else {
            throw OCIError(.unsupported, "\(path): image layout version \(version) is not supported (expected 1.x)")
        }
        let index = try Self.parse(try store.file("index.json", limit: Self.maxDocumentSize), "\(path): index.json")
        manifests = try Self.manifestList(index, context: "\(path): index.json")
        guard !manifests.isEmpty else {
            throw OCIError(.invalidLayout, "\(path): index.json lists no manifests; the layout holds no image")
        }
    }

    // MARK: Blobs

    /// A stream of the blob's bytes that fails unless they match `descriptor` (size and digest).
    public func openBlob(_ descriptor: OCIDescriptor) throws(OCIError) -> ByteSource {
        VerifyingSource(try store.blob(descriptor.digest), expected: descriptor)
    }

    /// A small JSON blob, verified, parsed.
    public func document(_ descriptor: OCIDescriptor, what: String) throws(OCIError) -> JSON {
        guard descriptor.size <= Int64(Self.maxDocumentSize) else {
            throw OCIError(.tooLarge, "\(what) \(descriptor.digest) declares \(descriptor.size) bytes; "
                               + "documents above \(Self.maxDocumentSize) bytes are refused")
        }
        let bytes = try openBlob(descriptor).readAll(limit: Self.maxDocumentSize, what: "\(what) \(descriptor.digest)")
        return try Self.parse(bytes, "\(what) \(descriptor.digest)")
    }

    // MARK: Images

    /// The image for `platform` (and `reference`, the `org.opencontainers.image.ref.name` annotation,
    /// when given). With one manifest and no reference asked for, that manifest is used whatever it
    /// declares; its config must still match the platform.
    public func image(platform: OCIPlatform = .current, reference: String? = nil) throws(OCIError) -> OCIImage {
        var candidates = try allManifests(depth: 0, descriptors: manifests)
        if let reference {
            candidates = candidates.filter { $0.referenceName == reference }
            guard !candidates.isEmpty else {
                throw OCIError(.notFound, "\(path): no image tagged \"\(reference)\" in index.json")
            }
        }
        let matching = candidates.filter { $0.platform.map { $0.matches(platform) } ?? true }
        guard let chosen = matching.first else {
            let have = candidates.compactMap { $0.platform?.description }.joined(separator: ", ")
            throw OCIError(.notFound, "\(path): no image for \(platform) (the index has: \(have))")
        }
        let image = try load(manifest: chosen)
        let config = image.config
        if !config.os.isEmpty && !config.architecture.isEmpty
            && !OCIPlatform(os: config.os, architecture: config.architecture, variant: config.variant).matches(platform) {
            throw OCIError(.unsupported, "\(path): the image is built for \(config.os)/\(config.architecture), "
                               + "this device is \(platform); publish an image for this platform")
        }
        return image
    }

    /// Reads a manifest and its config (both verified).
    public func load(manifest descriptor: OCIDescriptor) throws(OCIError) -> OCIImage {
        guard OCIMediaType.isManifest(descriptor.mediaType) else {
            throw OCIError(.unsupported, "manifest \(descriptor.digest) has media type \(descriptor.mediaType)")
        }
        let context = "manifest \(descriptor.digest)"
        let manifest = try document(descriptor, what: "manifest")
        if let declared = manifest["mediaType"]?.stringValue, declared != descriptor.mediaType {
            throw OCIError(.invalidLayout, "\(context) declares media type \(declared) but is referenced as "
                               + descriptor.mediaType)
        }
        guard manifest["schemaVersion"]?.intValue == 2 else {
            throw OCIError(.invalidLayout, "\(context): schemaVersion must be 2")
        }
        guard let configJSON = manifest["config"] else { throw OCIError(.invalidLayout, "\(context) has no config") }
        let configDescriptor = try OCIDescriptor(json: configJSON, context: "\(context) config")
        guard configDescriptor.mediaType == OCIMediaType.config || configDescriptor.mediaType == OCIMediaType.dockerConfig
        else {
            throw OCIError(.unsupported, "\(context): config media type \(configDescriptor.mediaType) is not an image config")
        }
        guard let layerList = manifest["layers"]?.arrayValue else {
            throw OCIError(.invalidLayout, "\(context) has no layers array")
        }
        var layers: [OCIDescriptor] = []
        for (number, layer) in layerList.enumerated() {
            let layerDescriptor = try OCIDescriptor(json: layer, context: "\(context) layer \(number)")
            guard OCIMediaType.layerCompression(layerDescriptor.mediaType) != nil else {
                throw OCIError(.unsupported, "\(context) layer \(number): media type \(layerDescriptor.mediaType) "
                                   + "is not a tar, tar+gzip or tar+zstd layer")
            }
            layers.append(layerDescriptor)
        }
        let config = try OCIImageConfig(json: try document(configDescriptor, what: "config"),
                                        context: "config \(configDescriptor.digest)")
        guard config.diffIDs.count == layers.count else {
            throw OCIError(.invalidLayout, "\(context) has \(layers.count) layers but its config lists "
                               + "\(config.diffIDs.count) diff_ids")
        }
        return OCIImage(manifestDescriptor: descriptor, config: config, configDescriptor: configDescriptor, layers: layers)
    }

    /// Checks the whole layout: every manifest reachable from index.json, its config and its
    /// layers exist, parse, and match their descriptors' sizes and sha256 digests.
    @discardableResult
    public func validate() throws(OCIError) -> OCIValidationReport {
        let all = try allManifests(depth: 0, descriptors: manifests)
        var seen = Set<OCIDigest>()
        var bytes: Int64 = 0
        for descriptor in all {
            let image = try load(manifest: descriptor)
            for blob in [image.manifestDescriptor, image.configDescriptor] + image.layers
            where seen.insert(blob.digest).inserted {
                try openBlob(blob).drain()
                bytes += blob.size
            }
        }
        return OCIValidationReport(manifests: all.count, blobs: seen.count, bytes: bytes)
    }

    /// Manifests, with nested indexes expanded (their blobs verified on the way).
    private func allManifests(depth: Int, descriptors: [OCIDescriptor]) throws(OCIError) -> [OCIDescriptor] {
        guard depth < 4 else { throw OCIError(.invalidLayout, "\(path): indexes nest more than 4 deep") }
        var out: [OCIDescriptor] = []
        for descriptor in descriptors {
            if OCIMediaType.isIndex(descriptor.mediaType) {
                let nested = try document(descriptor, what: "index")
                var children = try Self.manifestList(nested, context: "index \(descriptor.digest)")
                // A nested index inherits the reference name of the descriptor that points at it.
                if let name = descriptor.referenceName {
                    for i in children.indices where children[i].referenceName == nil {
                        children[i].annotations["org.opencontainers.image.ref.name"] = name
                    }
                }
                out += try allManifests(depth: depth + 1, descriptors: children)
            } else if OCIMediaType.isManifest(descriptor.mediaType) {
                out.append(descriptor)
            }
            // Other artifacts (signatures, attestations) are not images; skip them.
        }
        return out
    }

    private static func manifestList(_ index: JSON, context: String) throws(OCIError) -> [OCIDescriptor] {
        guard index["schemaVersion"]?.intValue == 2 else {
            throw OCIError(.invalidLayout, "\(context): schemaVersion must be 2")
        }
        guard let list = index["manifests"]?.arrayValue else {
            throw OCIError(.invalidLayout, "\(context) has no manifests array")
        }
        var out: [OCIDescriptor] = []
        for (number, item) in list.enumerated() {
            out.append(try OCIDescriptor(json: item, context: "\(context) manifests[\(number)]"))
        }
        return out
    }

    static func parse(_ bytes: [UInt8], _ context: String) throws(OCIError) -> JSON {
        do {
            return try JSON.parse(bytes, limits: JSONLimits(maxDepth: 32, maxBytes: maxDocumentSize,
                                                            maxStringBytes: maxDocumentSize))
        } catch {
            throw OCIError(.invalidLayout, "\(context) is not valid JSON: \(error)")
        }
    }
}

// MARK: - Blob stores

protocol BlobStore: AnyObject {
    /// A top-level file of the layout (oci-layout, index.json).
    func file(_ name: String, limit: Int) throws(OCIError) -> [UInt8]
    func blob(_ digest: OCIDigest) throws(OCIError) -> ByteSource
}

/// A layout unpacked in a directory.
final class DirectoryStore: BlobStore {
    let path: String

    init(path: String) throws(OCIError) { self.path = path }

    func file(_ name: String, limit: Int) throws(OCIError) -> [UInt8] {
        let full = path + "/" + name
        do {
            return try FileSource(path: full, followSymlinks: false).readAll(limit: limit, what: full)
        } catch where error.code == .notFound {
            throw OCIError(.invalidLayout, "\(path) has no \(name); not an OCI image layout")
        }
    }

    func blob(_ digest: OCIDigest) throws(OCIError) -> ByteSource {
        let full = path + "/blobs/sha256/" + digest.hex
        do {
            return try FileSource(path: full, followSymlinks: false)
        } catch where error.code == .notFound {
            throw OCIError(.notFound, "blob \(digest) is missing from \(path)/blobs/sha256")
        }
    }
}

/// An oci-archive: an uncompressed tar of a layout. Indexed once; blobs are read in place.
final class ArchiveStore: BlobStore {
    let path: String
    private let fd: Int32
    private var entries: [String: (offset: Int64, size: Int64)] = [:]

    init(path: String) throws(OCIError) {
        self.path = path
        let opened = retryingEINTR { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        guard opened.result >= 0 else { throw .system(opened.errno, "open", path) }
        fd = opened.result
        let reader = TarReader(FileSource(fd: fd, path: path, offset: 0, length: nil))
        do {
            while let entry = try reader.next() {
                guard entry.kind == .regular else { continue }
                guard let name = try? OCIPath(entry.path).joined else { continue }
                entries[name] = (entry.dataOffset, entry.size)
            }
        } catch {
            close(fd)
            if error.code == .invalidTar {
                throw OCIError(.invalidLayout, "\(path) is neither a layout directory nor an oci-archive tar: \(error)")
            }
            throw error
        }
    }

    deinit { close(fd) }

    func file(_ name: String, limit: Int) throws(OCIError) -> [UInt8] {
        guard let entry = entries[name] else {
            throw OCIError(.invalidLayout, "\(path) has no \(name); not an oci-archive")
        }
        return try FileSource(fd: fd, path: path + ":" + name, offset: entry.offset, length: entry.size)
            .readAll(limit: limit, what: path + ":" + name)
    }

    func blob(_ digest: OCIDigest) throws(OCIError) -> ByteSource {
        guard let entry = entries["blobs/sha256/" + digest.hex] else {
            throw OCIError(.notFound, "blob \(digest) is missing from the archive \(path)")
        }
        return FileSource(fd: fd, path: path, offset: entry.offset, length: entry.size, owner: self)
    }
}
