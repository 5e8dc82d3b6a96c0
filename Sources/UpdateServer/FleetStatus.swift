import FleetPage
import Hummingbird
import Rollout
import UpdateStore

/// `GET /`: the fleet at a glance for operators (devices with version, slot and health; rollouts
/// with their waves). No authentication: it shows what the admin API shows, so put the server
/// behind the same network rules; it reveals no token or key.
func fleetPage(_ service: UpdateService) async throws -> Response {
    let (devices, rollouts) = try await service.store { store -> ([FleetPage.Device], [FleetPage.Rollout]) in
        let devices = try store.devices().map { device in
            FleetPage.Device(id: device.id, board: device.board, version: device.version ?? "-", slot: device.slot,
                             health: device.health, location: device.group, lastSeen: device.lastSeen,
                             lastError: device.lastError)
        }
        var rollouts: [FleetPage.Rollout] = []
        for deployment in try store.deployments().reversed().prefix(20) {
            let entries = try store.deploymentDevices(deployment.id)
            var start = 0
            var waves: [FleetPage.Rollout.Wave] = []
            for end in deployment.machine.boundaries {
                let wave = entries.filter { $0.position >= start && $0.position < end }
                waves.append(.init(devices: wave.count, succeeded: wave.filter { $0.outcome == .success }.count,
                                   failed: wave.filter { $0.outcome == .failure }.count))
                start = end
            }
            rollouts.append(FleetPage.Rollout(
                id: String(deployment.id), target: deployment.target, group: deployment.group,
                state: deployment.state.status.rawValue, halted: deployment.state.status == .halted,
                currentWave: deployment.state.wave, waves: waves,
                failureThreshold: deployment.plan.maxFailures.description))
        }
        return (devices, rollouts)
    }
    var page = FleetPage(title: "nanoedge fleet", devices: devices, rollouts: rollouts)
    // Devices check in every few minutes, not every few seconds as on a site.
    page.offlineAfterMs = 15 * 60_000
    return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: page.render(now: service.clock()))))
}
