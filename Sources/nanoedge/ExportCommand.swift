import ArgumentParser
import Foundation
import Gateway
import JSON

/// `nanoedge export`: the site's records for analysis, as JSON Lines or CSV.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export visits, presence events or scan summaries as JSON Lines or CSV.",
        discussion: """
            Rows whose time is in [--since, --until) are written oldest first, to standard output or to \
            --out (written whole, then renamed into place). BLE addresses never appear: tags are the keyed \
            hashes the agents send; an address sent by an agent with raw_addresses = true is hashed with \
            --site-key, or written as "redacted" without one. --follow keeps streaming new presence and \
            scan rows as the gateway records them.
            """)

    @Argument(help: ArgumentHelp("What to export: visits, presence or scans.", valueName: "kind"))
    var kind: SiteExport.Kind

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Start of the range (inclusive): now, -2h, -7d or UTC 2026-11-22T08:00Z.", valueName: "time"),
            transform: { try TimeSpec.parse($0) })
    var since: TimeSpec = .absolute(0)

    @Option(help: ArgumentHelp("End of the range (exclusive). (default: now)", valueName: "time"),
            transform: { try TimeSpec.parse($0) })
    var until: TimeSpec = .now

    @Option(help: ArgumentHelp("jsonl or csv.", valueName: "format"))
    var format: SiteExport.Format = .jsonl

    @Option(help: ArgumentHelp("The site key file, to hash any raw address an agent sent.", valueName: "file"))
    var siteKey: String?

    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var out: String?

    @Flag(help: "Keep running and write new presence or scan rows as they are recorded (standard output only).")
    var follow = false

    func validate() throws {
        if follow && kind == .visits { throw ValidationError("--follow streams presence or scans; visits change after they are written") }
        if follow && out != nil { throw ValidationError("--follow writes to standard output; drop --out") }
    }

    func run() async throws {
        try await reportingFailures {
            let store = try database.openForReading()
            let exporter = SiteExport(siteKey: try siteKey.map(readSiteKey))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let from = since.resolve(now: now)
            let to = follow ? Int64.max : until.resolve(now: now)
            guard from < to else { throw CommandFailure("--since must be before --until") }

            var lines: [String] = []
            let emit: (String) -> Void = out == nil ? { print($0) } : { lines.append($0) }
            if format == .csv { emit(SiteExport.csvHeader(kind)) }
            let write: ([String: JSON]) -> Void = { row in
                emit(format == .csv ? SiteExport.csvLine(row, kind: kind) : SiteExport.jsonLine(row))
            }
            switch kind {
            case .visits:
                for visit in try store.visits(openedFrom: from, until: to) { write(exporter.row(visit)) }
            case .presence, .scans:
                let eventKind = kind == .presence ? "motion" : "scan"
                var last: Int64 = 0
                while true {
                    for (id, event) in try store.deviceEvents(kinds: [eventKind], since: from, until: to, afterID: last) {
                        if let row = exporter.row(event) { write(row) }
                        last = id
                    }
                    guard follow else { break }
                    flushOutput()
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            if let out {
                let text = lines.map { $0 + "\n" }.joined()
                do {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
                } catch {
                    throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
                }
                printError("exported \(lines.count - (format == .csv ? 1 : 0)) \(kind) row(s) to \(out)")
            }
        }
    }
}

extension SiteExport.Kind: ExpressibleByArgument {}
extension SiteExport.Format: ExpressibleByArgument {}
