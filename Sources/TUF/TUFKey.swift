import CryptoEVP
import JSON

/// A public key as TUF metadata lists it: `{"keytype", "scheme", "keyval": {"public"}}`.
/// Keys of a type or scheme we cannot verify are kept (and written back) but never count
/// towards a threshold.
public struct TUFKey: Sendable, Hashable {
    public var keyType: String
    public var scheme: String
    public var keyval: [String: JSON]
    public var unrecognized: [String: JSON]

    public init(keyType: String, scheme: String, keyval: [String: JSON], unrecognized: [String: JSON] = [:]) {
        self.keyType = keyType
        self.scheme = scheme
        self.keyval = keyval
        self.unrecognized = unrecognized
    }

    /// The metadata form of `key`: hex for Ed25519, PEM for ECDSA and RSA (securesystemslib's encodings).
    public init(_ key: PublicKey) throws(CryptoError) {
        let value: String
        switch key.algorithm {
        case .ed25519:
            guard let raw = key.ed25519Raw() else { throw CryptoError(.invalidKey, "cannot read the ed25519 key") }
            value = Hex.encode(raw)
        case .ecdsa, .rsa:
            value = try key.pem()
        }
        self.init(keyType: key.algorithm.keyType, scheme: key.algorithm.scheme, keyval: ["public": .string(value)])
    }

    public init(json: JSON, context: String = "key") throws(TUFError) {
        var reader = try FieldReader(json, context: context)
        keyType = try reader.string("keytype")
        scheme = try reader.string("scheme")
        keyval = try reader.object("keyval")
        guard case .string = keyval["public"] else {
            throw TUFError(.invalidMetadata, "\(context).keyval.public must be a string")
        }
        unrecognized = reader.rest
    }

    public var json: JSON {
        merged(["keytype": .string(keyType), "scheme": .string(scheme), "keyval": .object(keyval)], into: unrecognized)
    }

    /// The default key id: SHA-256 of the canonical JSON of keytype, scheme and keyval
    /// (securesystemslib's `compute_default_keyid`; unrecognized fields do not count).
    public var keyID: String {
        let dict: JSON = ["keytype": .string(keyType), "scheme": .string(scheme), "keyval": .object(keyval)]
        // Strings and objects only: always canonicalizable, unless keyval holds a float.
        let bytes = (try? dict.canonicalBytes()) ?? dict.bytes()
        return Hex.encode(Digest.sha256(bytes))
    }

    /// The algorithm, when we can verify this key's signatures.
    public var algorithm: KeyAlgorithm? { KeyAlgorithm(keyType: keyType, scheme: scheme) }

    /// The key for OpenSSL; throws for unsupported schemes and malformed key material.
    public func publicKey() throws(CryptoError) -> PublicKey {
        guard let algorithm else {
            throw CryptoError(.unsupported, "key type \(keyType) with scheme \(scheme) is not supported")
        }
        guard case .string(let value) = keyval["public"] else {
            throw CryptoError(.invalidKey, "the key has no public value")
        }
        if algorithm == .ed25519 {
            guard let raw = Hex.decode(value), value.utf8.count == 64 else {
                throw CryptoError(.invalidKey, "an ed25519 public key must be 64 hex digits")
            }
            return try PublicKey(ed25519Raw: raw)
        }
        return try PublicKey(pem: value, algorithm: algorithm)
    }

    /// True when `signature` (hex) is a valid signature by this key over `payload`.
    public func verify(signatureHex: String, payload: [UInt8]) -> Bool {
        guard let signature = Hex.decode(signatureHex), !signature.isEmpty,
              let key = try? publicKey()
        else { return false }
        return key.verify(signature: signature, data: payload)
    }
}

/// One entry of a metadata file's `signatures`.
public struct TUFSignature: Sendable, Hashable {
    public var keyID: String
    /// Lower-case hex, as securesystemslib writes it.
    public var signature: String
    public var unrecognized: [String: JSON]

    public init(keyID: String, signature: String, unrecognized: [String: JSON] = [:]) {
        self.keyID = keyID
        self.signature = signature
        self.unrecognized = unrecognized
    }

    init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "signature")
        keyID = try reader.string("keyid")
        signature = try reader.string("sig")
        unrecognized = reader.rest
    }

    var json: JSON {
        merged(["keyid": .string(keyID), "sig": .string(signature)], into: unrecognized)
    }
}
