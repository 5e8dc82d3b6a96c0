import COpenSSL

/// The hash algorithms TUF metadata names in `hashes` that we can check.
public enum HashAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha224, sha256, sha384, sha512

    /// The algorithm for a TUF hash name, or nil when we cannot compute it.
    public init?(tufName: String) { self.init(rawValue: tufName) }

    public var digestLength: Int {
        switch self {
        case .sha224: 28
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    var evp: OpaquePointer {
        switch self {
        case .sha224: EVP_sha224()
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }
}

extension Digest {
    public static func hash(_ algorithm: HashAlgorithm, _ data: [UInt8]) -> [UInt8] {
        let digest = StreamingDigest(algorithm)
        digest.update(data)
        return digest.finish()
    }
}

/// A digest fed piece by piece, for files hashed as their bytes arrive.
/// One owner at a time; not for concurrent use.
public final class StreamingDigest {
    public let algorithm: HashAlgorithm
    private let context: OpaquePointer

    public init(_ algorithm: HashAlgorithm) {
        self.algorithm = algorithm
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, algorithm.evp, nil) == 1 else {
            preconditionFailure("OpenSSL cannot start a \(algorithm) digest")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed so far; the digest then starts again from empty.
    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        EVP_DigestInit_ex(context, algorithm.evp, nil)
        return Array(out.prefix(Int(length)))
    }

    /// Starts again from empty, dropping what was fed.
    public func reset() {
        EVP_DigestInit_ex(context, algorithm.evp, nil)
    }
}
