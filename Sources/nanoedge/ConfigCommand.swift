import ArgumentParser
import CryptoEVP
import Foundation
import Gateway
import JSON
import Site

extension KeysCommand {
    struct ConfigKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "config-key",
            abstract: "Create the Ed25519 key that signs remote config pushes.",
            discussion: """
                Writes the private key (PKCS#8 PEM, mode 0600; encrypted with --passphrase-env) to --out and \
                the public key as 64 hex digits to OUT.pub. Copy the .pub file to each device and name it in \
                agent.toml ([remote_config] public_key_file); keep the private key off the gateway if you can.
                """)

        @Option(help: ArgumentHelp("Where to write the private key.", valueName: "file"))
        var out: String

        @OptionGroup var secret: PassphraseOption

        @Flag(help: "Replace existing files.")
        var force = false

        func run() throws {
            try reportingFailures {
                for path in [out, out + ".pub"] where FileManager.default.fileExists(atPath: path) && !force {
                    throw CommandFailure("\(path) exists; pass --force to replace it (devices pinning the old key "
                        + "will refuse configs signed with the new one)")
                }
                let key = try SigningKey.generate(.ed25519)
                try key.write(toFile: out, passphrase: try secret.passphrase())
                guard let raw = key.publicKey.ed25519Raw() else { throw CommandFailure("no Ed25519 public key") }
                try Data((Hex.encode(raw) + "\n").utf8).write(to: URL(fileURLWithPath: out + ".pub"), options: .atomic)
                print("config signing key written to \(out); public key (key id \(configKeyID(raw).prefix(16))) to \(out).pub")
            }
        }
    }
}

/// The key id devices see in a refused config: SHA-256 of the raw public key.
func configKeyID(_ raw: [UInt8]) -> String { Hex.encode(Digest.sha256(raw)) }

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Push signed setting changes to device roles, and see what the devices applied.",
        subcommands: [Push.self, Show.self])
}

extension RemoteSetting: ExpressibleByArgument {}

extension ConfigCommand {
    struct Push: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a config for one role and hand it to the gateway, which pushes it to that role's devices.",
            discussion: """
                Settings: \(RemoteSetting.allCases.map { "\($0.rawValue) (\($0.range.lowerBound)…\($0.range.upperBound))" }.joined(separator: ", ")). \
                A push replaces the role's previous config; the running gateway notices within a second and \
                devices apply it without restarting, then report the version (`nanoedge config show`).
                """)

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("The role: presence, scanner or guidance.", valueName: "role"))
        var role: DeviceRole

        @Option(name: .customLong("set"), help: ArgumentHelp("A setting, e.g. guidance.chase_step_ms=150 (repeat).",
                                                              valueName: "key=value"))
        var settings: [String]

        @Option(help: ArgumentHelp("The private key from `nanoedge keys config-key`.", valueName: "file"))
        var signingKey: String

        @OptionGroup var secret: PassphraseOption

        func run() throws {
            try reportingFailures {
                var values: [RemoteSetting: Int64] = [:]
                for item in settings {
                    let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, let setting = RemoteSetting(rawValue: parts[0]) else {
                        throw CommandFailure("--set \(item): expected KEY=VALUE with KEY one of "
                            + RemoteSetting.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    guard let value = Int64(parts[1]) else { throw CommandFailure("--set \(item): the value must be an integer") }
                    values[setting] = value
                }
                let key = try SigningKey.load(fromFile: signingKey, passphrase: try secret.passphrase())
                guard key.algorithm == .ed25519, let raw = key.publicKey.ed25519Raw() else {
                    throw CommandFailure("\(signingKey) is not an Ed25519 key; create one with `nanoedge keys config-key`")
                }
                let store = try database.openForWriting()
                let version = (try store.remoteConfigVersion(role: role.rawValue) ?? 0) + 1
                let config = RemoteConfig(role: role, version: version,
                                          issuedAt: Int64(Date().timeIntervalSince1970 * 1000), settings: values)
                do {
                    try config.validate()
                } catch {
                    throw CommandFailure("config not pushed: \(error)")
                }
                let signed = SignedRemoteConfig(config: config, keyID: configKeyID(raw),
                                                signature: try key.sign(config.signedBytes()))
                try store.pushRemoteConfig(signed, at: config.issuedAt)
                print("config \(role.rawValue) v\(version) stored; the gateway pushes it to \(role.rawValue) devices")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The configs pushed, and what each device reported.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let store = try database.openForReading()
                let configs = try store.remoteConfigs()
                let reports = try store.deviceConfigReports()
                if json.enabled {
                    print(JSON.object([
                        "configs": .array(configs.map(\.json)),
                        "devices": .array(reports.map { report in
                            ["device": .string(report.device), "role": .string(report.role),
                             "version": .int(report.version), "applied": .bool(report.applied),
                             "error": .string(report.error), "reported_at": .int(report.reportedAt)]
                        }),
                    ]).serialized())
                    return
                }
                if configs.isEmpty { print("no configs pushed") }
                for signed in configs {
                    let settings = signed.config.settings.map { "\($0.key.rawValue)=\($0.value)" }.sorted()
                    print("\(signed.config.role.rawValue) v\(signed.config.version)  \(settings.joined(separator: " "))")
                }
                for report in reports {
                    let state = report.applied ? "applied" : "REFUSED: \(report.error)"
                    print(TerminalText.safe("  \(report.device)  \(report.role) v\(report.version)  \(state)"))
                }
            }
        }
    }
}
