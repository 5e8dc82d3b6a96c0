import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A private key that signs release metadata. It is kept as PKCS#8 PEM, optionally encrypted
/// with a passphrase (AES-256-CBC, PBKDF2), in files of mode 0600.
public struct SigningKey: Sendable {
    public let algorithm: KeyAlgorithm
    public let publicKey: PublicKey
    private let key: OwnedKey

    /// RSA modulus size for new keys.
    public static let rsaBits: Int32 = 3072

    private init(algorithm: KeyAlgorithm, key: OwnedKey) throws(CryptoError) {
        self.algorithm = algorithm
        self.key = key
        // A separate public-only key, so a `PublicKey` handed out never carries the private half.
        let pem = try withMemoryBIO { bio in PEM_write_bio_PUBKEY(bio, key.raw) == 1 }
        switch algorithm {
        case .ed25519:
            var raw = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_public_key(key.raw, &raw, &length) == 1 else {
                throw .openSSL(.failed, "cannot read the ed25519 public key")
            }
            publicKey = try PublicKey(ed25519Raw: raw)
        case .ecdsa, .rsa:
            publicKey = try PublicKey(pem: pem, algorithm: algorithm)
        }
    }

    /// A new random key.
    public static func generate(_ algorithm: KeyAlgorithm) throws(CryptoError) -> SigningKey {
        guard let context = EVP_PKEY_CTX_new_id(algorithm.openSSLType, nil) else {
            throw .openSSL(.failed, "cannot create a key generator for \(algorithm.keyType)")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else { throw .openSSL(.failed, "cannot start key generation") }
        switch algorithm {
        case .ecdsa:
            guard EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1) == 1 else {
                throw .openSSL(.failed, "cannot select curve P-256")
            }
        case .rsa:
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, rsaBits) == 1 else {
                throw .openSSL(.failed, "cannot set the RSA key size")
            }
        case .ed25519:
            break
        }
        var raw: OpaquePointer?
        guard EVP_PKEY_keygen(context, &raw) == 1, let raw else {
            throw .openSSL(.failed, "key generation failed")
        }
        return try SigningKey(algorithm: algorithm, key: OwnedKey(raw))
    }

    /// A key from PKCS#8 PEM (or any private key PEM OpenSSL reads). An encrypted key needs its
    /// passphrase; without one it fails at once instead of prompting on a terminal.
    public init(pem: String, passphrase: String? = nil) throws(CryptoError) {
        // A byte search: String.contains(String) would pull the regex engine into the agent.
        let encrypted = containsBytes(Array(pem.utf8), Array("ENCRYPTED".utf8))
        if encrypted && passphrase == nil {
            throw CryptoError(.passphrase, "the private key is encrypted: give its passphrase")
        }
        let bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            var secret = Array((passphrase ?? "").utf8CString)
            defer { for index in secret.indices { secret[index] = 0 } }
            return secret.withUnsafeMutableBytes { secretBytes in
                PEM_read_bio_PrivateKey(bio, nil, passphraseCallback, passphrase == nil ? nil : secretBytes.baseAddress)
            }
        }
        guard let parsed else {
            if encrypted { throw .openSSL(.passphrase, "cannot decrypt the private key: wrong passphrase?") }
            throw .openSSL(.invalidKey, "not a PEM private key")
        }
        let key = OwnedKey(parsed)
        let type = EVP_PKEY_get_base_id(parsed)
        guard let algorithm = KeyAlgorithm.allCases.first(where: { $0.openSSLType == type }) else {
            throw CryptoError(.unsupported, "the private key is not an ed25519, ECDSA P-256 or RSA key")
        }
        try PublicKey.check(key, is: algorithm)
        try self.init(algorithm: algorithm, key: key)
    }

    /// PKCS#8 PEM; encrypted with AES-256-CBC under `passphrase` when one is given.
    public func pem(passphrase: String? = nil) throws(CryptoError) -> String {
        if let passphrase, passphrase.isEmpty {
            throw CryptoError(.passphrase, "an empty passphrase protects nothing: give one or none")
        }
        return try withMemoryBIO { bio in
            guard let passphrase else {
                return PEM_write_bio_PKCS8PrivateKey(bio, key.raw, nil, nil, 0, nil, nil) == 1
            }
            var secret = Array(passphrase.utf8CString)
            defer { for index in secret.indices { secret[index] = 0 } }
            return secret.withUnsafeBufferPointer { buffer in
                PEM_write_bio_PKCS8PrivateKey(bio, key.raw, EVP_aes_256_cbc(), buffer.baseAddress,
                                              Int32(buffer.count - 1), nil, nil) == 1
            }
        }
    }

    /// A signature over `data` under the key's scheme: raw 64 bytes for Ed25519, DER for ECDSA,
    /// PSS with a salt as long as the digest for RSA (what securesystemslib writes).
    public func sign(_ data: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw .openSSL(.failed, "cannot allocate a digest context") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        let digest = algorithm == .ed25519 ? nil : EVP_sha256()
        guard EVP_DigestSignInit(context, &keyContext, digest, nil, key.raw) == 1 else {
            throw .openSSL(.failed, "cannot start signing")
        }
        if algorithm == .rsa {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            else { throw .openSSL(.failed, "cannot select RSA-PSS") }
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, data, data.count) == 1 else {
            throw .openSSL(.failed, "signing failed")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, data, data.count) == 1 else {
            throw .openSSL(.failed, "signing failed")
        }
        return Array(signature.prefix(length))
    }

    // MARK: Key files

    /// Writes the key as PKCS#8 PEM to a new file of mode 0600 (never replacing one: a key file
    /// is overwritten by mistake only once).
    public func write(toFile path: String, passphrase: String? = nil) throws(CryptoError) {
        let text = try pem(passphrase: passphrase)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fileError("create", path) }
        var failed = false
        // The umask can only take bits away; set the mode outright so it is exactly 0600.
        if fchmod(fd, 0o600) != 0 { failed = true }
        let bytes = Array(text.utf8)
        var offset = 0
        while !failed && offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { failed = true } else { offset += count }
        }
        if !failed && fsync(fd) != 0 { failed = true }
        let error = failed ? fileError("write", path) : nil
        close(fd)
        if let error {
            unlink(path)
            throw error
        }
    }

    /// Reads a key file written by `write(toFile:)` (or any PEM private key).
    public static func load(fromFile path: String, passphrase: String? = nil) throws(CryptoError) -> SigningKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fileError("open", path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw fileError("read", path) }
            if count == 0 { break }
            bytes += chunk[0..<count]
            guard bytes.count <= 1 << 20 else { throw CryptoError(.invalidKey, "\(path) is too large for a key file") }
        }
        do {
            return try SigningKey(pem: String(decoding: bytes, as: UTF8.self), passphrase: passphrase)
        } catch {
            throw CryptoError(error.code, "\(path): \(error.message)")
        }
    }
}

/// Hands OpenSSL the passphrase passed as `userdata`; with none it returns 0, so decryption
/// fails instead of OpenSSL prompting on the controlling terminal.
private let passphraseCallback: @convention(c) (
    UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?
) -> Int32 = { buffer, size, _, userdata in
    guard let buffer, let userdata else { return 0 }
    let secret = userdata.assumingMemoryBound(to: CChar.self)
    let length = strlen(secret)
    guard length < Int(size) else { return 0 }
    memcpy(buffer, secret, length)
    return Int32(length)
}

func containsBytes(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
        return true
    }
    return false
}

private func fileError(_ operation: String, _ path: String) -> CryptoError {
    let code = errno
    let reason = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    let hint = code == EEXIST ? "; a key file is never replaced: move the old one aside first" : ""
    return CryptoError(.io, "cannot \(operation) \(path): \(reason)\(hint)")
}
