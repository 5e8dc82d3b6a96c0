import ArgumentParser
import Foundation
import JSON
import Site

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Roll a release out to a device group in waves, watch it, halt or resume it.",
        discussion: """
            A wave starts when every device of the previous wave reported (or its soak time ran out). \
            More failures than --max-failures among the devices reached halt the rollout: devices not \
            yet reached keep their release, devices that failed go back to theirs.
            """,
        subcommands: [Create.self, Status.self, List.self, Halt.self, Resume.self],
        defaultSubcommand: List.self)
}

/// Prints a deployment as one readable block. Device errors are device-supplied: shown escaped.
func printDeployment(_ deployment: JSON) {
    func print(_ line: String) { Swift.print(TerminalText.safe(line)) }
    let id = deployment["id"]?.intValue ?? 0
    print("deployment \(id): \(deployment["target"]?.stringValue ?? "?") → group \(deployment["group"]?.stringValue ?? "?")")
    print("  status   \(deployment["status"]?.stringValue ?? "?"), wave \(deployment["wave"]?.intValue ?? 0) of \(deployment["waves"]?.intValue ?? 0)")
    print("  devices  \(deployment["reached"]?.intValue ?? 0) of \(deployment["device_count"]?.intValue ?? 0) reached: "
        + "\(deployment["succeeded"]?.intValue ?? 0) succeeded, \(deployment["failed"]?.intValue ?? 0) failed, "
        + "\(deployment["pending"]?.intValue ?? 0) pending")
    if let reason = deployment["halt_reason"]?.stringValue { print("  halted   \(reason)") }
    for device in deployment["devices"]?.arrayValue ?? [] where device["outcome"]?.stringValue == "failure" {
        print("  failed   \(device["device"]?.stringValue ?? "?"): \(device["error"]?.stringValue ?? "")")
    }
}

extension DeployCommand {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Deploy a release (by target name) to a group.")

        @Argument(help: "The release's target name (nanoedge release list).")
        var target: String

        @Option(help: "The device group.")
        var group: String

        @Option(help: ArgumentHelp("Wave sizes, comma-separated counts or percentages; the rest of the group forms a last wave.",
                                   valueName: "5,25%"))
        var waves: String = "100%"

        @Option(help: ArgumentHelp("Failures tolerated among the devices reached: a count or a percentage.", valueName: "N|N%"))
        var maxFailures: String = "0"

        @Option(help: ArgumentHelp("Move on from a wave after this long even if some devices stay silent (e.g. 30m).",
                                   valueName: "duration"))
        var soak: String?

        @Flag(help: "Allow a release older than the group's current one (never a lower security counter).")
        var allowDowngrade = false

        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                var body: [String: JSON] = [
                    "target": .string(target), "group": .string(group), "max_failures": .string(maxFailures),
                    "waves": .array(waves.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }),
                    "allow_downgrade": .bool(allowDowngrade),
                ]
                if let soak {
                    guard let seconds = parseDuration(soak) else {
                        throw ValidationError("--soak \(soak): use a number with s, m, h or d, e.g. 30m")
                    }
                    body["soak_s"] = .int(seconds)
                }
                let deployment = try server.client().call("/api/v1/deployments", method: "POST", json: .object(body))
                if json.enabled { printJSON(deployment) } else { printDeployment(deployment) }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show one deployment and its devices.")
        @Argument(help: "The deployment id.") var id: Int64
        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let deployment = try server.client().call("/api/v1/deployments/\(id)")
                if json.enabled { printJSON(deployment) } else { printDeployment(deployment) }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List deployments.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let deployments = try server.client().call("/api/v1/deployments")
                if json.enabled { return printJSON(deployments) }
                let rows = (deployments.arrayValue ?? []).map { item -> [String] in
                    [String(item["id"]?.intValue ?? 0), item["target"]?.stringValue ?? "", item["group"]?.stringValue ?? "",
                     item["status"]?.stringValue ?? "", "\(item["wave"]?.intValue ?? 0)/\(item["waves"]?.intValue ?? 0)",
                     "\(item["succeeded"]?.intValue ?? 0)/\(item["failed"]?.intValue ?? 0)/\(item["reached"]?.intValue ?? 0)"]
                }
                if rows.isEmpty { return print("no deployments") }
                printTable([["ID", "TARGET", "GROUP", "STATUS", "WAVE", "OK/FAILED/REACHED"]] + rows)
            }
        }
    }

    struct Halt: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "halt", abstract: "Stop a rollout: nobody new is reached.")
        @Argument(help: "The deployment id.") var id: Int64
        @Option(help: "Why, for the record.") var reason: String = "halted by an operator"
        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let deployment = try server.client().call("/api/v1/deployments/\(id)/halt", method: "POST",
                                                         json: ["reason": .string(reason)])
                if json.enabled { printJSON(deployment) } else { printDeployment(deployment) }
            }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume", abstract: "Go on with a halted rollout; the failures so far are accepted.")
        @Argument(help: "The deployment id.") var id: Int64
        @OptionGroup var server: ServerOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let deployment = try server.client().call("/api/v1/deployments/\(id)/resume", method: "POST")
                if json.enabled { printJSON(deployment) } else { printDeployment(deployment) }
            }
        }
    }
}

/// `90s`, `30m`, `2h`, `1d` or plain seconds.
func parseDuration(_ text: String) -> Int64? {
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    if let last = text.last, let unit = units[last], let value = Int64(text.dropLast()), value >= 0 { return value * unit }
    return Int64(text).flatMap { $0 >= 0 ? $0 : nil }
}
