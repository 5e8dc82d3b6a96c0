import ArgumentParser

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
}
