import ArgumentParser
import Foundation
import Hardware
import HTTPGuard
import Reactor
import TUF
import TUFRepository
import UpdateServer
import UpdateStore

/// `--data` and `--database`, shared by the update server and its token verbs.
struct UpdateDataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The update server's data directory: repository/ (TUF metadata, targets, keys) and "
                               + "state.db. Replicas share it (a shared volume).", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("postgres://USER[:PASSWORD]@HOST[:PORT]/DB for replicas; default: the SQLite file DATA/state.db.",
                               valueName: "url"))
    var database: String?

    var location: String { database ?? data + "/state.db" }

    func openStore() throws -> UpdateStore {
        if database == nil, !FileManager.default.fileExists(atPath: data) {
            throw CommandFailure("no data directory \(data); create it, or pass the right --data")
        }
        return try UpdateStore.open(location)
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
                and one --database postgres://… . Runs until SIGINT or SIGTERM.
                """)

        @OptionGroup var data: UpdateDataOptions

        @Option(help: ArgumentHelp("HTTP address.", valueName: "host:port"))
        var http: String = "0.0.0.0:8080"

        @Option(help: ArgumentHelp("The fleet page and /metrics, never served on --http. Off loopback they need an "
                                   + "admin token (Bearer, or as the basic-auth password); \"off\" serves them nowhere.",
                                   valueName: "host:port"))
        var adminHttp: String = "127.0.0.1:8081"

        @Option(help: ArgumentHelp("Serve HTTPS on --http with this certificate chain (PEM, server certificate first).",
                                   valueName: "file"))
        var tlsCert: String?

        @Option(help: ArgumentHelp("The private key for --tls-cert (PEM, unencrypted; keep it mode 0600).", valueName: "file"))
        var tlsKey: String?

        @Option(help: ArgumentHelp("Close a connection with no request in progress after this many seconds; "
                                   + "also bounds slow request heads.", valueName: "seconds"))
        var idleTimeoutS: Int64 = ConnectionLimits().idleTimeoutSeconds

        @Option(help: ArgumentHelp("Open connections allowed from one IP address; more are closed at once.",
                                   valueName: "count"))
        var maxConnectionsPerAddress: Int = ConnectionLimits().perAddress

        @Option(help: ArgumentHelp("CoAP/DTLS push address.", valueName: "host:port"))
        var coap: String = "0.0.0.0:5684"

        @Flag(help: "Do not push over CoAP; devices poll the HTTP check-in.")
        var noPush = false

        @Option(help: ArgumentHelp("The TUF repository (default DATA/repository).", valueName: "dir"))
        var repo: String?

        @Option(help: ArgumentHelp("The online signing keys (default REPO/keys).", valueName: "dir"))
        var keys: String?

        @OptionGroup var secret: PassphraseOption

        @Option(name: .customLong("boards"), help: ArgumentHelp("A directory of board profiles; repeat for several "
            + "(default: ./boards and the installed locations).", valueName: "dir"))
        var boardPaths: [String] = []

        @Option(help: "Database connections per server (default 4).")
        var poolSize: Int = 4

        @Option(help: "The largest artifact accepted, in MiB (default 4096).")
        var maxArtifactMib: Int64 = 4096

        func validate() throws {
            if (tlsCert == nil) != (tlsKey == nil) {
                throw ValidationError("--tls-cert and --tls-key go together: the certificate chain and its private key")
            }
            guard (1...3600).contains(idleTimeoutS) else { throw ValidationError("--idle-timeout-s must be from 1 to 3600") }
            guard (1...100_000).contains(maxConnectionsPerAddress) else {
                throw ValidationError("--max-connections-per-address must be from 1 to 100000")
            }
        }

        func run() async throws {
            try await reportingFailures {
                let httpAddress = try ListenAddress.parse(http)
                let coapAddress = try ListenAddress.parse(coap)
                let adminAddress = adminHttp == "off" ? nil : try ListenAddress.parse(adminHttp)
                var options = UpdateServerOptions(
                    dataDirectory: data.data, httpHost: httpAddress.host, httpPort: Int(httpAddress.port),
                    database: data.database, coapHost: coapAddress.host, coapPort: noPush ? nil : coapAddress.port,
                    boardPaths: boardPaths.isEmpty ? ["boards"] + BoardProfile.standardSearchPaths : boardPaths,
                    repository: repo, keys: keys, keyPassphrase: try secret.passphrase(),
                    maxArtifactBytes: maxArtifactMib << 20, poolSize: poolSize)
                options.limits = ConnectionLimits(idleTimeoutSeconds: idleTimeoutS, perAddress: maxConnectionsPerAddress)
                options.adminHost = adminAddress?.host
                options.adminPort = Int(adminAddress?.port ?? 0)
                if let tlsCert, let tlsKey { options.tls = TLSFiles(certificateChain: tlsCert, privateKey: tlsKey) }
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
