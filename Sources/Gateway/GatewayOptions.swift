import CoreMetrics
import GatewayPolicy
import Site

/// How a gateway runs: where its records live, where it listens, and the scenario's timings.
public struct GatewayOptions: Sendable {
    /// The SQLite file with the registry, devices, events and visits.
    public var databasePath: String
    public var host: String
    /// DTLS port (CoAPS).
    public var port: UInt16
    /// Plain CoAP port for a lab; nil (the default) keeps plain CoAP off.
    public var plainPort: UInt16?
    /// Request bodies above this size get 4.13.
    public var maxRequestBodyBytes: Int
    public var flow: VisitFlow.Config
    /// Events older than this (replayed after an outage) are recorded but do not move visits.
    public var liveEventWindowMilliseconds: Int64 = 30_000
    /// Print each visit log line to standard output as it happens.
    public var printVisitLog: Bool
    /// Access rules, rate limits and the overload breaker.
    public var policy = GatewayPolicy()
    /// Where the gateway's metrics go (`nanoedge gateway --http` exports them on /metrics).
    public var metrics: any MetricsFactory = NOOPMetricsHandler.instance

    public init(databasePath: String, host: String = "0.0.0.0", port: UInt16 = 5684, plainPort: UInt16? = nil,
                maxRequestBodyBytes: Int = 16 * 1024, flow: VisitFlow.Config = VisitFlow.Config(),
                printVisitLog: Bool = true) {
        self.databasePath = databasePath
        self.host = host
        self.port = port
        self.plainPort = plainPort
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.flow = flow
        self.printVisitLog = printVisitLog
    }
}
