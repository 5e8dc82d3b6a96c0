import CryptoEVP
import JSON

/// Parse limits for metadata: sizes are bounded by the caller (per role), so here only the
/// nesting and a string cap as large as the document.
func metadataLimits(maxBytes: Int) -> JSONLimits {
    JSONLimits(maxDepth: 64, maxBytes: maxBytes, maxStringBytes: maxBytes)
}

/// A metadata file: `{"signed": …, "signatures": [{"keyid", "sig"}]}`.
public struct Metadata<Role: SignedRole>: Sendable {
    public var signed: Role {
        didSet { payloadCache = nil }
    }
    public var signatures: [TUFSignature]
    /// Envelope fields other than `signed` and `signatures`.
    public var unrecognized: [String: JSON]
    /// The canonical bytes of `signed` as it was parsed, which is what its signatures cover.
    private var payloadCache: [UInt8]?

    public init(signed: Role) {
        self.signed = signed
        signatures = []
        unrecognized = [:]
        payloadCache = nil
    }

    /// Parses a metadata file. Refuses floats anywhere in `signed`, duplicate keys, a `_type`
    /// other than `Role.type`, and two signatures with the same key id.
    public init(bytes: some Collection<UInt8>, maxLength: Int = 16 << 20) throws(TUFError) {
        let document: JSON
        do {
            document = try JSON.parse(bytes, limits: metadataLimits(maxBytes: maxLength))
        } catch {
            throw TUFError(.invalidMetadata, "\(Role.type) metadata is not valid JSON: \(error)")
        }
        var reader = try FieldReader(document, context: "\(Role.type) metadata")
        let signedJSON = try reader.required("signed")
        let payload: [UInt8]
        do {
            payload = try signedJSON.canonicalBytes()
        } catch {
            throw TUFError(.invalidMetadata, "\(Role.type) metadata has no canonical form: \(error.message)")
        }
        if case .object(let members) = signedJSON, case .string(let type)? = members["_type"], type != Role.type {
            throw TUFError(.repository, "expected \(Role.type) metadata, found '\(type)'")
        }
        signed = try Role(json: signedJSON)
        var seen: Set<String> = []
        var signatures: [TUFSignature] = []
        for element in try reader.array("signatures") {
            let signature = try TUFSignature(json: element)
            guard seen.insert(signature.keyID).inserted else {
                throw TUFError(.invalidMetadata, "\(Role.type) metadata has two signatures by key \(signature.keyID)")
            }
            signatures.append(signature)
        }
        self.signatures = signatures
        unrecognized = reader.rest
        payloadCache = payload
    }

    /// The bytes signatures cover: the canonical JSON of `signed`.
    public func signedBytes() throws(TUFError) -> [UInt8] {
        if let payloadCache { return payloadCache }
        do {
            return try signed.json.canonicalBytes()
        } catch {
            throw TUFError(.invalidMetadata, "\(Role.type) has no canonical form: \(error.message)")
        }
    }

    /// The whole file: compact JSON with sorted keys and a final newline.
    public func bytes() -> [UInt8] {
        var envelope = unrecognized
        envelope["signed"] = signed.json
        envelope["signatures"] = .array(signatures.map(\.json))
        return JSON.object(envelope).bytes() + [0x0A]
    }

    /// Adds (or replaces) the signature of `key` over the current `signed`.
    public mutating func sign(with key: SigningKey) throws(TUFError) {
        let keyID: String
        do {
            keyID = try TUFKey(key.publicKey).keyID
        } catch {
            throw TUFError(.usage, "cannot describe the signing key: \(error)")
        }
        let payload = try signedBytes()
        let signature: [UInt8]
        do {
            signature = try key.sign(payload)
        } catch {
            throw TUFError(.usage, "cannot sign \(Role.type): \(error)")
        }
        signatures.removeAll { $0.keyID == keyID }
        signatures.append(TUFSignature(keyID: keyID, signature: Hex.encode(signature)))
    }

    /// The signatures by key id (unique by construction).
    var signaturesByKeyID: [String: TUFSignature] {
        Dictionary(signatures.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Which of a role's keys signed: a threshold is met by distinct key ids the role lists whose
/// keys are known and whose signatures verify; other signatures are ignored.
public struct VerificationResult: Sendable, Equatable {
    public var threshold: Int64
    public var signed: Set<String>
    public var unsigned: Set<String>

    public var isVerified: Bool { Int64(signed.count) >= threshold }
}

/// Checks signatures over `payload` against a role's keys.
public func verifySignatures(role: RoleKeys, keys: [String: TUFKey], payload: [UInt8],
                             signatures: [String: TUFSignature]) -> VerificationResult {
    var result = VerificationResult(threshold: role.threshold, signed: [], unsigned: [])
    for keyID in role.keyIDs {
        guard let key = keys[keyID] else { continue }
        if let signature = signatures[keyID], key.verify(signatureHex: signature.signature, payload: payload) {
            result.signed.insert(keyID)
        } else {
            result.unsigned.insert(keyID)
        }
    }
    return result
}

extension Root {
    /// Verifies `metadata` as signed by top-level role `role` (root's own keys for root).
    public func verify<R: SignedRole>(_ metadata: Metadata<R>, as role: String) throws(TUFError) {
        guard let keys = roles[role] else { throw TUFError(.usage, "root has no role \(role)") }
        let result = verifySignatures(role: keys, keys: self.keys, payload: try metadata.signedBytes(),
                                      signatures: metadata.signaturesByKeyID)
        guard result.isVerified else {
            throw TUFError(.unsigned, "\(role) was signed by \(result.signed.count)/\(keys.threshold) of the keys "
                + "root v\(version) trusts for it")
        }
    }
}

extension Targets {
    /// Verifies `metadata` as delegated role `role` of this targets metadata.
    public func verifyDelegate(_ metadata: Metadata<Targets>, as role: String) throws(TUFError) {
        guard let delegations, let keys = delegations.roleKeys(for: role) else {
            throw TUFError(.repository, "\(role) is not delegated by this targets metadata")
        }
        let result = verifySignatures(role: keys, keys: delegations.keys, payload: try metadata.signedBytes(),
                                      signatures: metadata.signaturesByKeyID)
        guard result.isVerified else {
            throw TUFError(.unsigned, "\(role) was signed by \(result.signed.count)/\(keys.threshold) of its keys")
        }
    }
}
