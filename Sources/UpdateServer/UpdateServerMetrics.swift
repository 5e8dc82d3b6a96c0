import CoreMetrics
import Hummingbird
import Prometheus
import Releases
import Rollout
import UpdateStore

/// The update server's metrics, exported on `GET /metrics` in the Prometheus text format. Counters
/// count what this replica handled; the fleet and rollout gauges are read from the shared store at
/// each scrape, so every replica reports the same fleet.
public final class UpdateServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let checkIns: CoreMetrics.Counter
    private let successes: CoreMetrics.Counter
    private let failures: CoreMetrics.Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        factory = PrometheusMetricsFactory(registry: registry)
        checkIns = CoreMetrics.Counter(label: "nanoedge_update_checkins_total", factory: factory)
        successes = CoreMetrics.Counter(label: "nanoedge_update_outcomes_total", dimensions: [("outcome", "success")],
                                        factory: factory)
        failures = CoreMetrics.Counter(label: "nanoedge_update_outcomes_total", dimensions: [("outcome", "failure")],
                                       factory: factory)
    }

    func checkIn() { checkIns.increment() }

    func report(_ outcome: UpdateReport.Outcome) {
        switch outcome {
        case .success: successes.increment()
        case .failure: failures.increment()
        }
    }

    /// Sets the gauges from the store, then renders everything.
    func render(_ service: UpdateService) async throws -> Response {
        let gauges = try await service.store { store -> [(String, [(String, String)], Double)] in
            var values: [(String, [(String, String)], Double)] = []
            var byHealth: [String: Int] = [:]
            for device in try store.devices() { byHealth[device.health ?? "unknown", default: 0] += 1 }
            for (health, count) in byHealth { values.append(("nanoedge_update_devices", [("health", health)], Double(count))) }
            for deployment in try store.deployments().suffix(20) {
                let entries = try store.deploymentDevices(deployment.id)
                let labels = [("deployment", String(deployment.id)), ("target", deployment.target)]
                values.append(("nanoedge_rollout_wave", labels, Double(deployment.state.wave)))
                values.append(("nanoedge_rollout_halted", labels, deployment.state.status == .halted ? 1 : 0))
                for outcome in [DeviceOutcome.pending, .success, .failure] {
                    let count = entries.filter { $0.outcome == outcome }.count
                    values.append(("nanoedge_rollout_devices", labels + [("outcome", outcome.rawValue)], Double(count)))
                }
            }
            return values
        }
        for (name, labels, value) in gauges {
            Gauge(label: name, dimensions: labels, factory: factory).record(value)
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
    }
}
