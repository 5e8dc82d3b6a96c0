import ArgumentParser
import CryptoEVP
import Gateway
import Site

extension DeviceRole: ExpressibleByArgument {}

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Issue device keys, the site key and the release-signing (TUF) keys.",
        discussion: "Key files hold lower-case hex and are written with mode 0600; keys are never printed.",
        subcommands: [Device.self, SiteKey.self, ConfigKey.self, Init.self, Rotate.self])

    /// Bytes in every key we issue: a DTLS PSK and the HMAC-SHA256 site key alike.
    static let keyLength = 32
}

extension KeysCommand {
    struct Device: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "device",
            abstract: "Provision a device: a new DTLS PSK in the site database and in a key file.",
            discussion: """
                The device id is also its PSK identity. Copy the key file to the device (e.g. \
                /etc/nanoedge/psk) over a trusted channel. Re-keying an already provisioned device \
                needs --force; the device cannot connect until it has the new key.
                """)

        @Argument(help: "The device id, also its DTLS PSK identity (e.g. entrance-pi).")
        var id: String

        @Option(help: ArgumentHelp("The room id where the device is installed.", valueName: "room"))
        var location: String

        @Option(name: .customLong("role"),
                help: ArgumentHelp("A role of the device; repeat for several.", valueName: "role"))
        var roles: [DeviceRole] = []

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("Where to write the key (hex, mode 0600); a missing directory is created 0700.",
                                   valueName: "file"))
        var out: String

        @Flag(help: "Replace an existing key file, and re-key a device that is already provisioned.")
        var force = false

        func validate() throws {
            guard isIdentifier(id) else { throw ValidationError(identifierRule("device id", id)) }
            guard !location.isEmpty else { throw ValidationError("--location must not be empty") }
            guard !roles.isEmpty else {
                throw ValidationError("give at least one --role (\(DeviceRole.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }

        func run() throws {
            try reportingFailures {
                let store = try database.openForWriting()
                if try store.device(id: id) != nil, !force {
                    throw CommandFailure("device \"\(id)\" is already provisioned; pass --force to issue a new key")
                }
                if try store.room(id: location) == nil {
                    printError("warning: room \"\(location)\" is not in the registry yet (nanoedge registry room add)")
                }
                var roleNames: [String] = []
                for role in roles where !roleNames.contains(role.rawValue) {
                    roleNames.append(role.rawValue)
                }
                let key = secureRandomBytes(KeysCommand.keyLength)
                // Stage the file first: if it cannot be written, the database keeps the old key.
                let file = try StagedSecretFile(path: out, contents: Hex.encode(key) + "\n", overwrite: force)
                try store.provisionDevice(id: id, key: key, roles: roleNames, location: location)
                try file.publish(overwrite: force)
                print("provisioned device \(id) (roles \(roleNames.joined(separator: ", ")); location \(location))")
                print("PSK identity: \(id)")
                print("key written to \(out) (mode 0600)")
            }
        }
    }

    struct SiteKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "site-key",
            abstract: "Generate the site key that turns BLE addresses into tag ids.",
            discussion: """
                Every scanning device and `nanoedge registry tag add --address` need the same site key. \
                Replacing it changes every tag id, so the registry's tags must be added again.
                """)

        @Option(help: ArgumentHelp("Where to write the key (hex, mode 0600); a missing directory is created 0700.",
                                   valueName: "file"))
        var out: String

        @Flag(help: "Replace an existing key file.")
        var force = false

        func run() throws {
            try reportingFailures {
                let key = secureRandomBytes(KeysCommand.keyLength)
                let file = try StagedSecretFile(path: out, contents: Hex.encode(key) + "\n", overwrite: force)
                try file.publish(overwrite: force)
                print("site key written to \(out) (mode 0600)")
            }
        }
    }
}
