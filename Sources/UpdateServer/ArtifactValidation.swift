import JSON
import OCI
import Releases

#if canImport(Glibc)
import Glibc
#endif

/// CPU architectures a board profile can name, with their ELF machine numbers.
public enum Architecture: String, Sendable, CaseIterable {
    case aarch64
    case armv7
    case x86_64

    var elfMachine: UInt16 {
        switch self {
        case .aarch64: 183   // EM_AARCH64
        case .armv7: 40      // EM_ARM
        case .x86_64: 62     // EM_X86_64
        }
    }

    /// 64-bit ELF for aarch64 and x86_64, 32-bit for armv7.
    var elfClass: UInt8 { self == .armv7 ? 1 : 2 }

    /// The name OCI image configs use (Go's GOARCH).
    var ociName: String {
        switch self {
        case .aarch64: "arm64"
        case .armv7: "arm"
        case .x86_64: "amd64"
        }
    }

    init?(elfMachine: UInt16) {
        guard let match = Architecture.allCases.first(where: { $0.elfMachine == elfMachine }) else { return nil }
        self = match
    }
}

/// What an OCI archive holds, once checked.
public struct OCIImageSummary: Sendable, Hashable {
    public var manifestDigest: String
    public var layers: Int
    /// The images' architectures in OCI's words (`arm64`, `arm`, `amd64`); empty when unknown.
    public var architectures: [String]
    public init(manifestDigest: String, layers: Int, architectures: [String] = []) {
        self.manifestDigest = manifestDigest
        self.layers = layers
        self.architectures = architectures
    }
}

/// Checks an oci-archive tar: index.json → manifest → config and layers, every blob present with the
/// digest and size its descriptor names, and every image unpackable under `policy` as a device
/// would unpack it. The implementation comes from the `OCI` module.
public protocol OCIArchiveValidator: Sendable {
    func validate(archiveAt path: String, policy: UnpackPolicy) throws(ServerError) -> OCIImageSummary
}

/// Checks what a release upload holds before it is stored.
public struct ArtifactValidator: Sendable {
    public let boards: BoardCatalog
    public let oci: (any OCIArchiveValidator)?

    public init(boards: BoardCatalog, oci: (any OCIArchiveValidator)?) {
        self.boards = boards
        self.oci = oci
    }

    /// A binary must be an ELF executable (or PIE) for the architecture of every board it names;
    /// a board without an `arch` (the simulator) takes any. An OCI release must be a valid archive
    /// that devices would unpack under the release's `custom.unpack` (nil: the defaults).
    public func validate(kind: ReleaseKind, path: String, boards names: [String], unpack: JSON? = nil) throws(ServerError) {
        switch kind {
        case .binary:
            let architecture = try elfArchitecture(path)
            for name in names {
                if let wanted = boards.architecture(of: name), wanted != architecture {
                    throw .badRequest("the artifact is an ELF executable for \(architecture.rawValue), but board \(name) "
                        + "runs \(wanted.rawValue); build for \(wanted.rawValue) or release it for other boards")
                }
            }
        case .oci:
            guard let oci else {
                throw ServerError(.notImplemented, "this server was built without OCI archive validation")
            }
            let policy: UnpackPolicy
            do throws(OCIError) {
                policy = try UnpackPolicy(unpack: unpack)
            } catch {
                throw .badRequest("\(error)")
            }
            let summary = try oci.validate(archiveAt: path, policy: policy)
            for name in names {
                if let wanted = boards.architecture(of: name), !summary.architectures.isEmpty,
                   !summary.architectures.contains(wanted.ociName) {
                    throw .badRequest("the image is for \(summary.architectures.joined(separator: ", ")), but board \(name) runs "
                        + "\(wanted.ociName); build the image for linux/\(wanted.ociName) or release it for other boards")
                }
            }
        }
    }

    /// Reads the ELF header: magic, class, little-endian data, type EXEC or DYN, machine.
    func elfArchitecture(_ path: String) throws(ServerError) -> Architecture {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ServerError(.internalServerError, "cannot read the upload: \(systemMessage())") }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 20)
        let count = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 20) }
        guard count == 20, header[0...3] == [0x7F, 0x45, 0x4C, 0x46] else {
            throw .badRequest("a binary release must be an ELF executable; this file does not start with the ELF magic")
        }
        guard header[5] == 1 else {
            throw .badRequest("the ELF file is big-endian; Raspberry Pi boards run little-endian code")
        }
        let type = UInt16(header[16]) | UInt16(header[17]) << 8
        guard type == 2 || type == 3 else {
            throw .badRequest("the ELF file is not an executable (e_type \(type)); release the linked program, not an object file")
        }
        let machine = UInt16(header[18]) | UInt16(header[19]) << 8
        guard let architecture = Architecture(elfMachine: machine) else {
            throw .badRequest("the ELF file is for machine \(machine), which no board here runs")
        }
        guard header[4] == architecture.elfClass else {
            throw .badRequest("the ELF file's class does not match \(architecture.rawValue) (\(header[4] == 1 ? "32" : "64")-bit)")
        }
        return architecture
    }
}
