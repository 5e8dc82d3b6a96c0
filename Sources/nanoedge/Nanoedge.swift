import ArgumentParser
import DaemonLog
import ServerLogging
import Site

@main
struct Nanoedge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nanoedge",
        abstract: "Run and administer a nanoedge site and fleet: the gateway, its registry, devices and visits; the update server, releases and deployments.",
        discussion: """
            Verbs that touch the site's records take --db (default \(DatabaseOptions.defaultPath)). \
            Errors are printed as "error: …" on standard error with exit status 1; \
            usage errors exit with status 64.
            """,
        version: "nanoedge \(productVersion)",
        subcommands: [
            GatewayCommand.self,
            KeysCommand.self,
            RegistryCommand.self,
            VisitsCommand.self,
            DevicesCommand.self,
            SimCommand.self,
            DemoCommand.self,
            LoadCommand.self,
            ExportCommand.self,
            ConfigCommand.self,
            UpdateServerCommand.self,
            ReleaseCommand.self,
            DeployCommand.self,
        ])

    /// swift-log goes through DaemonLogHandler before any command makes a Logger; `--log-level`
    /// sets the level later, which every logger reads at each message.
    static func main() async {
        DaemonLogHandler.bootstrap()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// `--log-level`, for the daemons; the config files' `log_level` key says the same, and the flag wins.
struct LogLevelOption: ParsableArguments {
    @Option(help: ArgumentHelp("What the daemon logs: \(LogLevel.names) (default info; or `log_level` in the config).",
                               valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let logLevel, LogLevel(name: logLevel) == nil {
            throw ValidationError("--log-level \(logLevel): expected \(LogLevel.names)")
        }
    }

    /// Applies the flag, else the config's value, else info.
    func apply(config: String?, configPath: String?) throws {
        if let logLevel {
            DaemonLog.level = LogLevel(name: logLevel) ?? .info
        } else if let config {
            guard let level = LogLevel(name: config) else {
                throw CommandFailure("\(configPath ?? "config"): log_level \"\(config)\": expected \(LogLevel.names)")
            }
            DaemonLog.level = level
        }
    }
}
