import CoAP
import CryptoEVP
import DaemonLog
import Hardware
import JSON
import Reactor
import SimulatedBoard
import Site
import TrustedTime

#if canImport(Glibc)
import Glibc
#endif

/// The agent's version, reported at registration.
public let agentVersion = productVersion

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
    /// Worth trying again later (the network, a busy lock), as opposed to a refusal.
    public var retryable: Bool
    init(_ description: String, retryable: Bool = false) {
        self.description = description
        self.retryable = retryable
    }
}

/// One agent process: a single reactor thread that owns the libcoap context, the board and the roles.
public final class AgentRuntime {
    public let config: AgentConfig
    let reactor = Reactor()
    let coap: CoAPContext
    let events: EventLog
    let uplink: Uplink
    private var board: BoardHardware?
    private var presence: PresenceRole?
    private var scanner: ScannerRole?
    private var guidance: GuidanceRole?
    private var display: DisplayRole?
    private var remoteConfig: RemoteConfigApplier?
    private var updates: UpdateRole?
    /// What the updater says runs (its version is the one the agent registers and checks in with).
    public let installed: InstalledRelease

    public init(config: AgentConfig) throws(AgentError) {
        self.config = config
        do {
            coap = try CoAPContext(reactor: reactor)
        } catch {
            throw AgentError("CoAP: \(error)")
        }
        do {
            events = try EventLog(directory: config.eventLogDirectory)
        } catch {
            throw AgentError("\(error)")
        }
        let installer = ReleaseInstaller(stateDirectory: config.stateDirectory, board: config.board.name,
                                         settings: config.updates)
        do {
            installed = try installer.installed()
        } catch {
            DaemonLog.warning("agent: cannot read the updater's state (\(error)); reporting version \(agentVersion)")
            installed = .packaged
        }
        let registration = Registration(roles: config.roles.sorted { $0.rawValue < $1.rawValue },
                                        location: config.location, board: config.board.name,
                                        version: installed.version, epoch: events.epoch)
        uplink = Uplink(context: coap, settings: Uplink.Settings(
            host: config.gatewayHost, port: config.gatewayPort,
            credentials: config.usesPlainCoAP ? nil : PSKCredentials(identity: config.deviceID, key: config.key),
            registration: registration, ackTimeoutMilliseconds: config.ackTimeoutMilliseconds,
            maxRetransmit: config.maxRetransmit, requestTimeoutMilliseconds: 3000,
            heartbeatMilliseconds: Int64(config.heartbeatMilliseconds)), events: events)
        uplink.log = { DaemonLog.log($0, $1) }
        try attachHardware()
        if let settings = config.updates {
            let clock = TrustedClock(settings: config.time)
            clock.onFloorWriteFailure = { DaemonLog.warning("agent: \($0)") }
            let role = UpdateRole(settings: settings, deviceID: config.deviceID, installer: installer,
                                  installed: installed, clock: clock, reactor: reactor, coap: coap)
            role.log = { DaemonLog.log($0, $1) }
            role.isHealthy = { [unowned self] in self.uplink.state == .registered }
            role.onRestart = { [unowned self] in
                self.shutdown()
                self.reactor.stop()
            }
            updates = role
        }
        uplink.onCommands = { [unowned self] commands in
            self.remoteConfig?.apply(commands.configs)
            self.scanner?.apply(commands.scan)
            self.guidance?.apply(commands.guidance)
            self.display?.apply(commands.display)
        }
    }

    /// Runs until SIGINT/SIGTERM (or the first registration, for a connectivity check); returns the exit code.
    public func run(exitWhenRegistered: Bool = false) -> Int32 {
        uplink.onGatewayTime = { [unowned self] milliseconds in self.updates?.gatewayTime(milliseconds) }
        uplink.onRegistered = { [unowned self] in
            if exitWhenRegistered {
                self.shutdown()
                self.reactor.stop()
            } else {
                self.updates?.registered()
            }
        }
        reactor.onTerminationSignal { [unowned self] _ in
            self.shutdown()
            self.reactor.stop()
        }
        if !events.pending.isEmpty {
            DaemonLog.info("agent: \(events.pending.count) event(s) from earlier wait for the gateway")
        }
        uplink.start()
        if !exitWhenRegistered { updates?.start() }
        // Type=notify: ready once the loop runs; the watchdog is pinged from the loop itself.
        SystemdNotifier.start(on: reactor, status: "device \(config.deviceID)")
        reactor.run()
        return 0
    }

    private func shutdown() {
        updates?.stop()
        guidance?.allOff()
        scanner?.stop()
        presence?.stop()
        uplink.stop()
        board?.stop()
    }

    private func record(_ kind: DeviceEvent.Kind, _ fields: [String: JSON]) {
        do {
            try events.append(kind: kind, at: Reactor.wallClock(), fields: fields)
        } catch {
            // Not writing the event down means it could be lost: say so loudly and keep serving.
            DaemonLog.error("agent: event \(kind) NOT recorded: \(error)")
            return
        }
        uplink.flush()
    }

    private func attachHardware() throws(AgentError) {
        let board = try BoardHardware.open(config: config, reactor: reactor)
        self.board = board
        let record: EventSink = { [unowned self] kind, fields in self.record(kind, fields) }
        if config.roles.contains(.presence), let pir = board.pir {
            let role = PresenceRole(line: pir, timing: config.board.pirTiming, reactor: reactor, record: record)
            do { try role.start() } catch { throw AgentError("PIR: \(error)") }
            presence = role
        }
        if config.roles.contains(.scanner), let bleScanner = board.scanner {
            let hasher = config.rawAddresses ? nil : config.siteKey.map { TagHasher(siteKey: $0) }
            let role = ScannerRole(scanner: bleScanner, hasher: hasher, reactor: reactor, record: record)
            role.log = { DaemonLog.log($0, $1) }
            scanner = role
        }
        if config.roles.contains(.guidance) {
            let role = GuidanceRole(leds: board.leds, reactor: reactor, record: record)
            role.log = { DaemonLog.log($0, $1) }
            role.allOff()
            guidance = role
        }
        if config.roles.contains(.display), let screen = board.display {
            let role = DisplayRole(display: screen, command: config.displayCommand,
                                   contentDirectory: config.contentDirectory, record: record)
            role.log = { DaemonLog.log($0, $1) }
            role.fetch = { [unowned self] path, query, done in
                self.uplink.get(path, query: query) { result in
                    switch result {
                    case .success(let response): done(.success(response.payload))
                    case .failure(let error): done(.failure(AgentError(error.description)))
                    }
                }
            }
            display = role
        }
        let applier = RemoteConfigApplier(publicKey: config.remoteConfigKey, roles: Set(config.roles),
                                          stateDirectory: config.stateDirectory, record: record)
        applier.log = { DaemonLog.log($0, $1) }
        applier.onSettings = { [unowned self] settings in
            self.presence?.retime(minHighMs: settings[.presenceMinHighMs], holdMs: settings[.presenceHoldMs])
            self.scanner?.windowOverride = settings[.scannerWindowMs].map { Int($0) }
            self.guidance?.retime(chaseStepMs: settings[.guidanceChaseStepMs],
                                  blinkPeriodMs: settings[.guidanceBlinkPeriodMs])
        }
        applier.start()
        remoteConfig = applier
    }

}
