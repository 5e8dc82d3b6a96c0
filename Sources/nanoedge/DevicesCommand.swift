import ArgumentParser
import Foundation
import Gateway
import JSON

struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List a site's devices (gateway) or a fleet's devices and groups (update server).",
        discussion: """
            Without --server: the gateway's provisioned devices from --db. With --server: the update             server's devices, their group, version, slot, health and assignment; `add` registers a device             there and writes its credentials; `group` manages device groups.
            """,
        subcommands: [List.self, Add.self, Show.self, Watch.self, Group.self],
        defaultSubcommand: List.self)
}

extension DevicesCommand {
  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List devices: the gateway's (--db) or the update server's (--server).",
        discussion: "Keys are never shown. A device that has not registered yet has no board, version or last-seen time.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var json: JSONFlag
    @Option(help: ArgumentHelp("List the update server's devices instead (with --token-file or NANOEDGE_TOKEN).", valueName: "url"))
    var server: String?
    @Option(help: ArgumentHelp("A file holding the update server's admin token.", valueName: "file"))
    var tokenFile: String?
    @Option(help: ArgumentHelp("Only this group's devices (update server).", valueName: "group"))
    var group: String?
    @Option(help: ArgumentHelp("The update server's CA (PEM), or NANOEDGE_CA.", valueName: "file"))
    var ca: String?
    @Option(help: ArgumentHelp("The update server's public key pin, sha256//BASE64.", valueName: "pin"))
    var pin: String?
    @Flag(help: "Send the admin token over plain http:// to another host (a lab only).")
    var insecureHTTP = false

    func run() throws {
        if server != nil {
            return try listFleet()
        }
        try reportingFailures {
            let devices = try database.openForReading().devices()
            if json.enabled {
                printJSON(.array(devices.map { device in
                    [
                        "id": .string(device.id), "roles": .array(device.roles.map { .string($0) }),
                        "location": .string(device.location), "board": .string(device.board),
                        "version": .string(device.version), "lastSeen": jsonInt(device.lastSeen),
                        "registeredAt": jsonInt(device.registeredAt),
                    ]
                }))
            } else if devices.isEmpty {
                print("no devices")
            } else {
                printTable([["ID", "ROLES", "LOCATION", "BOARD", "VERSION", "LAST SEEN"]] + devices.map { device in
                    [device.id, device.roles.joined(separator: ","), device.location,
                     device.board.isEmpty ? "-" : device.board, device.version.isEmpty ? "-" : device.version,
                     device.lastSeen.map(formatTimestamp) ?? "never"]
                })
            }
        }
    }

    func listFleet() throws {
        try reportingFailures {
            var options = ServerOptions()
            options.server = server
            options.tokenFile = tokenFile
            // Built by hand, so every option client() reads needs a value.
            options.ca = ca
            options.pin = pin
            options.insecureHTTP = insecureHTTP
            let query = group.map { "?group=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0)" } ?? ""
            let devices = try options.client().call("/api/v1/devices" + query)
            if json.enabled { return printJSON(devices) }
            let rows = (devices.arrayValue ?? []).map { device -> [String] in
                [device["id"]?.stringValue ?? "", device["group"]?.stringValue ?? "", device["board"]?.stringValue ?? "",
                 device["version"]?.stringValue ?? "-", device["slot"]?.stringValue ?? "-", device["health"]?.stringValue ?? "-",
                 device["last_seen"]?.intValue.map(formatTimestamp) ?? "never", device["last_error"]?.stringValue ?? ""]
            }
            if rows.isEmpty { return print("no devices") }
            printTable([["ID", "GROUP", "BOARD", "VERSION", "SLOT", "HEALTH", "LAST SEEN", "LAST ERROR"]] + rows)
        }
    }
  }

  struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register a device with the update server and write its credentials.",
        discussion: """
            Writes OUT-DIR/ID.token (the HTTP check-in token) and OUT-DIR/ID.psk (the DTLS key for push,             identity ID), mode 0600. The server keeps only the token's hash; the files are the only copy.
            """)
    @Argument(help: "The device id (also its DTLS identity).") var id: String
    @Option(help: "The board profile name (boards/*.toml).") var board: String
    @Option(help: "The device group.") var group: String
    @Option(help: ArgumentHelp("Where to write the credentials (created 0700).", valueName: "dir")) var outDir: String
    @OptionGroup var server: ServerOptions

    func run() throws {
        try reportingFailures {
            guard isIdentifier(id) else { throw ValidationError(identifierRule("device id", id)) }
            let tokenPath = outDir + "/" + id + ".token"
            let pskPath = outDir + "/" + id + ".psk"
            for path in [tokenPath, pskPath] where FileManager.default.fileExists(atPath: path) {
                throw CommandFailure("\(path) already exists; remove it or pick another --out-dir")
            }
            let answer = try server.client().call("/api/v1/devices", method: "POST",
                                                  json: ["id": .string(id), "board": .string(board), "group": .string(group)])
            guard let token = answer["token"]?.stringValue, let psk = answer["psk"]?.stringValue else {
                throw CommandFailure("the update server answered without credentials")
            }
            try StagedSecretFile(path: tokenPath, contents: token + "\n", overwrite: false).publish(overwrite: false)
            try StagedSecretFile(path: pskPath, contents: psk + "\n", overwrite: false).publish(overwrite: false)
            print("registered \(id) (board \(board), group \(group))")
            print("HTTP token written to \(tokenPath), DTLS key (identity \(id)) to \(pskPath) (mode 0600)")
        }
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one update-server device and its assignment.")
    @Argument(help: "The device id.") var id: String
    @OptionGroup var server: ServerOptions

    func run() throws {
        try reportingFailures { printJSON(try server.client().call("/api/v1/devices/\(id)")) }
    }
  }

  struct Group: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "Device groups on the update server.", subcommands: [GroupAdd.self, GroupList.self],
        defaultSubcommand: GroupList.self)
  }

  struct GroupAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Create a device group.")
    @Argument(help: "The group name.") var name: String
    @OptionGroup var server: ServerOptions

    func run() throws {
        try reportingFailures {
            _ = try server.client().call("/api/v1/groups", method: "POST", json: ["name": .string(name)])
            print("created group \(name)")
        }
    }
  }

  struct GroupList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List device groups.")
    @OptionGroup var server: ServerOptions
    @OptionGroup var json: JSONFlag

    func run() throws {
        try reportingFailures {
            let groups = try server.client().call("/api/v1/groups")
            if json.enabled { return printJSON(groups) }
            let rows = (groups.arrayValue ?? []).map { [$0["name"]?.stringValue ?? "", String($0["devices"]?.intValue ?? 0)] }
            if rows.isEmpty { return print("no groups") }
            printTable([["GROUP", "DEVICES"]] + rows)
        }
    }
  }
}
