import ArgumentParser
import Foundation
import Gateway
import GatewayPolicy
import HTTPGuard
import Hummingbird
import Logging
import Prometheus
import Site
import ServiceLifecycle
import SiteWeb
import TOML

/// A `HOST:PORT` listen address; an IPv6 host goes in brackets (`[::1]:5684`, `[::]:5684`).
struct ListenAddress: Equatable, Sendable, CustomStringConvertible {
    /// Without brackets, as getaddrinfo takes it.
    var host: String
    var port: UInt16

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func parse(_ text: String) throws(ParseError) -> ListenAddress {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ParseError(description: "missing \"]\" after the IPv6 address; expected [ADDRESS]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                throw ParseError(description: "expected :PORT after \"]\"")
            }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ParseError(description: "expected HOST:PORT, e.g. 0.0.0.0:5684 or [::]:5684")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // An IPv6 address without brackets cannot be told apart from its port.
            guard !host.contains(":") else {
                throw ParseError(description: "put an IPv6 address in brackets, e.g. [::1]:5684")
            }
        }
        guard !host.isEmpty else { throw ParseError(description: "the host is empty; use 0.0.0.0 or [::] for all") }
        guard let port = UInt16(portText), port > 0 else {
            throw ParseError(description: "the port must be a number from 1 to 65535")
        }
        return ListenAddress(host: String(host), port: port)
    }
}

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the site gateway until SIGINT or SIGTERM.",
        discussion: """
            Serves CoAP over DTLS (PSK, one identity per device, see `nanoedge keys device`), records device \
            events and visits in the site database and runs the visit flow. Plain CoAP stays off unless \
            --plain-port is given, which is for a lab only.
            """)

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("The DTLS (CoAPS) address to listen on; an IPv6 host goes in brackets.",
                               valueName: "host:port"),
            transform: { text in try ListenAddress.parse(text) })
    var listen = ListenAddress(host: "0.0.0.0", port: 5684)

    @Option(help: ArgumentHelp("Also serve plain, unencrypted CoAP on this port (lab only).", valueName: "port"))
    var plainPort: UInt16?

    @Option(help: ArgumentHelp("How long an entrance scans for BLE tags after motion, in milliseconds.",
                               valueName: "ms"))
    var scanWindowMs: Int = VisitFlow.Config().scanWindowMilliseconds

    @Option(help: ArgumentHelp("How long a guided visitor has to reach the meeting room, in seconds.",
                               valueName: "seconds"))
    var arrivalTimeoutS: Int = VisitFlow.Config().arrivalMilliseconds / 1000

    @Flag(help: "Do not print each visit log line to standard output.")
    var quiet = false

    @Option(help: ArgumentHelp("The gateway's TOML config: access rules, rate limits and the overload breaker "
                               + "under [policy], and log_level (docs/gateway.md).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Also serve HTTP here: the site page, /metrics (Prometheus) and /export/KIND "
                               + "(docs/operations.md).", valueName: "host:port"),
            transform: { text in try ListenAddress.parse(text) })
    var http: ListenAddress?

    @Option(help: ArgumentHelp("A file holding the token the --http side asks for (Bearer, or as the basic-auth "
                               + "password); needed when --http is not on loopback.", valueName: "file"))
    var httpTokenFile: String?

    @Option(help: ArgumentHelp("Close an HTTP connection with no request in progress after this many seconds.",
                               valueName: "seconds"))
    var httpIdleTimeoutS: Int64 = ConnectionLimits().idleTimeoutSeconds

    @Option(help: ArgumentHelp("Open HTTP connections allowed from one IP address; more are closed at once.",
                               valueName: "count"))
    var httpMaxConnectionsPerAddress: Int = ConnectionLimits().perAddress

    @Option(help: ArgumentHelp("The site key file, to hash any raw BLE address in exports.", valueName: "file"))
    var siteKey: String?

    @OptionGroup var log: LogLevelOption

    func validate() throws {
        if plainPort == 0 { throw ValidationError("--plain-port must be from 1 to 65535") }
        if plainPort == listen.port {
            throw ValidationError("--plain-port must differ from the DTLS port \(listen.port)")
        }
        guard (1...60_000).contains(scanWindowMs) else {
            throw ValidationError("--scan-window-ms must be from 1 to 60000")
        }
        guard (1...86_400).contains(arrivalTimeoutS) else {
            throw ValidationError("--arrival-timeout-s must be from 1 to 86400")
        }
        if let http, !isLoopback(host: http.host), httpTokenFile == nil {
            throw ValidationError("--http \(http) is reachable from the network, and the site page, /metrics and exports "
                                  + "name people and devices: pass --http-token-file FILE (e.g. openssl rand -hex 32 > FILE), "
                                  + "or listen on 127.0.0.1")
        }
        guard (1...3600).contains(httpIdleTimeoutS) else { throw ValidationError("--http-idle-timeout-s must be from 1 to 3600") }
        guard (1...100_000).contains(httpMaxConnectionsPerAddress) else {
            throw ValidationError("--http-max-connections-per-address must be from 1 to 100000")
        }
    }

    var options: GatewayOptions {
        var flow = VisitFlow.Config()
        flow.scanWindowMilliseconds = scanWindowMs
        flow.arrivalMilliseconds = arrivalTimeoutS * 1000
        return GatewayOptions(databasePath: database.path, host: listen.host, port: listen.port,
                              plainPort: plainPort, flow: flow, printVisitLog: !quiet)
    }

    func run() async throws {
        var options = self.options
        try await reportingFailures {
            var configLevel: String?
            if let config { (options.policy, configLevel) = try Self.loadConfig(path: config) }
            try log.apply(config: configLevel, configPath: config)
            let registry = PrometheusCollectorRegistry()
            options.metrics = PrometheusMetricsFactory(registry: registry)
            let server = try GatewayServer(options: options)
            guard let http else {
                try server.run()
                return
            }
            let web = SiteWeb(databasePath: options.databasePath, registry: registry,
                              siteKey: try siteKey.map(readSiteKey))
            let token: String?
            do {
                token = try httpTokenFile.map(readTokenFile)
            } catch let error as TokenFileError {
                throw CommandFailure(error.description)
            }
            raiseOpenFileLimit()
            let limits = ConnectionLimits(idleTimeoutSeconds: httpIdleTimeoutS, perAddress: httpMaxConnectionsPerAddress)
            let app = Application(router: web.buildRouter(token: token), server: .guarded(limits),
                                  configuration: .init(address: .hostname(http.host, port: Int(http.port)),
                                                       serverName: "nanoedge-gateway"))
            // The CoAP loop owns SIGINT/SIGTERM; when it stops, the HTTP side shuts down gracefully.
            let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [],
                                                          logger: Logger(label: "nanoedge-gateway")))
            let httpTask = Task { try await group.run() }
            nonisolated(unsafe) let gateway = server
            let loop = Task.detached { try gateway.run() }
            printError("gateway: http on \(http)")
            let result = await loop.result
            await group.triggerGracefulShutdown()
            _ = await httpTask.result
            try result.get()
        }
    }

    /// The [policy] section and the log level of a gateway config file.
    static func loadConfig(path: String) throws -> (GatewayPolicy, String?) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CommandFailure("cannot read the gateway config \(path): \(error.localizedDescription)")
        }
        do {
            let root = try TOML.parse(text)
            let known: Set<String> = ["policy", "log_level"]
            if let bad = root.keys.sorted().first(where: { !known.contains($0) }) {
                throw CommandFailure("\(path): \(bad): unknown key; the gateway config has log_level and [policy] "
                    + "(listen address and database are command-line options)")
            }
            return (try GatewayPolicy.load(from: root), try root.string("log_level"))
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }
}
