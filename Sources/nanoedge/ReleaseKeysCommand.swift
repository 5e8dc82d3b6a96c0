#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CryptoEVP
import DurableFile
import TUF
import TUFRepository

extension KeyAlgorithm: ExpressibleByArgument {}

/// A key file's passphrase, from an environment variable so it never shows in `ps`.
struct PassphraseOption: ParsableArguments {
    @Option(help: ArgumentHelp("Environment variable holding the passphrase of the key files; without it they "
                               + "are written unencrypted.", valueName: "var"))
    var passphraseEnv: String?

    func passphrase() throws -> String? { try Self.passphrase(fromVariable: passphraseEnv) }

    static func passphrase(fromVariable name: String?) throws -> String? {
        guard let name else { return nil }
        guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else {
            throw CommandFailure("--passphrase-env \(name): the variable is not set or empty")
        }
        return value
    }
}

/// Options shared by the release-signing verbs.
struct ReleaseKeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The TUF repository directory (metadata/ and targets/).", valueName: "dir"))
    var repo: String

    @Option(help: ArgumentHelp("Where the private keys are (default: REPO/keys). Move the root and targets keys "
                               + "to offline media after the ceremony.", valueName: "dir"))
    var keys: String?

    @OptionGroup var secret: PassphraseOption

    var keyDirectory: String { keys ?? repo + "/keys" }

    func passphrase() throws -> String? { try secret.passphrase() }

    /// Every key file in the key directory, by role (file names are ROLE.KEYID.pem).
    func loadKeys() throws -> [(role: String, path: String, key: SigningKey)] {
        guard let directory = opendir(keyDirectory) else {
            throw CommandFailure("cannot open the key directory \(keyDirectory); pass --keys")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasSuffix(".pem") { names.append(name) }
        }
        let secret = try passphrase()
        var out: [(String, String, SigningKey)] = []
        for name in names.sorted() {
            let role = String(name.prefix(while: { $0 != "." }))
            let path = keyDirectory + "/" + name
            out.append((role, path, try SigningKey.load(fromFile: path, passphrase: secret)))
        }
        return out
    }

    /// Writes a new key for `role` as ROLE.KEYID.pem (mode 0600) and returns it.
    func writeNewKey(role: String, algorithm: KeyAlgorithm, passphrase: String?) throws -> SigningKey {
        let key = try SigningKey.generate(algorithm)
        let keyID = try TUFKey(key.publicKey).keyID
        try key.write(toFile: "\(keyDirectory)/\(role).\(keyID.prefix(16)).pem", passphrase: passphrase)
        return key
    }
}

extension KeysCommand {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the release-signing keys and the first root of a TUF repository.",
            discussion: """
                Makes N keys for each of root, targets, snapshot and timestamp, where N is the role's \
                threshold (default 1), writes them as PKCS#8 PEM files of mode 0600 (KEYS/ROLE.KEYID.pem), \
                and publishes metadata/1.root.json with empty targets, snapshot and timestamp. \
                Pin metadata/1.root.json on devices (nanoedge-agent tuf init). See keys/README.md.
                """)

        @OptionGroup var options: ReleaseKeyOptions

        @Option(name: .customLong("threshold"),
                help: ArgumentHelp("A role's signature threshold, e.g. root=2; repeat per role.", valueName: "role=N"))
        var thresholds: [String] = []

        @Option(help: "The key type: ed25519, ecdsa (P-256) or rsa (3072-bit RSA-PSS).")
        var keyType: KeyAlgorithm = .ed25519

        func run() throws {
            try reportingFailures {
                var parsed: [String: Int64] = [:]
                for entry in thresholds {
                    let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, ["root", "targets", "snapshot", "timestamp"].contains(parts[0]),
                          let value = Int64(parts[1]), (1...16).contains(value)
                    else {
                        throw ValidationError("--threshold \(entry): use ROLE=N with a top-level role and N from 1 to 16")
                    }
                    parsed[parts[0]] = value
                }
                let secret = try options.passphrase()
                guard access(options.repo + "/metadata/1.root.json", F_OK) != 0 else {
                    throw CommandFailure("\(options.repo) already holds a repository (metadata/1.root.json)")
                }
                try DurableFile.makeDirectories(options.repo)
                try DurableFile.makeDirectories(options.keyDirectory, mode: 0o700)
                var keys: [String: [SigningKey]] = [:]
                for role in ["root", "targets", "snapshot", "timestamp"] {
                    for _ in 0..<(parsed[role] ?? 1) {
                        keys[role, default: []].append(try options.writeNewKey(role: role, algorithm: keyType,
                                                                                passphrase: secret))
                    }
                }
                let repository = try TUFRepository.create(
                    directory: options.repo, roleKeys: keys.mapValues { $0.map(\.publicKey) }, thresholds: parsed,
                    signers: keys.values.flatMap { $0 })
                print("created \(options.repo)/metadata/1.root.json (root v1, \(keyType.keyType) keys)")
                for role in ["root", "targets", "snapshot", "timestamp"] {
                    let entry = repository.root.signed.roles[role]!
                    print("\(role): threshold \(entry.threshold) of \(entry.keyIDs.count): "
                        + entry.keyIDs.map { String($0.prefix(16)) }.joined(separator: " "))
                }
                print("private keys in \(options.keyDirectory) (mode 0600\(secret == nil ? ", unencrypted" : ", encrypted"))")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Replace a role's keys: root N+1 signed by the old and the new root keys.",
            discussion: """
                Generates as many new keys as the role's threshold, writes root N+1 listing them (signed by \
                the current root keys and, for a root rotation, the new ones too), re-signs the role's \
                metadata where needed, and moves the old key files to KEYS/retired/. Needs the current \
                root keys in the key directory.
                """)

        @OptionGroup var options: ReleaseKeyOptions

        @Option(help: "The role whose keys are replaced: root, targets, snapshot or timestamp.")
        var role: String

        @Option(help: "The key type of the new keys (default: that of the role's current keys).")
        var keyType: KeyAlgorithm?

        func validate() throws {
            guard ["root", "targets", "snapshot", "timestamp"].contains(role) else {
                throw ValidationError("--role must be root, targets, snapshot or timestamp")
            }
        }

        func run() throws {
            try reportingFailures {
                let secret = try options.passphrase()
                let existing = try options.loadKeys()
                let repository = try TUFRepository(directory: options.repo, signers: existing.map(\.key))
                let current = repository.root.signed.roles[role]!
                let oldFiles = existing.filter { $0.role == role }
                let algorithm = keyType ?? oldFiles.first?.key.algorithm ?? .ed25519
                var fresh: [SigningKey] = []
                for _ in 0..<current.threshold {
                    let key = try options.writeNewKey(role: role, algorithm: algorithm, passphrase: secret)
                    try repository.addSigner(key)
                    fresh.append(key)
                }
                let version = try repository.rotate(role: role, to: fresh.map(\.publicKey), threshold: current.threshold)
                let retired = options.keyDirectory + "/retired"
                if mkdir(retired, 0o700) != 0 && errno != EEXIST { throw CommandFailure("cannot create \(retired)") }
                let newIDs = Set(repository.root.signed.roles[role]!.keyIDs.map { String($0.prefix(16)) })
                for file in oldFiles {
                    let name = file.path.split(separator: "/").last.map(String.init) ?? file.path
                    if newIDs.contains(where: { name.contains($0) }) { continue }
                    rename(file.path, retired + "/" + name)
                }
                print("root v\(version) published: \(role) now uses "
                    + repository.root.signed.roles[role]!.keyIDs.map { String($0.prefix(16)) }.joined(separator: " "))
                print("old \(role) key files moved to \(retired)")
            }
        }
    }
}
