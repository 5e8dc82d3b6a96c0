import ArgumentParser
import Gateway
import JSON

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List provisioned devices: roles, location, and what they reported when they registered.",
        discussion: "Keys are never shown. A device that has not registered yet has no board, version or last-seen time.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var json: JSONFlag

    func run() throws {
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
}
