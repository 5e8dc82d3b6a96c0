import CryptoEVP
import JSON

/// A content digest, "sha256:<64 lower-case hex digits>" (the only algorithm accepted).
public struct OCIDigest: Sendable, Hashable, CustomStringConvertible {
    public let hex: String

    public init(sha256 bytes: [UInt8]) { hex = Hex.encode(bytes) }

    /// Parses "sha256:…"; nil for anything else (other algorithms, upper case, wrong length).
    public init?(_ text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        let hex = String(text.dropFirst(7))
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.hex = hex
    }

    public var description: String { "sha256:" + hex }
}

/// Well-known media types.
public enum OCIMediaType {
    public static let index = "application/vnd.oci.image.index.v1+json"
    public static let manifest = "application/vnd.oci.image.manifest.v1+json"
    public static let config = "application/vnd.oci.image.config.v1+json"
    public static let layer = "application/vnd.oci.image.layer.v1.tar"
    public static let layerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let layerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    /// How a layer of this media type is compressed, or nil when it is not a layer type we unpack.
    public static func layerCompression(_ mediaType: String) -> LayerCompression? {
        switch mediaType {
        case layer, "application/vnd.oci.image.layer.nondistributable.v1.tar": return LayerCompression.none
        case layerGzip, dockerLayerGzip, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": return .gzip
        case layerZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": return .zstd
        default: return nil
        }
    }

    static func isIndex(_ mediaType: String) -> Bool { mediaType == index || mediaType == dockerManifestList }
    static func isManifest(_ mediaType: String) -> Bool { mediaType == manifest || mediaType == dockerManifest }
}

public enum LayerCompression: Sendable, Equatable {
    case none, gzip, zstd
}

/// The platform of an image in an index.
public struct OCIPlatform: Sendable, Hashable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// The platform this process runs on, in OCI's (GOARCH) words.
    public static var current: OCIPlatform {
        #if arch(x86_64)
        return OCIPlatform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        return OCIPlatform(os: "linux", architecture: "arm64")
        #elseif arch(arm)
        return OCIPlatform(os: "linux", architecture: "arm", variant: "v7")
        #else
        return OCIPlatform(os: "linux", architecture: "unknown")
        #endif
    }

    /// Same OS and architecture; a variant is compared only when both give one.
    public func matches(_ other: OCIPlatform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        if let variant, let otherVariant = other.variant { return variant == otherVariant }
        return true
    }
}

/// A content descriptor: what a blob is, its digest and its size.
public struct OCIDescriptor: Sendable, Hashable {
    public var mediaType: String
    public var digest: OCIDigest
    public var size: Int64
    public var annotations: [String: String]
    public var platform: OCIPlatform?

    public init(mediaType: String, digest: OCIDigest, size: Int64, annotations: [String: String] = [:],
                platform: OCIPlatform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }

    /// The image reference name (`org.opencontainers.image.ref.name`), e.g. "latest" or "1.2.0".
    public var referenceName: String? { annotations["org.opencontainers.image.ref.name"] }

    init(json: JSON, context: String) throws(OCIError) {
        do {
            mediaType = try json.requiredString("mediaType")
            let digestText = try json.requiredString("digest")
            guard let digest = OCIDigest(digestText) else {
                throw OCIError(.unsupported, "\(context): digest \"\(digestText)\" is not sha256:<64 lower-case hex>; "
                                   + "only sha256 digests are accepted")
            }
            self.digest = digest
            size = try json.requiredInt("size")
            guard size >= 0 else { throw OCIError(.invalidLayout, "\(context): negative size") }
            var annotations: [String: String] = [:]
            if let object = json["annotations"]?.objectValue {
                for (key, value) in object {
                    guard let text = value.stringValue else {
                        throw OCIError(.invalidLayout, "\(context): annotation \(key) is not a string")
                    }
                    annotations[key] = text
                }
            }
            self.annotations = annotations
            if let platform = json["platform"], case .object = platform {
                self.platform = OCIPlatform(os: try platform.requiredString("os"),
                                            architecture: try platform.requiredString("architecture"),
                                            variant: try platform.optionalString("variant"))
            } else {
                self.platform = nil
            }
        } catch let error as OCIError {
            throw error
        } catch {
            throw OCIError(.invalidLayout, "\(context): \(error)")
        }
    }

    public var json: JSON {
        var object: [String: JSON] = [
            "mediaType": .string(mediaType), "digest": .string(digest.description), "size": .int(size),
        ]
        if !annotations.isEmpty { object["annotations"] = .object(annotations.mapValues { .string($0) }) }
        if let platform {
            var p: [String: JSON] = ["os": .string(platform.os), "architecture": .string(platform.architecture)]
            if let variant = platform.variant { p["variant"] = .string(variant) }
            object["platform"] = .object(p)
        }
        return .object(object)
    }
}
