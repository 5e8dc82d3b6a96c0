import Foundation
import HTTPGuard
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ServiceLifecycle
import Reactor
import TUF
import TUFRepository

/// How `nanoedge update-server` runs.
public struct UpdateServerOptions: Sendable {
    /// Holds `artifacts/` (shareable between replicas), `keys/` by default and `state.db` by default.
    public var dataDirectory: String
    public var httpHost: String
    public var httpPort: Int
    /// `postgres://…` for replicas, or an SQLite path; nil uses `DATA/state.db`.
    public var database: String?
    /// The CoAP/DTLS push endpoint; nil turns push off.
    public var coapHost: String
    public var coapPort: UInt16?
    /// Where board profiles are looked up, first match wins.
    public var boardPaths: [String]
    /// The TUF repository (default `DATA/repository`) and its online keys (default `REPO/keys`).
    public var repository: String?
    public var keys: String?
    public var keyPassphrase: String?
    public var expiry: TUFRepository.Expiry
    public var maxArtifactBytes: Int64
    public var poolSize: Int
    /// Idle timeout and per-address connection cap, on every listener.
    public var limits = ConnectionLimits()
    /// The fleet page and /metrics listen here, never on the device port; nil serves them nowhere.
    /// Off loopback they need an admin token.
    public var adminHost: String?
    public var adminPort = 8081
    /// PEM certificate chain and private key: the device port then speaks HTTPS only.
    public var tls: TLSFiles?

    public init(dataDirectory: String, httpHost: String = "0.0.0.0", httpPort: Int = 8080, database: String? = nil,
                coapHost: String = "0.0.0.0", coapPort: UInt16? = 5686, boardPaths: [String],
                repository: String? = nil, keys: String? = nil, keyPassphrase: String? = nil,
                expiry: TUFRepository.Expiry = .init(), maxArtifactBytes: Int64 = 4 << 30, poolSize: Int = 4) {
        self.dataDirectory = dataDirectory
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.database = database
        self.coapHost = coapHost
        self.coapPort = coapPort
        self.boardPaths = boardPaths
        self.repository = repository
        self.keys = keys
        self.keyPassphrase = keyPassphrase
        self.expiry = expiry
        self.maxArtifactBytes = maxArtifactBytes
        self.poolSize = poolSize
    }

    public var databaseLocation: String { database ?? dataDirectory + "/state.db" }
    public var adminNeedsToken: Bool { adminHost.map { !isLoopback(host: $0) } ?? false }
    public var repositoryDirectory: String { repository ?? dataDirectory + "/repository" }
}

/// The update server's own certificate (chain first) and key, both PEM.
public struct TLSFiles: Sendable, Equatable {
    public var certificateChain: String
    public var privateKey: String

    public init(certificateChain: String, privateKey: String) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// Reads both files now, so a bad path or PEM fails at start with a message, not on the first client.
    public func configuration() throws(ServerError) -> TLSConfiguration {
        for (what, path) in [("--tls-cert", certificateChain), ("--tls-key", privateKey)] where access(path, R_OK) != 0 {
            throw ServerError(.internalServerError, "cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
        } catch {
            throw ServerError(.internalServerError, "cannot read the TLS certificate \(certificateChain) (PEM, "
                              + "server certificate first, then intermediates): \(error)")
        }
        guard !chain.isEmpty else {
            throw ServerError(.internalServerError, "no certificate in \(certificateChain); expected PEM \"BEGIN CERTIFICATE\" blocks")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            throw ServerError(.internalServerError, "cannot read the TLS private key \(privateKey) (PEM, unencrypted): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

/// Builds the service from options; OCI releases are checked with the `OCI` module.
public func makeUpdateService(_ options: UpdateServerOptions, oci: (any OCIArchiveValidator)? = OCIArchiveCheck(),
                              clock: @escaping @Sendable () -> Int64 = { Reactor.wallClock() }) async throws(ServerError) -> UpdateService {
    let pool: StorePool
    do {
        pool = try StorePool(location: options.databaseLocation, size: options.poolSize)
    } catch {
        throw ServerError(.internalServerError, error.message)
    }
    let boards = try BoardCatalog.load(searchPaths: options.boardPaths)
    guard !boards.names.isEmpty else {
        throw ServerError(.internalServerError, "no board profiles in \(options.boardPaths.joined(separator: ", ")); pass --boards DIR")
    }
    let repository = try ReleaseRepository(directory: options.repositoryDirectory, keyDirectory: options.keys,
                                           passphrase: options.keyPassphrase, expiry: options.expiry)
    let service = UpdateService(pool: pool, repository: repository, validator: ArtifactValidator(boards: boards, oci: oci),
                                maxArtifactBytes: options.maxArtifactBytes, clock: clock)
    try await service.prepare()
    return service
}

/// Runs the service until SIGINT or SIGTERM: HTTP, push, and the clock that advances soaking
/// rollouts and re-signs expiring metadata.
public func runUpdateServer(_ options: UpdateServerOptions, service: UpdateService) async throws {
    var hub: PushHub?
    if let coapPort = options.coapPort {
        hub = try await PushHub(host: options.coapHost, port: coapPort, databaseLocation: options.databaseLocation)
        service.addNotifier(hub!)
    }
    defer { hub?.stop() }
    // Hummingbird's own lines (one per request at debug) only when debugging: at info it would
    // repeat the start-up line above.
    var logger = Logger(label: "update-server.http")
    if logger.logLevel > .debug { logger.logLevel = max(logger.logLevel, .warning) }
    let descriptors = raiseOpenFileLimit()
    let tls = try options.tls?.configuration()
    var services: [any Service] = [Ticker(service: service)]
    if let adminHost = options.adminHost {
        let adminServer: HTTPServerBuilder = options.adminNeedsToken && tls != nil
            ? try .tls(.guarded(options.limits), tlsConfiguration: tls!) : .guarded(options.limits)
        services.append(Application(router: buildAdminRouter(service, requireToken: options.adminNeedsToken),
                                    server: adminServer,
                                    configuration: ApplicationConfiguration(address: .hostname(adminHost, port: options.adminPort),
                                                                            serverName: "nanoedge-update-server"),
                                    onServerRunning: { channel in
                                        let scheme = tls != nil && options.adminNeedsToken ? "https" : "http"
                                        let address = channel.localAddress.map { socket -> String in
                                            // "127.0.0.1:8080", as the options take it (NIO's form repeats the address).
                                            let host = socket.ipAddress ?? "?"
                                            return (host.contains(":") ? "[\(host)]" : host) + ":\(socket.port ?? 0)"
                                        } ?? "?"
                                        let token = options.adminNeedsToken ? " (admin token required)" : ""
                                        serverLog.notice("fleet page and /metrics on \(scheme)://\(address)\(token)")
                                    },
                                    logger: logger))
    }
    let server: HTTPServerBuilder = try tls.map { try .tls(.guarded(options.limits), tlsConfiguration: $0) } ?? .guarded(options.limits)
    let app = Application(router: buildRouter(service),
                          server: server,
                          configuration: ApplicationConfiguration(address: .hostname(options.httpHost, port: options.httpPort),
                                                                  serverName: "nanoedge-update-server"),
                          services: services,
                          onServerRunning: { channel in
                              let address = channel.localAddress.map { socket -> String in
                                            // "127.0.0.1:8080", as the options take it (NIO's form repeats the address).
                                            let host = socket.ipAddress ?? "?"
                                            return (host.contains(":") ? "[\(host)]" : host) + ":\(socket.port ?? 0)"
                                        } ?? "?"
                              let push = options.coapPort.map { ", push on coaps://\(options.coapHost):\($0)" } ?? ""
                              let line = "\(tls == nil ? "HTTP" : "HTTPS") on \(address)\(push)"
                                  + ", state in \(service.pool.location), \(descriptors) descriptors"
                                  + ", idle timeout \(options.limits.idleTimeoutSeconds) s"
                                  + ", \(options.limits.perAddress) connections per address"
                              serverLog.notice("\(line)")
                          },
                          logger: logger)
    try await app.runService()
}

/// Calls `tick()` when rollouts or metadata need it, at least once a minute.
struct Ticker: Service {
    let service: UpdateService

    func run() async throws {
        // SIGTERM starts a graceful shutdown, which must end this loop too.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let next = await service.tick()
                let wait = max(100, min(60_000, next - service.clock()))
                try await Task.sleep(for: .milliseconds(wait))
            }
        }
    }
}

