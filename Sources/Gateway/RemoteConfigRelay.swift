import CoAP
import Reactor
import Site

/// Publishes the signed remote configs an operator stores with `nanoedge config push` on the
/// command resources of the devices whose roles they are for. The gateway only relays: devices
/// verify the operator's signature against their pinned key.
extension GatewayServer {
    /// How often the gateway looks for configs written by another process (the CLI).
    static let configPollMilliseconds: Int64 = 250

    func loadRemoteConfigs() {
        do {
            remoteConfigs = Dictionary(try store.remoteConfigs().map { ($0.config.role, $0) }) { $1 }
            lastDataVersion = try store.dataVersion()
        } catch {
            logger.error("remote configs not loaded: \(error)")
        }
    }

    func scheduleConfigPoll() {
        reactor.schedule(afterMilliseconds: Self.configPollMilliseconds) { [weak self] in
            guard let self else { return }
            self.pollRemoteConfigs()
            self.metrics.sample(sessions: self.coap.serverSessionCount, online: self.online.count)
            self.scheduleConfigPoll()
        }
    }

    /// The configs for a device with these roles, in role order.
    func configs(for roles: Set<DeviceRole>) -> [SignedRemoteConfig] {
        roles.sorted { $0.rawValue < $1.rawValue }.compactMap { remoteConfigs[$0] }
    }

    private func pollRemoteConfigs() {
        guard let version = try? store.dataVersion(), version != lastDataVersion else { return }
        let before = remoteConfigs
        loadRemoteConfigs()
        let changedRoles = Set(remoteConfigs.keys.filter { before[$0] != remoteConfigs[$0] })
        guard !changedRoles.isEmpty else { return }
        for role in changedRoles.sorted(by: { $0.rawValue < $1.rawValue }) {
            if let config = remoteConfigs[role]?.config {
                logger.info("config \(role.rawValue) v\(config.version) published")
            }
        }
        for (id, device) in online.sorted(by: { $0.key < $1.key }) where !device.roles.isDisjoint(with: changedRoles) {
            commands[id, default: DeviceCommands()].configs = configs(for: device.roles)
            commands[id]?.revision += 1
            commandResources[id]?.notifyObservers()
        }
    }

    /// A device's `config` event: what it applied or refused.
    func recordConfigReport(device: String, event: DeviceEvent, at now: Int64) {
        guard let role = event.fields["role"]?.stringValue, let version = event.fields["version"]?.intValue else { return }
        let applied = event.fields["applied"]?.boolValue ?? false
        let error = event.fields["error"]?.stringValue ?? ""
        do {
            try store.recordConfigReport(device: device, role: role, version: version, applied: applied,
                                         error: error, at: now)
        } catch {
            logger.error("config report of \(device) not recorded: \(error)")
        }
        metrics.configReport()
        if !applied { logger.warning("\(device) refused config \(role) v\(version): \(error)") }
    }
}
