import Agent
import CoAP
import DaemonLog
import Site

#if canImport(Glibc)
import Glibc
#endif

NameLookup.useBuiltInLookupsOnly()

// The agent stays lean: no argument-parsing package, no Foundation.
// Subcommands come first, each in a file of its own: `tuf` is the updater's TUF client as a
// command line (TUFCommand.swift), `update` installs releases into the A/B slots (UpdateCommand.swift).
if CommandLine.arguments.count > 1 {
    switch CommandLine.arguments[1] {
    case "tuf": runTUF(Array(CommandLine.arguments.dropFirst(2)))
    case "update": runUpdateCommand(Array(CommandLine.arguments.dropFirst(2)))
    default: break
    }
}

let usage = """
    usage: nanoedge-agent --config FILE     run the agent
           nanoedge-agent --config FILE --exit-when-registered
                                             connect, register, exit 0 (a connectivity check)
           nanoedge-agent --board NAME [--boards-dir DIR] --check
                                             probe the board's GPIO chip, lines and BLE adapter
           nanoedge-agent --version
           --log-level LEVEL                 debug, info, notice, warning, error or critical
                                             (default: [device] log_level, else info)
           nanoedge-agent tuf …                the TUF client (nanoedge-agent tuf --help)
           nanoedge-agent update …            install, activate, commit or roll back a release
                                             (A/B slots, containers, tryboot; see `update --help`)

    The config is TOML (see docs/agent.md). The agent connects to its gateway over DTLS,
    registers, observes its commands and reports events; SIGTERM stops it cleanly.

    """

/// Usage errors exit 64 (EX_USAGE), as `nanoedge`'s do; failures at run time pass 1.
func fail(_ message: String, code: Int32 = 64) -> Never {
    var text = "nanoedge-agent: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(code)
}

var arguments = CommandLine.arguments.dropFirst()
var configPath: String?
var exitWhenRegistered = false
var checkBoard: String?
var boardsDirectory: String?
var check = false
var logLevel: LogLevel?
while let argument = arguments.popFirst() {
    switch argument {
    case "--config", "-c":
        guard let value = arguments.popFirst() else { fail("--config needs a file") }
        configPath = value
    case "--exit-when-registered":
        exitWhenRegistered = true
    case "--board":
        guard let value = arguments.popFirst() else { fail("--board needs a profile name") }
        checkBoard = value
    case "--boards-dir":
        guard let value = arguments.popFirst() else { fail("--boards-dir needs a directory") }
        boardsDirectory = value
    case "--check":
        check = true
    case "--log-level":
        guard let value = arguments.popFirst() else { fail("--log-level needs a level: \(LogLevel.names)") }
        guard let level = LogLevel(name: value) else { fail("--log-level \(value): expected \(LogLevel.names)") }
        logLevel = level
    case "--version":
        print("nanoedge-agent \(productVersion)")
        exit(0)
    case "--help", "-h":
        print(usage, terminator: "")
        exit(0)
    default:
        fail("unknown argument '\(argument)'\n\(usage)")
    }
}
if check {
    exit(runBoardCheck(board: checkBoard, boardsDirectory: boardsDirectory, configPath: configPath))
}
guard checkBoard == nil else { fail("--board is used with --check\n\(usage)") }
guard let configPath else { fail("missing --config FILE\n\(usage)") }

let config: AgentConfig
do {
    config = try AgentConfig.load(path: configPath)
} catch {
    fail("\(error)", code: 78)  // EX_CONFIG
}
DaemonLog.level = logLevel ?? config.logLevel
for warning in config.warnings { DaemonLog.warning("agent: \(warning)") }
// A/B slots: the installed binary hands over to the release the updater made current.
handOverToSlotBinary(stateDirectory: config.stateDirectory)
do {
    let runtime = try AgentRuntime(config: config)
    exit(runtime.run(exitWhenRegistered: exitWhenRegistered))
} catch {
    fail("\(error)", code: 1)
}
