import CryptoEVP
import JSON

/// A target file as targets metadata lists it.
public struct TargetFile: Sendable, Hashable {
    /// The target's name, relative to the targets base URL (`dir/name.ext`).
    public var path: String
    public var length: Int64
    /// Algorithm name → lower-case hex digest; never empty.
    public var hashes: [String: String]
    /// Includes `custom`.
    public var unrecognized: [String: JSON]

    public init(path: String, length: Int64, hashes: [String: String], custom: JSON? = nil) throws(TUFError) {
        guard length >= 0 else { throw TUFError(.invalidMetadata, "target \(path): length must be >= 0") }
        guard !hashes.isEmpty else { throw TUFError(.invalidMetadata, "target \(path): hashes must not be empty") }
        self.path = path
        self.length = length
        self.hashes = hashes
        unrecognized = custom.map { ["custom": $0] } ?? [:]
    }

    /// Length and SHA-256 of `bytes`.
    public init(path: String, describing bytes: [UInt8], custom: JSON? = nil) throws(TUFError) {
        try self.init(path: path, length: Int64(bytes.count), hashes: ["sha256": Hex.encode(Digest.sha256(bytes))],
                      custom: custom)
    }

    init(json: JSON, path: String) throws(TUFError) {
        let context = "targets.targets.\(path)"
        var reader = try FieldReader(json, context: context)
        let length = try reader.int("length")
        let hashes = try TUFError.stringMap(try reader.object("hashes"), "\(context).hashes")
        try self.init(path: path, length: length, hashes: hashes)
        unrecognized = reader.rest
    }

    var json: JSON {
        var out = unrecognized
        out["length"] = .int(length)
        out["hashes"] = .object(hashes.mapValues { .string($0) })
        return .object(out)
    }

    /// Application data: for nanoedge the release description (see `ReleaseDescription`).
    public var custom: JSON? {
        get { unrecognized["custom"] }
        set { unrecognized["custom"] = newValue }
    }

    /// The digest that names the file under consistent snapshots: SHA-256 when listed, else the
    /// first algorithm by name. (python-tuf takes the first in file order; repositories list
    /// sha256 first or alone.)
    public var prefixHash: String {
        if let sha256 = hashes["sha256"] { return sha256 }
        return hashes.min(by: { $0.key < $1.key })!.value
    }

    /// `dir/HASH.name`, the URL path of the file under consistent snapshots.
    public var hashPrefixedPath: String {
        hashPrefixedPath(hash: prefixHash)
    }

    /// The hash goes before the last segment, found by bytes: "/" with a combining scalar after it
    /// is one `Character` but still a URL separator.
    func hashPrefixedPath(hash: String) -> String {
        let bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "\(hash).\(path)" }
        return String(decoding: bytes[...slash], as: UTF8.self) + "\(hash)."
            + String(decoding: bytes[(slash + 1)...], as: UTF8.self)
    }

    /// Checks a whole file held in memory (the downloader checks streamed files itself).
    public func verify(_ bytes: [UInt8]) throws(TUFError) {
        guard Int64(bytes.count) == length else {
            throw TUFError(.lengthOrHash, "target \(path) has \(bytes.count) bytes, the signed length is \(length)")
        }
        try verifyHashes(hashes, of: bytes, name: "target \(path)")
    }
}

/// One delegation of a targets role: who may sign which target paths.
public struct DelegatedRole: Sendable, Hashable {
    public var name: String
    public var keyIDs: [String]
    public var threshold: Int64
    public var terminating: Bool
    /// Shell-style patterns matched per path segment; exclusive with `pathHashPrefixes`.
    public var paths: [String]?
    /// Hex prefixes of SHA-256(target path); exclusive with `paths`.
    public var pathHashPrefixes: [String]?
    public var unrecognized: [String: JSON]

    public init(name: String, keyIDs: [String], threshold: Int64, terminating: Bool,
                paths: [String]? = nil, pathHashPrefixes: [String]? = nil) throws(TUFError) {
        guard (paths == nil) != (pathHashPrefixes == nil) else {
            throw TUFError(.invalidMetadata, "delegated role \(name): exactly one of paths and path_hash_prefixes")
        }
        guard Set(keyIDs).count == keyIDs.count else {
            throw TUFError(.invalidMetadata, "delegated role \(name) lists a key id twice")
        }
        guard threshold >= 1 else { throw TUFError(.invalidMetadata, "delegated role \(name): threshold must be >= 1") }
        self.name = name
        self.keyIDs = keyIDs
        self.threshold = threshold
        self.terminating = terminating
        self.paths = paths
        self.pathHashPrefixes = pathHashPrefixes
        unrecognized = [:]
    }

    init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "delegations.roles[]")
        let name = try reader.string("name")
        var keys = try FieldReader(.object(["keyids": try reader.required("keyids"),
                                            "threshold": try reader.required("threshold")]),
                                   context: "delegated role \(name)")
        let role = try RoleKeys(reading: &keys)
        let terminating = try reader.bool("terminating")
        let paths = try reader.optionalStringArray("paths")
        let prefixes = try reader.optionalStringArray("path_hash_prefixes")
        try self.init(name: name, keyIDs: role.keyIDs, threshold: role.threshold, terminating: terminating,
                      paths: paths, pathHashPrefixes: prefixes)
        unrecognized = reader.rest
    }

    var json: JSON {
        var out = unrecognized
        out["name"] = .string(name)
        out["keyids"] = .array(keyIDs.map { .string($0) })
        out["threshold"] = .int(threshold)
        out["terminating"] = .bool(terminating)
        if let paths { out["paths"] = .array(paths.map { .string($0) }) }
        if let pathHashPrefixes { out["path_hash_prefixes"] = .array(pathHashPrefixes.map { .string($0) }) }
        return .object(out)
    }

    var roleKeys: RoleKeys { RoleKeys(keyIDs: keyIDs, threshold: threshold) }

    /// True when this role is trusted for `targetPath`.
    public func isDelegated(path targetPath: String) -> Bool {
        if let pathHashPrefixes {
            let digest = Hex.encode(Digest.sha256(Array(targetPath.utf8)))
            return pathHashPrefixes.contains { digest.hasPrefix($0) }
        }
        return (paths ?? []).contains { PathPattern.matches(targetPath, pattern: $0) }
    }
}

/// Hash-bin delegation in one line (TAP 15): 2^bitLength terminating bins `PREFIX-xx`.
public struct SuccinctRoles: Sendable, Hashable {
    public var keyIDs: [String]
    public var threshold: Int64
    public var bitLength: Int
    public var namePrefix: String
    public var unrecognized: [String: JSON]

    init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "delegations.succinct_roles")
        let role = try RoleKeys(reading: &reader)
        keyIDs = role.keyIDs
        threshold = role.threshold
        let bits = try reader.int("bit_length")
        guard (1...32).contains(bits) else {
            throw TUFError(.invalidMetadata, "succinct_roles.bit_length must be between 1 and 32")
        }
        bitLength = Int(bits)
        namePrefix = try reader.string("name_prefix")
        unrecognized = reader.rest
    }

    var json: JSON {
        var out = unrecognized
        out["keyids"] = .array(keyIDs.map { .string($0) })
        out["threshold"] = .int(threshold)
        out["bit_length"] = .int(Int64(bitLength))
        out["name_prefix"] = .string(namePrefix)
        return .object(out)
    }

    private var suffixLength: Int { String((1 << bitLength) - 1, radix: 16).count }

    /// The bin responsible for `targetPath`.
    public func role(for targetPath: String) -> String {
        let digest = Digest.sha256(Array(targetPath.utf8))
        let prefix = digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let bin = Int(prefix >> UInt32(32 - bitLength))
        let hex = String(bin, radix: 16)
        return "\(namePrefix)-\(String(repeating: "0", count: suffixLength - hex.count))\(hex)"
    }

    public func isDelegated(role name: String) -> Bool {
        guard name.hasPrefix(namePrefix + "-") else { return false }
        let suffix = name.dropFirst(namePrefix.count + 1)
        guard suffix.count == suffixLength, let number = Int(suffix, radix: 16) else { return false }
        return number >= 0 && number < 1 << bitLength
    }
}

public struct Delegations: Sendable, Hashable {
    public var keys: [String: TUFKey]
    /// In order: the order is the order of trust when several roles match a path.
    public var roles: [DelegatedRole]?
    public var succinctRoles: SuccinctRoles?
    public var unrecognized: [String: JSON]

    public init(keys: [String: TUFKey], roles: [DelegatedRole]) throws(TUFError) {
        self.keys = keys
        self.roles = roles
        succinctRoles = nil
        unrecognized = [:]
        try validate()
    }

    init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "targets.delegations")
        var keys: [String: TUFKey] = [:]
        for (keyID, key) in try reader.object("keys") {
            keys[keyID] = try TUFKey(json: key, context: "delegations.keys.\(keyID)")
        }
        self.keys = keys
        if let value = reader.take("roles") {
            guard case .array(let elements) = value else { throw reader.typeError("roles", "an array") }
            var roles: [DelegatedRole] = []
            for element in elements { roles.append(try DelegatedRole(json: element)) }
            self.roles = roles
        }
        if let value = reader.take("succinct_roles") { succinctRoles = try SuccinctRoles(json: value) }
        unrecognized = reader.rest
        try validate()
    }

    private func validate() throws(TUFError) {
        guard (roles == nil) != (succinctRoles == nil) else {
            throw TUFError(.invalidMetadata, "delegations need exactly one of roles and succinct_roles")
        }
        var seen: Set<String> = []
        for role in roles ?? [] {
            guard !role.name.isEmpty, !Root.topLevelRoles.contains(role.name) else {
                throw TUFError(.invalidMetadata, "a delegated role cannot be empty or named like a top-level role")
            }
            guard seen.insert(role.name).inserted else {
                throw TUFError(.invalidMetadata, "delegated role \(role.name) appears twice")
            }
        }
    }

    var json: JSON {
        var out = unrecognized
        out["keys"] = .object(keys.mapValues(\.json))
        if let roles { out["roles"] = .array(roles.map(\.json)) }
        if let succinctRoles { out["succinct_roles"] = succinctRoles.json }
        return .object(out)
    }

    /// The roles responsible for `targetPath`, in order of trust, with their terminating flag.
    public func roles(for targetPath: String) -> [(name: String, terminating: Bool)] {
        if let roles {
            return roles.filter { $0.isDelegated(path: targetPath) }.map { ($0.name, $0.terminating) }
        }
        if let succinctRoles { return [(succinctRoles.role(for: targetPath), true)] }
        return []
    }

    /// The keys and threshold for delegated role `name`, or nil when it is not delegated here.
    public func roleKeys(for name: String) -> RoleKeys? {
        if let role = roles?.first(where: { $0.name == name }) { return role.roleKeys }
        if let succinctRoles, succinctRoles.isDelegated(role: name) {
            return RoleKeys(keyIDs: succinctRoles.keyIDs, threshold: succinctRoles.threshold)
        }
        return nil
    }
}

public struct Targets: SignedRole, Hashable {
    public static let type = "targets"
    public var common: SignedCommon
    public var targets: [String: TargetFile]
    public var delegations: Delegations?

    public init(common: SignedCommon, targets: [String: TargetFile] = [:], delegations: Delegations? = nil) {
        self.common = common
        self.targets = targets
        self.delegations = delegations
    }

    public init(json: JSON) throws(TUFError) {
        var reader = try FieldReader(json, context: "targets")
        common = try SignedCommon(reading: &reader, type: Targets.type)
        var targets: [String: TargetFile] = [:]
        for (path, file) in try reader.object("targets") {
            targets[path] = try TargetFile(json: file, path: path)
        }
        self.targets = targets
        if let value = reader.take("delegations") { delegations = try Delegations(json: value) }
        common.unrecognized = reader.rest
    }

    public var json: JSON {
        var out = common.fields(type: Targets.type)
        out["targets"] = .object(targets.mapValues(\.json))
        if let delegations { out["delegations"] = delegations.json }
        return .object(out)
    }
}

/// Python's `fnmatch.fnmatchcase`, applied per `/`-separated segment: `*` matches within a
/// segment only, so `releases/*` does not delegate `releases/a/b`. Segments split on scalars, so a
/// "/" merged into a `Character` with a prepend or combining scalar still separates.
enum PathPattern {
    static func matches(_ path: String, pattern: String) -> Bool {
        let pathParts = Array(path.unicodeScalars).split(separator: "/", omittingEmptySubsequences: false)
        let patternParts = Array(pattern.unicodeScalars).split(separator: "/", omittingEmptySubsequences: false)
        guard pathParts.count == patternParts.count else { return false }
        for (part, patternPart) in zip(pathParts, patternParts) {
            if !fnmatch(Array(part), Array(patternPart)) { return false }
        }
        return true
    }

    /// Glob match with `*`, `?`, `[set]`, `[!set]`; backtracks only to the last `*`.
    static func fnmatch(_ text: [Unicode.Scalar], _ pattern: [Unicode.Scalar]) -> Bool {
        var t = 0, p = 0
        var starP = -1, starT = 0
        while t < text.count {
            if p < pattern.count {
                switch pattern[p] {
                case "*":
                    starP = p
                    starT = t
                    p += 1
                    continue
                case "?":
                    t += 1
                    p += 1
                    continue
                case "[":
                    if let (matched, next) = matchSet(text[t], pattern, from: p) {
                        if matched {
                            t += 1
                            p = next
                            continue
                        }
                    } else if text[t] == "[" {
                        // An unclosed `[` is a literal.
                        t += 1
                        p += 1
                        continue
                    }
                default:
                    if pattern[p] == text[t] {
                        t += 1
                        p += 1
                        continue
                    }
                }
            }
            guard starP >= 0 else { return false }
            starT += 1
            t = starT
            p = starP + 1
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }

    /// Matches `character` against the set starting at `pattern[start] == "["`; nil when the set
    /// has no closing `]` (then `[` is literal, as in Python).
    private static func matchSet(_ character: Unicode.Scalar, _ pattern: [Unicode.Scalar],
                                 from start: Int) -> (Bool, Int)? {
        var index = start + 1
        var negate = false
        if index < pattern.count && pattern[index] == "!" {
            negate = true
            index += 1
        }
        var matched = false
        var first = true
        while index < pattern.count {
            let c = pattern[index]
            if c == "]" && !first {
                return (matched != negate, index + 1)
            }
            first = false
            if index + 2 < pattern.count && pattern[index + 1] == "-" && pattern[index + 2] != "]" {
                if c.value <= character.value && character.value <= pattern[index + 2].value { matched = true }
                index += 3
            } else {
                if c == character { matched = true }
                index += 1
            }
        }
        return nil
    }
}
