import CoreMetrics
import Synchronization

/// The gateway's metrics through swift-metrics; `nanoedge gateway --http` exports them in the
/// Prometheus text format on /metrics (docs/operations.md lists them). All calls happen on the
/// gateway's loop thread; the factory's handlers are thread-safe for the exporter.
final class GatewayMetrics {
    private let factory: any MetricsFactory
    private var requests: [String: CoreMetrics.Counter] = [:]
    private var statuses: [String: CoreMetrics.Counter] = [:]
    private var events: [String: CoreMetrics.Counter] = [:]
    private var refusals: [String: CoreMetrics.Counter] = [:]
    private var buffers: [String: Gauge] = [:]
    private let sessions: Gauge
    private let devicesOnline: Gauge
    private let configReports: CoreMetrics.Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        sessions = Gauge(label: "nanoedge_dtls_sessions", factory: factory)
        devicesOnline = Gauge(label: "nanoedge_devices_online", factory: factory)
        configReports = CoreMetrics.Counter(label: "nanoedge_config_reports_total", factory: factory)
    }

    /// Device ids in paths would make a series per device: `dev/<id>/cmd` counts as `dev/*/cmd`.
    static func resource(_ path: String) -> String {
        let parts = path.split(separator: "/")
        if parts.count == 3, parts[0] == "dev" { return "dev/*/\(parts[2])" }
        return path
    }

    func request(path: String, code: String) {
        let key = Self.resource(path) + " " + code
        let counter = requests[key] ?? CoreMetrics.Counter(label: "nanoedge_coap_requests_total",
            dimensions: [("resource", Self.resource(path)), ("code", code)], factory: factory)
        requests[key] = counter
        counter.increment()
    }

    func refused(_ reason: String) {
        let counter = refusals[reason] ?? CoreMetrics.Counter(label: "nanoedge_policy_refusals_total",
            dimensions: [("reason", reason)], factory: factory)
        refusals[reason] = counter
        counter.increment()
    }

    func visitStatus(_ status: String) {
        let counter = statuses[status] ?? CoreMetrics.Counter(label: "nanoedge_visit_statuses_total",
            dimensions: [("status", status)], factory: factory)
        statuses[status] = counter
        counter.increment()
    }

    func deviceEvent(kind: String) {
        let counter = events[kind] ?? CoreMetrics.Counter(label: "nanoedge_device_events_total",
            dimensions: [("kind", kind)], factory: factory)
        events[kind] = counter
        counter.increment()
    }

    /// The events an agent holds in its offline log, as it reported at its last registration.
    func eventBuffer(device: String, depth: Int) {
        let gauge = buffers[device] ?? Gauge(label: "nanoedge_agent_event_buffer_depth",
            dimensions: [("device", device)], factory: factory)
        buffers[device] = gauge
        gauge.record(depth)
    }

    func configReport() { configReports.increment() }

    func sample(sessions count: Int, online: Int) {
        sessions.record(count)
        devicesOnline.record(online)
    }
}
