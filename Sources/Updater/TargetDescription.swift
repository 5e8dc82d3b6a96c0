import JSON
import OCI

/// What kind of payload a target installs.
public enum TargetKind: String, Sendable, Equatable {
    /// An executable file placed in a slot and started through the `current` link.
    case binary
    /// An OCI image (oci-archive) unpacked into a runtime bundle and run under runc/crun.
    case oci
}

/// The health policy a release asks for (custom.health).
public struct HealthPolicy: Sendable, Equatable {
    /// How long the new version must stay healthy before it is committed.
    public var windowMilliseconds: Int64
    /// Starts of the new version allowed before the trial is abandoned.
    public var maxAttempts: Int
    /// A trial not committed this long after its start is rolled back.
    public var timeoutMilliseconds: Int64
    /// A command run inside the container (via `runc exec`) that must exit 0; empty for none.
    public var probe: [String]

    public init(windowMilliseconds: Int64 = 30_000, maxAttempts: Int = 3, timeoutMilliseconds: Int64 = 300_000,
                probe: [String] = []) {
        self.windowMilliseconds = windowMilliseconds
        self.maxAttempts = maxAttempts
        self.timeoutMilliseconds = timeoutMilliseconds
        self.probe = probe
    }
}

/// A release target as the signed TUF targets metadata describes it: length and sha256 of the
/// artifact, and in `custom` what to install (see docs/updater.md, "Target description").
public struct TargetDescription: Sendable, Equatable {
    public var name: String
    public var length: Int64
    /// Lower-case hex.
    public var sha256: String
    public var kind: TargetKind
    public var version: Version
    /// Board names this release runs on (boards/*.toml).
    public var boards: [String]
    /// Anti-rollback counter; see `UpdatePolicy`.
    public var securityCounter: Int64
    /// The committed version must be at least this for the release to install.
    public var minimumVersion: Version?
    public var health: HealthPolicy
    /// Binary targets: the file name inside the slot (default: the target name's last component).
    public var fileName: String
    /// OCI targets: the container's name (its runtime id is name-slot).
    public var containerName: String
    /// OCI targets: limits and permissions for unpacking the image (custom.unpack).
    public var unpack = UnpackPolicy()
    /// OCI targets: an image whose USER is root may run as root (custom.allow_root).
    public var allowRoot = false

    public init(name: String, length: Int64, sha256: String, kind: TargetKind, version: Version, boards: [String],
                securityCounter: Int64 = 0, minimumVersion: Version? = nil, health: HealthPolicy = HealthPolicy(),
                fileName: String? = nil, containerName: String = "app") {
        self.name = name
        self.length = length
        self.sha256 = sha256
        self.kind = kind
        self.version = version
        self.boards = boards
        self.securityCounter = securityCounter
        self.minimumVersion = minimumVersion
        self.health = health
        self.fileName = fileName ?? Self.lastSegment(name)
        self.containerName = containerName
    }

    /// The last `/`-separated segment, by bytes as the file system reads it.
    static func lastSegment(_ name: String) -> String {
        String(decoding: Array(name.utf8).split(separator: UInt8(ascii: "/")).last ?? [], as: UTF8.self)
    }

    /// Parses a TUF targets entry: `{"length":…, "hashes":{"sha256":…}, "custom":{…}}`, with the
    /// target's name either given or in a top-level "name" member.
    public init(json: JSON, name: String? = nil) throws(UpdateError) {
        let targetName: String
        let length: Int64
        let sha256: String
        let custom: JSON
        do {
            guard let given = try name ?? json.optionalString("name") else {
                throw UpdateError(.invalidTarget, "the target description has no name (give one with --target-name)")
            }
            targetName = given
            length = try json.requiredInt("length")
            sha256 = try json.requiredObject("hashes").requiredString("sha256")
            custom = try json.requiredObject("custom")
        } catch let error as UpdateError {
            throw error
        } catch {
            throw UpdateError(.invalidTarget, "target description: \(error)")
        }
        try self.init(name: targetName, length: length, sha256: sha256, custom: custom)
    }

    /// From the parts of a verified TUF target (`TargetFile.path`, `.length`, `.hashes["sha256"]`,
    /// `.custom`): the seam the TUF download fills.
    public init(name: String, length: Int64, sha256 rawSHA256: String, custom: JSON) throws(UpdateError) {
        do {
            let sha256 = rawSHA256.lowercased()
            guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { throw UpdateError(.invalidTarget, "target \(name): hashes.sha256 is not 64 hex digits") }
            guard length >= 0 else { throw UpdateError(.invalidTarget, "target \(name): negative length") }
            let kindText = try custom.requiredString("kind")
            guard let kind = TargetKind(rawValue: kindText) else {
                throw UpdateError(.invalidTarget, "target \(name): custom.kind \"\(kindText)\" is neither binary nor oci")
            }
            let versionText = try custom.requiredString("version")
            guard let version = Version(versionText) else {
                throw UpdateError(.invalidTarget, "target \(name): custom.version \"\(versionText)\" is not a version "
                                      + "(expected numbers separated by dots, e.g. 1.4.2)")
            }
            var boards: [String] = []
            for board in try custom.requiredArray("boards") {
                guard let text = board.stringValue else {
                    throw UpdateError(.invalidTarget, "target \(name): custom.boards must hold strings")
                }
                boards.append(text)
            }
            var minimum: Version?
            if let text = try custom.optionalString("min_version") {
                guard let parsed = Version(text) else {
                    throw UpdateError(.invalidTarget, "target \(name): custom.min_version \"\(text)\" is not a version")
                }
                minimum = parsed
            }
            var health = HealthPolicy()
            if let policy = custom["health"], case .object = policy {
                // Seconds as the release tooling writes them; milliseconds for tests and short trials.
                if let seconds = try policy.optionalInt("window_seconds") ?? policy.optionalInt("window_s") {
                    health.windowMilliseconds = seconds * 1000
                }
                if let ms = try policy.optionalInt("window_ms") { health.windowMilliseconds = ms }
                if let attempts = try policy.optionalInt("attempts") { health.maxAttempts = Int(max(1, attempts)) }
                if let seconds = try policy.optionalInt("timeout_seconds") ?? policy.optionalInt("timeout_s") {
                    health.timeoutMilliseconds = seconds * 1000
                }
                if let ms = try policy.optionalInt("timeout_ms") { health.timeoutMilliseconds = ms }
                if let probe = policy["probe"]?.arrayValue { health.probe = probe.compactMap(\.stringValue) }
            }
            // The update server names the release (`name`, e.g. nanoedge-agent) but writes no `file`:
            // a binary keeps its release's name in the slot, so `current/nanoedge-agent` stays valid.
            let fileName = try custom.optionalString("file") ?? custom.optionalString("name")
            // Bytes, not Characters: "x\u{600}/.." holds a "/" that `contains("/")` does not see.
            let effective = fileName ?? Self.lastSegment(name)
            if effective.isEmpty || effective.utf8.contains(UInt8(ascii: "/")) || effective.utf8.contains(0)
                || effective.utf8.elementsEqual(".".utf8) || effective.utf8.elementsEqual("..".utf8) {
                throw UpdateError(.invalidTarget, "target \(name): custom.file (or custom.name) must be a plain file name")
            }
            let container = try custom.optionalString("container") ?? "app"
            guard !container.isEmpty, container.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x5F || (0x30...0x39).contains($0)
                || (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) })
            else { throw UpdateError(.invalidTarget, "target \(name): custom.container must be letters, digits, - or _") }
            self.init(name: name, length: length, sha256: sha256, kind: kind, version: version, boards: boards,
                      securityCounter: try custom.optionalInt("security_counter") ?? 0, minimumVersion: minimum,
                      health: health, fileName: fileName, containerName: container)
            do throws(OCIError) {
                unpack = try UnpackPolicy(unpack: custom["unpack"])
            } catch {
                throw UpdateError(.invalidTarget, "target \(name): \(error)")
            }
            if let allow = custom["allow_root"] {
                guard let flag = allow.boolValue else {
                    throw UpdateError(.invalidTarget, "target \(name): custom.allow_root must be true or false")
                }
                allowRoot = flag
            }
        } catch let error as UpdateError {
            throw error
        } catch {
            throw UpdateError(.invalidTarget, "target \(name): \(error)")
        }
    }

    /// The same shape as a TUF targets entry, plus "name", so it round-trips through `init(json:)`.
    public var json: JSON {
        var custom: [String: JSON] = [
            "kind": .string(kind.rawValue), "version": .string(version.description),
            "boards": .array(boards.map { .string($0) }), "security_counter": .int(securityCounter),
            "health": .object([
                "window_ms": .int(health.windowMilliseconds), "attempts": .int(Int64(health.maxAttempts)),
                "timeout_ms": .int(health.timeoutMilliseconds), "probe": .array(health.probe.map { .string($0) }),
            ]),
        ]
        if let minimumVersion { custom["min_version"] = .string(minimumVersion.description) }
        switch kind {
        case .binary: custom["file"] = .string(fileName)
        case .oci:
            custom["container"] = .string(containerName)
            if unpack != UnpackPolicy() { custom["unpack"] = unpack.json }
            if allowRoot { custom["allow_root"] = .bool(true) }
        }
        return [
            "name": .string(name), "length": .int(length), "hashes": ["sha256": .string(sha256)],
            "custom": .object(custom),
        ]
    }
}

/// A release version: dot-separated numbers with an optional pre-release after "-" ("1.4.0-rc.2"),
/// ordered like SemVer (a pre-release sorts before its release).
public struct Version: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let numbers: [Int]
    public let preRelease: String?

    public init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let core = parts.first, !core.isEmpty else { return nil }
        var numbers: [Int] = []
        for piece in core.split(separator: ".", omittingEmptySubsequences: false) {
            guard !piece.isEmpty, piece.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(piece) else {
                return nil
            }
            numbers.append(value)
        }
        self.numbers = numbers
        if parts.count == 2 {
            guard !parts[1].isEmpty else { return nil }
            preRelease = String(parts[1])
        } else {
            preRelease = nil
        }
    }

    public var description: String {
        numbers.map(String.init).joined(separator: ".") + (preRelease.map { "-" + $0 } ?? "")
    }

    public static func < (lhs: Version, rhs: Version) -> Bool {
        let count = max(lhs.numbers.count, rhs.numbers.count)
        for index in 0..<count {
            let a = index < lhs.numbers.count ? lhs.numbers[index] : 0
            let b = index < rhs.numbers.count ? rhs.numbers[index] : 0
            if a != b { return a < b }
        }
        switch (lhs.preRelease, rhs.preRelease) {
        case (nil, nil), (nil, _?): return false
        case (_?, nil): return true
        case (let a?, let b?): return a < b
        }
    }

    public static func == (lhs: Version, rhs: Version) -> Bool { !(lhs < rhs) && !(rhs < lhs) }

    public func hash(into hasher: inout Hasher) {
        var trimmed = numbers[...]
        while trimmed.count > 1 && trimmed.last == 0 { trimmed = trimmed.dropLast() }
        hasher.combine(Array(trimmed))
        hasher.combine(preRelease)
    }
}
