import ArgumentParser
import Gateway
import JSON
import Site

struct VisitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visits",
        abstract: "Show the visit log the gateway records.",
        subcommands: [Log.self, Summary.self],
        defaultSubcommand: Log.self)
}

extension VisitsCommand {
    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log",
            abstract: "Print every status of every visit, oldest first (the default).",
            discussion: """
                One line per status: `visit 3  2026-11-22T10:00:01.123Z  AUTHENTICATED  alice for Weekly sync`. \
                With --json, one JSON object per line, so --follow can stream it.
                """)

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        @Flag(help: "Keep running and print new lines as the gateway records them, until interrupted.")
        var follow = false

        /// Short enough to feel live, long enough that an idle tail costs nothing.
        static let pollInterval: Duration = .milliseconds(100)

        func run() async throws {
            try await reportingFailures {
                let store = try database.openForReading()
                var last: Int64 = 0
                while true {
                    for (id, entry) in try store.visitLog(after: last) {
                        print(json.enabled ? Self.json(id: id, entry).serialized() : TerminalText.safe(Self.line(entry)))
                        last = id
                    }
                    guard follow else { return }
                    flushOutput()
                    try await Task.sleep(for: Self.pollInterval)
                }
            }
        }

        static func line(_ entry: VisitLogEntry) -> String {
            var line = "visit \(entry.visit)  \(formatTimestamp(entry.at))  \(entry.status)"
            if !entry.detail.isEmpty { line += "  \(entry.detail)" }
            return line
        }

        static func json(id: Int64, _ entry: VisitLogEntry) -> JSON {
            [
                "id": .int(id), "visit": .int(entry.visit), "at": .int(entry.at),
                "time": .string(formatTimestamp(entry.at)), "status": .string(entry.status.description),
                "detail": .string(entry.detail),
            ]
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one line per visit with the statuses it went through, then totals.",
            discussion: "The last line reads `<n> visits, <k> PRESENTED, <u> NOT AUTHENTICATED`.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let visits = try database.openForReading().visits()
                let presented = visits.filter { $0.statuses.contains(VisitStatus(.presented)) }.count
                let notAuthenticated = visits.filter { $0.statuses.contains(.not(.authenticated)) }.count
                if json.enabled {
                    printJSON([
                        "visits": .array(visits.map(Self.json)),
                        "totals": [
                            "visits": .int(Int64(visits.count)), "presented": .int(Int64(presented)),
                            "notAuthenticated": .int(Int64(notAuthenticated)),
                        ],
                    ])
                    return
                }
                for visit in visits {
                    var line = "visit \(visit.id)  \(formatTimestamp(visit.openedAt))  \(visit.device)"
                    if let person = visit.person { line += "  \(person)" }
                    if let meeting = visit.meeting { line += "  \(meeting)" }
                    if let room = visit.room { line += "  \(room)" }
                    line += "  " + visit.statuses.map(\.description).joined(separator: " > ")
                    if visit.isOpen { line += "  (open)" }
                    print(TerminalText.safe(line))
                }
                print("\(visits.count) visits, \(presented) PRESENTED, \(notAuthenticated) NOT AUTHENTICATED")
            }
        }

        static func json(_ visit: VisitSummary) -> JSON {
            [
                "id": .int(visit.id), "device": .string(visit.device), "openedAt": .int(visit.openedAt),
                "closedAt": jsonInt(visit.closedAt), "person": jsonString(visit.person),
                "meeting": jsonString(visit.meeting), "room": jsonString(visit.room),
                "statuses": .array(visit.statuses.map { .string($0.description) }),
            ]
        }
    }
}
