import COpenSSL

/// The signature algorithms releases are signed with, by the names TUF metadata uses
/// (securesystemslib's key types and schemes).
public enum KeyAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// Ed25519, pure (no pre-hash). Public keys are 32 raw bytes, written as hex.
    case ed25519
    /// ECDSA over NIST P-256 with SHA-256, DER signatures. Public keys are PEM (SubjectPublicKeyInfo).
    case ecdsa
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256. Public keys are PEM (SubjectPublicKeyInfo).
    case rsa

    /// TUF's `keytype`.
    public var keyType: String { rawValue }

    /// TUF's `scheme`.
    public var scheme: String {
        switch self {
        case .ed25519: "ed25519"
        case .ecdsa: "ecdsa-sha2-nistp256"
        case .rsa: "rsassa-pss-sha256"
        }
    }

    /// The algorithm for a TUF key type and scheme, or nil for any other pair.
    public init?(keyType: String, scheme: String) {
        guard let algorithm = KeyAlgorithm(rawValue: keyType), algorithm.scheme == scheme else { return nil }
        self = algorithm
    }

    var openSSLType: Int32 {
        switch self {
        case .ed25519: EVP_PKEY_ED25519
        case .ecdsa: EVP_PKEY_EC
        case .rsa: EVP_PKEY_RSA
        }
    }
}

/// Owns an `EVP_PKEY`. OpenSSL 3 allows concurrent use of a key that is no longer modified.
final class OwnedKey: @unchecked Sendable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { EVP_PKEY_free(raw) }
}

/// A public key that verifies signatures.
public struct PublicKey: Sendable {
    public let algorithm: KeyAlgorithm
    let key: OwnedKey

    /// Smallest RSA modulus accepted for verification.
    public static let minimumRSABits: Int32 = 2048

    init(algorithm: KeyAlgorithm, key: OwnedKey) {
        self.algorithm = algorithm
        self.key = key
    }

    /// A PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`) of the given algorithm.
    public init(pem: String, algorithm: KeyAlgorithm) throws(CryptoError) {
        guard algorithm != .ed25519 else {
            throw CryptoError(.invalidKey, "ed25519 public keys are 64 hex digits in TUF metadata, not PEM")
        }
        let bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let parsed else { throw .openSSL(.invalidKey, "not a PEM public key") }
        let key = OwnedKey(parsed)
        try PublicKey.check(key, is: algorithm)
        self.init(algorithm: algorithm, key: key)
    }

    /// An Ed25519 public key from its 32 raw bytes.
    public init(ed25519Raw bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else {
            throw CryptoError(.invalidKey, "an ed25519 public key has 32 bytes, not \(bytes.count)")
        }
        guard let raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, bytes, bytes.count) else {
            throw .openSSL(.invalidKey, "not an ed25519 public key")
        }
        self.init(algorithm: .ed25519, key: OwnedKey(raw))
    }

    /// The PEM SubjectPublicKeyInfo, as pyca/cryptography writes it (64-column base64, final newline).
    public func pem() throws(CryptoError) -> String {
        try withMemoryBIO { bio in PEM_write_bio_PUBKEY(bio, key.raw) == 1 }
    }

    /// The 32 raw bytes of an Ed25519 key; nil for other algorithms.
    public func ed25519Raw() -> [UInt8]? {
        guard algorithm == .ed25519 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key.raw, &out, &length) == 1, length == 32 else { return nil }
        return out
    }

    /// True when `signature` is this key's valid signature over `data` under the key's scheme.
    /// RSA-PSS accepts any salt length, as securesystemslib does (it signs with the digest length).
    public func verify(signature: [UInt8], data: [UInt8]) -> Bool {
        defer { ERR_clear_error() }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        let digest = algorithm == .ed25519 ? nil : EVP_sha256()
        guard EVP_DigestVerifyInit(context, &keyContext, digest, nil, key.raw) == 1 else { return false }
        if algorithm == .rsa {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_AUTO) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            else { return false }
        }
        return EVP_DigestVerify(context, signature, signature.count, data, data.count) == 1
    }

    /// Refuses keys of another type, ECDSA keys on another curve and short RSA keys.
    static func check(_ key: OwnedKey, is algorithm: KeyAlgorithm) throws(CryptoError) {
        let type = EVP_PKEY_get_base_id(key.raw)
        guard type == algorithm.openSSLType else {
            throw CryptoError(.unsupported, "the key is not an \(algorithm.keyType) key")
        }
        switch algorithm {
        case .ecdsa:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_utf8_string_param(key.raw, "group", &name, name.count, &length) == 1 else {
                throw .openSSL(.unsupported, "the ECDSA key has no named curve")
            }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard curve == "prime256v1" else {
                throw CryptoError(.unsupported, "the ECDSA key is on curve \(curve); releases use P-256 (prime256v1)")
            }
        case .rsa:
            let bits = EVP_PKEY_get_bits(key.raw)
            guard bits >= minimumRSABits else {
                throw CryptoError(.unsupported, "the RSA key has \(bits) bits; at least \(minimumRSABits) are required")
            }
        case .ed25519:
            break
        }
    }
}

/// Runs `write` against a memory BIO and returns what it wrote as text.
func withMemoryBIO(_ write: (OpaquePointer) -> Bool) throws(CryptoError) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL(.failed, "cannot allocate a memory BIO") }
    defer { BIO_free(bio) }
    guard write(bio) else { throw .openSSL(.failed, "cannot encode the key") }
    var data: UnsafeMutablePointer<CChar>?
    let length = nanoedge_bio_mem_data(bio, &data)
    guard let data, length > 0 else { throw .openSSL(.failed, "cannot encode the key") }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
}
