#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import DaemonLog
import Gateway
import JSON
import Site

/// A failure the command explains itself; printed as `error: <message>` with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to standard error. `write(2)` (DaemonLog's writer), because the C `stderr` global is
/// shared mutable state that Swift 6 does not let us touch.
func printError(_ line: String) {
    DaemonLog.writeStandardError(line + "\n")
}

/// Pushes buffered standard output out now; a pipe is fully buffered, and `--follow` must not sit on lines.
func flushOutput() {
    fflush(nil)
}

/// Runs a command's body and turns what it throws into `error: <description>` and exit status 1.
/// Errors that belong to the argument parser (usage errors, explicit exit codes) pass through.
func reportingFailures<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw reported(error)
    }
}

/// The async form of `reportingFailures`.
func reportingFailures<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw reported(error)
    }
}

/// The parser's own errors pass through; anything else is printed and becomes exit status 1.
private func reported(_ error: Error) -> Error {
    switch error {
    case is ExitCode, is ValidationError, is CleanExit:
        return error
    default:
        // A daemon's last word, ranked as an error when journald reads it.
        printError((DaemonLog.toJournal ? "<3>" : "") + "error: " + TerminalText.safe("\(error)", keepingNewlines: true))
        return ExitCode.failure
    }
}

// MARK: Ids

/// Ids appear in CoAP paths, key identities and log lines: keep them to a safe, printable set.
func isIdentifier(_ text: String) -> Bool {
    guard !text.isEmpty, text.utf8.count <= 64 else { return false }
    return text.utf8.allSatisfy { byte in
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "@")
    }
}

func identifierRule(_ what: String, _ text: String) -> String {
    "invalid \(what) \"\(text)\": use 1 to 64 letters, digits, \"-\", \"_\", \".\" or \"@\""
}

// MARK: The site database

/// `--db`, shared by every verb that reads or writes the gateway's records.
struct DatabaseOptions: ParsableArguments {
    static let defaultPath = "/var/lib/nanoedge/site.db"

    @Option(name: .customLong("db"), help: ArgumentHelp("The gateway's SQLite database.", valueName: "path"))
    var path: String = DatabaseOptions.defaultPath

    /// Opens the store for changes, creating and migrating the file if needed.
    func openForWriting() throws -> SiteStore {
        try SiteStore(path: path)
    }

    /// Opens the store without creating or migrating it: listing must not leave a new file behind,
    /// and must not change a file that a running gateway owns.
    func openForReading() throws -> SiteStore {
        guard access(path, F_OK) == 0 else {
            throw CommandFailure("no site database at \(path); pass --db, or create it with "
                + "`nanoedge registry …` or by starting `nanoedge gateway`")
        }
        return try SiteStore(path: path, readOnly: true)
    }
}

/// `--json`, shared by the listing verbs.
struct JSONFlag: ParsableArguments {
    @Flag(name: .customLong("json"), help: "Print JSON for scripts instead of text.")
    var enabled = false
}

// MARK: Text output

/// Prints rows as left-aligned columns separated by two spaces; the last column is not padded.
/// Cells hold device-supplied text, so control characters are shown as escapes.
func printTable(_ rows: [[String]]) {
    let rows = rows.map { $0.map { TerminalText.safe($0) } }
    guard let width = rows.map(\.count).max(), width > 0 else { return }
    var widths = [Int](repeating: 0, count: width)
    for row in rows {
        for (index, cell) in row.enumerated() where index < width - 1 {
            widths[index] = max(widths[index], cell.count)
        }
    }
    for row in rows {
        var line = ""
        for (index, cell) in row.enumerated() {
            if index > 0 { line += "  " }
            line += cell
            if index < row.count - 1 {
                line += String(repeating: " ", count: widths[index] - cell.count)
            }
        }
        print(line)
    }
}

func printJSON(_ value: JSON) {
    print(value.serialized())
}

/// A JSON string, or null for nil.
func jsonString(_ value: String?) -> JSON {
    value.map { .string($0) } ?? .null
}

/// A JSON integer, or null for nil.
func jsonInt(_ value: Int64?) -> JSON {
    value.map { .int($0) } ?? .null
}
