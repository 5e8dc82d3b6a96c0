import Hummingbird
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

    public init(dataDirectory: String, httpHost: String = "0.0.0.0", httpPort: Int = 8080, database: String? = nil,
                coapHost: String = "0.0.0.0", coapPort: UInt16? = 5684, boardPaths: [String],
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
    public var repositoryDirectory: String { repository ?? dataDirectory + "/repository" }
}

/// Builds the service from options; the caller supplies the OCI validator.
public func makeUpdateService(_ options: UpdateServerOptions, oci: (any OCIArchiveValidator)?,
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
    var logger = Logger(label: "update-server")
    logger.logLevel = .warning
    let app = Application(router: buildRouter(service),
                          configuration: ApplicationConfiguration(address: .hostname(options.httpHost, port: options.httpPort),
                                                                  serverName: "nanoedge-update-server"),
                          services: [Ticker(service: service)],
                          onServerRunning: { channel in
                              log("update-server: HTTP on \(channel.localAddress.map { "\($0)" } ?? "?")"
                                  + (options.coapPort.map { ", push on coaps://\(options.coapHost):\($0)" } ?? "")
                                  + ", state in \(service.pool.location)")
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
