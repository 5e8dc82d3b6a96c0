import CoAP
import DaemonLog
import JSON
import Reactor
import Site

/// The agent's link to its gateway: DTLS session, registration, the command observation, and the
/// in-order, exactly-once replay of the offline event log.
///
/// States: disconnected → registering → registered. Any failure drops back to disconnected and
/// reconnects with a capped exponential backoff. Runs on the agent's reactor thread.
final class Uplink {
    struct Settings {
        var host: String
        var port: UInt16
        var credentials: PSKCredentials?
        var registration: Registration
        var ackTimeoutMilliseconds: Int
        var maxRetransmit: Int
        var requestTimeoutMilliseconds: Int64
        var heartbeatMilliseconds: Int64
    }

    enum State: Equatable {
        case disconnected
        case registering
        case registered
    }

    let context: CoAPContext
    let settings: Settings
    let events: EventLog
    private var reactor: Reactor { context.reactor }
    private(set) var state = State.disconnected
    private var session: CoAPSession?
    private var observation: CoAPObservation?
    private var observedBoot: String?
    private var inFlight: Int64?
    private var backoff: Int64 = 250
    /// Set while the gateway has asked us (4.29/5.03 with Max-Age) to hold the next event back.
    private var pacingTimer: Reactor.TimerID?
    private var reconnectTimer: Reactor.TimerID?
    private var heartbeatTimer: Reactor.TimerID?
    private var lastError: String?
    private var commandsPath: String?

    /// The device's desired state, each time the gateway publishes it.
    var onCommands: ((DeviceCommands) -> Void)?
    /// Called once registered (first time and after each reconnect).
    var onRegistered: (() -> Void)?
    /// The gateway's time (Unix epoch ms) from each registration answer that carries one.
    var onGatewayTime: ((Int64) -> Void)?
    var log: (LogLevel, String) -> Void = { _, _ in }

    init(context: CoAPContext, settings: Settings, events: EventLog) {
        self.context = context
        self.settings = settings
        self.events = events
    }

    func start() { connect() }

    func stop() {
        observation?.cancel()
        observation = nil
        session?.close()
        session = nil
        state = .disconnected
        if let reconnectTimer { reactor.cancel(reconnectTimer) }
        if let heartbeatTimer { reactor.cancel(heartbeatTimer) }
    }

    /// New events were appended to the log: send them if the link is up.
    func flush() { pump() }

    /// A GET through the same session (e.g. presentation content, fetched block-wise).
    func get(_ path: String, query: String,
             completion: @escaping (Result<CoAPResponse, CoAPError>) -> Void) {
        guard state == .registered, let session else {
            completion(.failure(CoAPError(.cancelled, "not connected to the gateway")))
            return
        }
        session.send(CoAPRequest(.get, path, query: query), timeoutMilliseconds: settings.requestTimeoutMilliseconds * 4,
                     completion: completion)
    }

    // MARK: Connection

    private func connect() {
        reconnectTimer = nil
        observation = nil
        session?.close()
        inFlight = nil
        do {
            let session = try context.session(host: settings.host, port: settings.port, credentials: settings.credentials)
            session.setRetransmission(ackTimeoutMilliseconds: settings.ackTimeoutMilliseconds,
                                      maxRetransmit: settings.maxRetransmit)
            self.session = session
        } catch {
            fail("cannot open a session to \(settings.host):\(settings.port): \(error)")
            return
        }
        state = .registering
        register()
    }

    private func register() {
        guard let session else { return }
        var registration = settings.registration
        registration.buffered = events.pending.count
        let request = CoAPRequest(.post, SitePaths.register, payload: registration.json.bytes(),
                                  contentFormat: ContentFormat.json)
        session.send(request, timeoutMilliseconds: settings.requestTimeoutMilliseconds) { [weak self] result in
            self?.registered(result)
        }
    }

    private func registered(_ result: Result<CoAPResponse, CoAPError>) {
        let ack: RegistrationAck
        switch result {
        case .failure(let error):
            if case .response(let code) = error.kind, code.codeClass == 4 {
                fail("the gateway refused the registration: \(error.description) — check [device] in the config and the provisioning")
            } else {
                fail("registration failed: \(error)")
            }
            return
        case .success(let response):
            do {
                ack = try RegistrationAck(json: try JSON.parse(response.payload))
            } catch {
                fail("the gateway's registration answer is not understood: \(error)")
                return
            }
        }
        let wasRegistered = state == .registered
        state = .registered
        backoff = 250
        if lastError != nil || !wasRegistered && observedBoot == nil {
            log(.notice, "agent: registered with the gateway as \(ack.device)")
            lastError = nil
        }
        // The gateway already counted events up to last_seq (an ack may have been lost in a crash).
        if let last = ack.lastSeq, last > events.ackedSeq {
            try? events.acknowledge(through: min(last, events.lastSeq))
        }
        if observation == nil || observedBoot != ack.gatewayBoot {
            observedBoot = ack.gatewayBoot
            commandsPath = ack.commands
            observe(ack.commands)
        }
        if let time = ack.gatewayTime { onGatewayTime?(time) }
        if !wasRegistered { onRegistered?() }
        scheduleHeartbeat()
        pump()
    }

    private func observe(_ path: String) {
        observation?.cancel()
        observation = session?.observe(path) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let response):
                do {
                    self.onCommands?(try DeviceCommands(json: try JSON.parse(response.payload)))
                } catch {
                    self.log(.warning, "agent: ignoring a command document the agent cannot read: \(error)")
                }
            case .failure(let error):
                self.observation = nil
                if error.kind != .cancelled { self.fail("command observation ended: \(error)") }
            }
        }
    }

    /// Re-registers while idle so a restarted gateway is noticed (new boot id → observe again).
    private func scheduleHeartbeat() {
        if let heartbeatTimer { reactor.cancel(heartbeatTimer) }
        heartbeatTimer = reactor.schedule(afterMilliseconds: settings.heartbeatMilliseconds) { [weak self] in
            guard let self, self.state == .registered else { return }
            self.heartbeatTimer = nil
            self.register()
        }
    }

    private func fail(_ message: String) {
        if message != lastError {
            log(.warning, "agent: \(message); retrying")
            lastError = message
        }
        state = .disconnected
        inFlight = nil
        observation = nil
        session?.close()
        session = nil
        if let heartbeatTimer { reactor.cancel(heartbeatTimer) }
        heartbeatTimer = nil
        if let pacingTimer { reactor.cancel(pacingTimer) }
        pacingTimer = nil
        guard reconnectTimer == nil else { return }
        let delay = backoff
        backoff = min(backoff * 2, 5000)
        reconnectTimer = reactor.schedule(afterMilliseconds: delay) { [weak self] in self?.connect() }
    }

    // MARK: Event replay

    /// Sends the oldest unacknowledged event; one at a time keeps the gateway's order equal to ours.
    private func pump() {
        guard state == .registered, inFlight == nil, pacingTimer == nil, let session,
              let next = events.pending.first else { return }
        inFlight = next.seq
        let request = CoAPRequest(.post, SitePaths.events, payload: next.json.bytes(), contentFormat: ContentFormat.json)
        session.send(request, timeoutMilliseconds: settings.requestTimeoutMilliseconds) { [weak self] result in
            guard let self, self.inFlight == next.seq else { return }
            self.inFlight = nil
            switch result {
            case .success:
                do {
                    try self.events.acknowledge(through: next.seq)
                } catch {
                    self.log(.error, "agent: \(error)")
                }
                self.pump()
            case .failure(let error):
                if case .response(let code) = error.kind {
                    if code == .tooManyRequests || code == .serviceUnavailable {
                        // The gateway is pacing us: keep the event and send it again when it says.
                        let wait = Int64(max(1, error.retryAfterSeconds ?? 1)) * 1000
                        self.log(.notice, "agent: gateway asks to slow down (\(error.description)); event \(next.seq) kept, "
                            + "retrying in \(wait) ms")
                        self.pacingTimer = self.reactor.schedule(afterMilliseconds: wait) { [weak self] in
                            self?.pacingTimer = nil
                            self?.pump()
                        }
                    } else if code == .conflict {
                        // Out of step with the gateway's record: register again to learn its last seq.
                        self.register()
                    } else if code.codeClass == 4 {
                        // The gateway will never accept this event; keeping it would block every later one.
                        self.log(.warning, "agent: the gateway rejected event \(next.seq) (\(next.kind)): \(error.description); dropping it")
                        try? self.events.acknowledge(through: next.seq)
                        self.pump()
                    } else {
                        self.fail("event \(next.seq) not accepted: \(error)")
                    }
                } else {
                    self.fail("event \(next.seq) not delivered: \(error)")
                }
            }
        }
    }
}
