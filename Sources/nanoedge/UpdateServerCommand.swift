import ArgumentParser
import Foundation
import Hardware
import HTTPGuard
import Reactor
import TUF
import TUFRepository
import UpdateServer
import UpdateStore

/// `--config`, `--data` and `--database`, shared by the update server and its token verbs.
struct UpdateDataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The update server's TOML config (docs/update-server.md): a key per option of "
                               + "`serve`; options given here win over it.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The update server's data directory: repository/ (TUF metadata, targets, keys) and "
                               + "state.db. Replicas share it (a shared volume). Required here or as `data` in the config.",
                               valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("postgres://USER[:PASSWORD]@HOST[:PORT]/DB for replicas; default: the SQLite file DATA/state.db.",
                               valueName: "url"))
    var database: String?

    /// The config file, read once; empty without --config.
    func loadConfig() throws -> UpdateServerConfig {
        try config.map { try UpdateServerConfig.load(path: $0) } ?? UpdateServerConfig()
    }

    func dataDirectory(_ file: UpdateServerConfig) throws -> String {
        guard let directory = data ?? file.data else {
            throw CommandFailure("no data directory: pass --data DIR, or set data = \"DIR\" in the config (--config FILE)")
        }
        return directory
    }

    func openStore() throws -> UpdateStore {
        let file = try loadConfig()
        let directory = try dataDirectory(file)
        let database = self.database ?? file.database
        if database == nil, !FileManager.default.fileExists(atPath: directory) {
            throw CommandFailure("no data directory \(directory); create it, or pass the right --data")
        }
        return try UpdateStore.open(database ?? directory + "/state.db")
    }
}

struct UpdateServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-server",
        abstract: "Run the update server, and manage its admin tokens.",
        subcommands: [Serve.self, Token.self],
        defaultSubcommand: Serve.self)
}

extension UpdateServerCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve TUF metadata and targets, the admin and device APIs, and push over CoAP/DTLS.",
            discussion: """
                The TUF repository comes from `nanoedge keys init --repo DATA/repository`; the server needs \
                the online keys (targets, snapshot, timestamp) in REPO/keys and re-signs the timestamp \
                before it expires. Several replicas can run behind a load balancer when they share DATA \
                and one --database postgres://… . Every option may also be set in the --config file \
                (the key is the option's name with underscores: max_artifact_mib); an option on the \
                command line wins. Runs until SIGINT or SIGTERM.
                """)

        @OptionGroup var data: UpdateDataOptions

        @Option(help: ArgumentHelp("HTTP address (default \(UpdateServerConfig.defaults.http)).", valueName: "host:port"))
        var http: String?

        @Option(help: ArgumentHelp("The fleet page and /metrics, never served on --http. Off loopback they need an "
                                   + "admin token (Bearer, or as the basic-auth password); \"off\" serves them nowhere "
                                   + "(default \(UpdateServerConfig.defaults.adminHttp)).",
                                   valueName: "host:port"))
        var adminHttp: String?

        @Option(help: ArgumentHelp("Serve HTTPS on --http with this certificate chain (PEM, server certificate first).",
                                   valueName: "file"))
        var tlsCert: String?

        @Option(help: ArgumentHelp("The private key for --tls-cert (PEM, unencrypted; keep it mode 0600).", valueName: "file"))
        var tlsKey: String?

        @Option(help: ArgumentHelp("Close a connection with no request in progress after this many seconds; "
                                   + "also bounds slow request heads (default \(ConnectionLimits().idleTimeoutSeconds)).",
                                   valueName: "seconds"))
        var idleTimeoutS: Int64?

        @Option(help: ArgumentHelp("Open connections allowed from one IP address; more are closed at once "
                                   + "(default \(ConnectionLimits().perAddress)).", valueName: "count"))
        var maxConnectionsPerAddress: Int?

        @Option(help: ArgumentHelp("CoAP/DTLS push address (default \(UpdateServerConfig.defaults.coap); the site "
                                   + "gateway takes 5684).", valueName: "host:port"))
        var coap: String?

        @Flag(help: "Do not push over CoAP; devices poll the HTTP check-in (config: push = false).")
        var noPush = false

        @Option(help: ArgumentHelp("The TUF repository (default DATA/repository).", valueName: "dir"))
        var repo: String?

        @Option(help: ArgumentHelp("The online signing keys (default REPO/keys).", valueName: "dir"))
        var keys: String?

        @OptionGroup var secret: PassphraseOption

        @Option(name: .customLong("boards"), help: ArgumentHelp("A directory of board profiles; repeat for several "
            + "(default: ./boards and the installed locations).", valueName: "dir"))
        var boardPaths: [String] = []

        @Option(help: "Database connections per server (default \(UpdateServerConfig.defaults.poolSize)).")
        var poolSize: Int?

        @Option(help: "The largest artifact accepted, in MiB (default \(UpdateServerConfig.defaults.maxArtifactMib)).")
        var maxArtifactMib: Int64?

        @OptionGroup var log: LogLevelOption

        func validate() throws {
            if (tlsCert == nil) != (tlsKey == nil), data.config == nil {
                throw ValidationError("--tls-cert and --tls-key go together: the certificate chain and its private key")
            }
        }

        /// The command line over the config file over the defaults.
        func settings() throws -> UpdateServerConfig {
            let file = try data.loadConfig()
            var merged = UpdateServerConfig.defaults.overridden(by: file)
            let flags = UpdateServerConfig(
                data: data.data, database: data.database, http: http, adminHttp: adminHttp, tlsCert: tlsCert,
                tlsKey: tlsKey, idleTimeoutS: idleTimeoutS, maxConnectionsPerAddress: maxConnectionsPerAddress.map(Int64.init),
                coap: coap, push: noPush ? false : nil, repo: repo, keys: keys, passphraseEnv: secret.passphraseEnv,
                boards: boardPaths.isEmpty ? nil : boardPaths, poolSize: poolSize.map(Int64.init),
                maxArtifactMib: maxArtifactMib, logLevel: nil)
            merged = merged.overridden(by: flags)
            try merged.check(source: data.config.map { "\($0) and the command line" } ?? "the command line")
            try log.apply(config: file.logLevel, configPath: data.config)
            return merged
        }

        func run() async throws {
            try await reportingFailures {
                let settings = try settings()
                let directory = try data.dataDirectory(settings)
                let httpAddress = try ListenAddress.parse(settings.http!)
                let coapAddress = try ListenAddress.parse(settings.coap!)
                let adminAddress = settings.adminHttp == "off" ? nil : try ListenAddress.parse(settings.adminHttp!)
                let passphrase = try PassphraseOption.passphrase(fromVariable: settings.passphraseEnv)
                var options = UpdateServerOptions(
                    dataDirectory: directory, httpHost: httpAddress.host, httpPort: Int(httpAddress.port),
                    database: settings.database, coapHost: coapAddress.host,
                    coapPort: settings.push == false ? nil : coapAddress.port,
                    boardPaths: settings.boards ?? ["boards"] + BoardProfile.standardSearchPaths,
                    repository: settings.repo, keys: settings.keys, keyPassphrase: passphrase,
                    maxArtifactBytes: settings.maxArtifactMib! << 20, poolSize: Int(settings.poolSize!))
                options.limits = ConnectionLimits(idleTimeoutSeconds: settings.idleTimeoutS!,
                                                  perAddress: Int(settings.maxConnectionsPerAddress!))
                options.adminHost = adminAddress?.host
                options.adminPort = Int(adminAddress?.port ?? 0)
                if let tlsCert = settings.tlsCert, let tlsKey = settings.tlsKey {
                    options.tls = TLSFiles(certificateChain: tlsCert, privateKey: tlsKey)
                }
                let service = try await makeUpdateService(options)
                try await runUpdateServer(options, service: service)
            }
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token",
            abstract: "Create, list and revoke admin tokens (stored hashed; shown once).",
            subcommands: [Create.self, List.self, Revoke.self])
    }
}

extension UpdateServerCommand.Token {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create an admin token and print it (or write it to --out, mode 0600).")
        @Argument(help: "A name for the token, e.g. who holds it.") var name: String
        @OptionGroup var data: UpdateDataOptions
        @Option(help: ArgumentHelp("Write the token to this file (mode 0600) instead of printing it.", valueName: "file"))
        var out: String?

        func run() throws {
            try reportingFailures {
                guard isIdentifier(name) else { throw ValidationError(identifierRule("token name", name)) }
                let token = Credentials.newAdminToken()
                let file = try out.map { try StagedSecretFile(path: $0, contents: token + "\n", overwrite: false) }
                try data.openStore().addToken(name: name, hash: Credentials.hash(token), at: Reactor.wallClock())
                if let file, let out {
                    try file.publish(overwrite: false)
                    print("admin token \(name) written to \(out) (mode 0600)")
                } else {
                    print(token)
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List admin token names.")
        @OptionGroup var data: UpdateDataOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            try reportingFailures {
                let tokens = try data.openStore().tokens()
                if json.enabled {
                    return printJSON(.array(tokens.map { ["name": .string($0.name), "created_at": .int($0.createdAt)] }))
                }
                if tokens.isEmpty { return print("no tokens") }
                printTable([["NAME", "CREATED"]] + tokens.map { [$0.name, formatTimestamp($0.createdAt)] })
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke an admin token.")
        @Argument(help: "The token's name.") var name: String
        @OptionGroup var data: UpdateDataOptions

        func run() throws {
            try reportingFailures {
                try data.openStore().removeToken(name: name)
                print("revoked token \(name)")
            }
        }
    }
}
