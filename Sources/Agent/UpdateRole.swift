import CoAP
import DaemonLog
import JSON
import Reactor
import Releases
import TrustedTime

#if canImport(Glibc)
import Glibc
#endif

/// Hands a reactor-thread object to a closure that runs elsewhere and comes back through
/// `reactor.execute`; only the reactor thread touches the value.
struct ReactorBound<Value>: @unchecked Sendable {
    let value: Value
}

/// The agent's update role: checks in with the update server at start and every poll interval
/// (plus jitter), follows the server's push when configured, installs what it is assigned, and
/// reports how it ended.
///
/// Runs on the agent's reactor thread; check-ins, reports, the TUF download and every updater
/// call run one at a time on a worker thread and hand their result back with `reactor.execute`.
///
/// An assignment is decided against the updater's state:
/// - the device runs the assigned target, committed → report success (once per process; reports are idempotent);
/// - it runs it on trial → wait for the health window (`registered()` feeds it);
/// - its last update of that version was rolled back or failed → report failure with the reason;
/// - otherwise → download, stage, activate, and exit so the supervisor starts the new binary.
final class UpdateRole {
    let settings: UpdateSettings
    let deviceID: String
    let reactor: Reactor
    let coap: CoAPContext
    private let worker: Reactor
    private let client: UpdateServerClient
    private let installer: ReleaseInstaller
    private(set) var installed: InstalledRelease
    /// The time TUF expiry is checked against: NTP's or the gateway's, never a Pi's unset clock.
    private let clock: TrustedClock

    /// True while the agent is registered with its gateway and its roles run: the health signal.
    var isHealthy: () -> Bool = { false }
    /// The new release is in place: stop the agent so its supervisor starts `current`.
    var onRestart: () -> Void = {}
    var log: (LogLevel, String) -> Void = { _, _ in }

    private var busy = false
    private var checkInRequested = false
    private var stopped = false
    private var pollTimer: Reactor.TimerID?
    private var healthTimer: Reactor.TimerID?
    private var reported: Set<String> = []
    private var lastError: String?
    private var lastLogged: String?
    private var lastGatewayTimeRefusal: String?
    /// An install waits for a time it can check expiry against; the next trusted time checks in again.
    private var waitingForTime = false
    private var pushSession: CoAPSession?
    private var pushObservation: CoAPObservation?
    private var pushRetry: Reactor.TimerID?
    private var pushBackoff: Int64 = 1000

    init(settings: UpdateSettings, deviceID: String, installer: ReleaseInstaller, installed: InstalledRelease,
         clock: TrustedClock, reactor: Reactor, coap: CoAPContext) {
        self.settings = settings
        self.clock = clock
        self.deviceID = deviceID
        self.installer = installer
        self.installed = installed
        self.reactor = reactor
        self.coap = coap
        client = UpdateServerClient(settings: settings)
        worker = Reactor.startThread()
    }

    deinit { worker.stop() }

    func start() {
        if let outcome = installed.lastOutcome, outcome.result != "committed", outcome.version != installed.version {
            log(.warning, "updates: \(outcome.version) was \(outcome.result.replacingUnderscores): \(outcome.reason); running \(installed.version)")
        }
        checkIn()
        observePush()
    }

    func stop() {
        stopped = true
        if let pollTimer { reactor.cancel(pollTimer) }
        if let healthTimer { reactor.cancel(healthTimer) }
        if let pushRetry { reactor.cancel(pushRetry) }
        pushObservation?.cancel()
        pushSession?.close()
        pushSession = nil
    }

    /// The gateway's time from a registration answer: believed unless it contradicts the floor or NTP.
    func gatewayTime(_ milliseconds: Int64) {
        switch clock.observeGateway(epochMilliseconds: milliseconds) {
        case .success:
            lastGatewayTimeRefusal = nil
            if waitingForTime {
                waitingForTime = false
                log(.info, "updates: the gateway gave a trustworthy time; checking in again")
                checkIn()
            }
        case .failure(let why):
            if lastGatewayTimeRefusal != why.description { log(.warning, "updates: \(why)") }
            lastGatewayTimeRefusal = why.description
        }
    }

    /// The agent (re)registered with its gateway: a trial release counts that as healthy.
    func registered() {
        guard installed.onTrial else { return }
        reportHealth()
    }

    // MARK: Check-in and decisions

    func checkIn() {
        guard !stopped else { return }
        guard !busy else {
            checkInRequested = true
            return
        }
        if let pollTimer { reactor.cancel(pollTimer) }
        pollTimer = nil
        let failedOther = installed.lastOutcome.map { $0.result != "committed" && $0.version != installed.version } ?? false
        let message = CheckIn(version: ReleaseVersion(installed.version) ?? ReleaseVersion("0.0.0")!,
                              slot: installed.slot.flatMap(Slot.init(rawValue:)) ?? .a,
                              health: failedOther || !isHealthyNow ? .degraded : .ok, target: installed.target,
                              lastError: lastError ?? (failedOther ? installed.lastOutcome?.reason : nil))
        let client = client
        work({
            do throws(AgentError) { return .success(try client.checkIn(message)) } catch { return .failure(error) }
        }) { role, result in
            role.schedulePoll()
            switch result {
            case .success(let assignment): role.decide(assignment)
            case .failure(let error): role.say("updates: \(error); retrying at the next poll")
            }
        }
    }

    /// The check-in's health: a trial counts as healthy only once it reached the gateway.
    private var isHealthyNow: Bool { !installed.onTrial || isHealthy() }

    private func decide(_ assignment: Assignment?) {
        guard let assignment, !stopped else { return }
        let version = assignment.custom.version.description
        if installed.target == assignment.target {
            if !installed.onTrial {
                report(UpdateReport(deployment: assignment.deployment, target: assignment.target, outcome: .success))
            }
            return
        }
        if let outcome = installed.lastOutcome, outcome.result != "committed", outcome.version == version {
            report(UpdateReport(deployment: assignment.deployment, target: assignment.target, outcome: .failure,
                                error: String(outcome.reason.utf8.prefix(1500)) ?? outcome.reason))
            return
        }
        install(assignment)
    }

    private func report(_ message: UpdateReport) {
        let key = "\(message.deployment) \(message.target) \(message.outcome.rawValue)"
        guard !reported.contains(key) else { return }
        let client = client
        work({
            do throws(AgentError) { return .success(try client.report(message)) } catch { return .failure(error) }
        }) { role, result in
            switch result {
            case .success(let assignment):
                role.reported.insert(key)
                role.log(.info, "updates: reported \(message.outcome.rawValue) of \(message.target) (deployment \(message.deployment))")
                role.decide(assignment)
            case .failure(let error):
                role.say("updates: \(error); reporting again at the next poll")
            }
        }
    }

    private func install(_ assignment: Assignment) {
        let installer = installer
        let target = assignment.target
        let version = assignment.custom.version.description
        let reading: TrustedReading
        switch clock.now() {
        case .success(let now):
            reading = now
        case .failure(let why):
            // Checking expiry against a wrong clock would accept stale metadata or refuse fresh one.
            waitingForTime = true
            lastError = "not installing \(target) yet: \(why)"
            say("updates: \(lastError!)")
            return
        }
        waitingForTime = false
        log(.notice, "updates: installing \(target) (\(version), deployment \(assignment.deployment)); "
            + "TUF expiry checked against \(reading.source.rawValue), \(reading.tufTime)")
        let referenceTime = reading.tufTime
        work({
            do throws(AgentError) {
                return .success(try installer.install(target: target, expectedVersion: version,
                                                      referenceTime: referenceTime))
            } catch {
                return .failure(error)
            }
        }) { role, result in
            switch result {
            case .success(let now):
                role.installed = now
                role.lastError = nil
                role.log(.notice, "updates: \(target) activated in slot \(now.slot ?? "?"); restarting into it")
                role.stop()
                role.onRestart()
            case .failure(let error):
                role.lastError = error.description
                role.say("updates: installing \(target) failed: \(error)", .error)
                if !error.retryable {
                    // It can never install here (refused, or not what was signed): tell the rollout.
                    role.report(UpdateReport(deployment: assignment.deployment, target: target, outcome: .failure,
                                             error: String(error.description.utf8.prefix(1500)) ?? error.description))
                }
            }
        }
    }

    // MARK: Health of a trial

    private func reportHealth() {
        if let healthTimer { reactor.cancel(healthTimer) }
        healthTimer = nil
        let installer = installer
        work({
            do throws(AgentError) { return .success(try installer.health(ok: true, reason: "")) } catch { return .failure(error) }
        }) { role, result in
            switch result {
            case .success(let now):
                let wasTrial = role.installed.onTrial
                role.installed = now
                if wasTrial && !now.onTrial {
                    role.log(.notice, "updates: \(now.version) committed after its health window")
                    role.checkIn()
                } else if now.onTrial, let wait = now.nextDeadlineIn {
                    role.healthTimer = role.reactor.schedule(afterMilliseconds: wait + 20) { [weak role] in
                        guard let role else { return }
                        role.healthTimer = nil
                        if role.isHealthy() { role.reportHealth() }
                    }
                }
            case .failure(let error):
                role.say("updates: health report failed: \(error)")
            }
        }
    }

    // MARK: Push

    /// Observes `dev/<id>/deployment` on the update server; every notification triggers a check-in,
    /// whose answer is the same assignment. Polling goes on regardless, as the fallback.
    private func observePush() {
        guard let push = settings.push, !stopped else { return }
        pushRetry = nil
        pushSession?.close()
        do {
            pushSession = try coap.session(host: push.host, port: push.port,
                                           credentials: PSKCredentials(identity: deviceID, key: push.key))
        } catch {
            retryPush("cannot open a session to \(push.host):\(push.port): \(error)")
            return
        }
        pushObservation = pushSession?.observe("dev/\(deviceID)/deployment") { [weak self] result in
            guard let self, !self.stopped else { return }
            switch result {
            case .success:
                self.pushBackoff = 1000
                self.checkIn()
            case .failure(let error):
                self.pushObservation = nil
                if error.kind != .cancelled { self.retryPush("push observation ended: \(error)") }
            }
        }
    }

    private func retryPush(_ message: String) {
        say("updates: \(message); polling meanwhile", .notice)
        let delay = pushBackoff
        pushBackoff = min(pushBackoff * 2, 60_000)
        pushRetry = reactor.schedule(afterMilliseconds: delay) { [weak self] in self?.observePush() }
    }

    // MARK: Plumbing

    private func schedulePoll() {
        guard !stopped else { return }
        if let pollTimer { reactor.cancel(pollTimer) }
        let jitter = settings.pollJitterSeconds > 0 ? Int64.random(in: 0...Int64(settings.pollJitterSeconds) * 1000) : 0
        pollTimer = reactor.schedule(afterMilliseconds: Int64(settings.pollIntervalSeconds) * 1000 + jitter) { [weak self] in
            self?.pollTimer = nil
            self?.checkIn()
        }
    }

    /// Logs a message once until it changes, so a server that stays down does not flood the log.
    private func say(_ message: String, _ level: LogLevel = .warning) {
        guard message != lastLogged else { return }
        lastLogged = message
        log(level, message)
    }

    /// Runs `job` on the worker thread, one at a time, and `then` back on the reactor thread.
    private func work<T: Sendable>(_ job: @escaping @Sendable () -> Result<T, AgentError>,
                                   then: @escaping (UpdateRole, Result<T, AgentError>) -> Void) {
        busy = true
        let back = ReactorBound(value: Completion(role: self, then: then))
        let reactor = reactor
        worker.execute {
            let result = job()
            reactor.execute { back.value.finish(result) }
        }
    }

    private final class Completion<T> {
        let role: UpdateRole
        let then: (UpdateRole, Result<T, AgentError>) -> Void

        init(role: UpdateRole, then: @escaping (UpdateRole, Result<T, AgentError>) -> Void) {
            self.role = role
            self.then = then
        }

        func finish(_ result: Result<T, AgentError>) {
            role.busy = false
            then(role, result)
            if !role.busy && role.checkInRequested {
                role.checkInRequested = false
                role.checkIn()
            }
        }
    }
}

extension String {
    fileprivate var replacingUnderscores: String {
        String(decoding: utf8.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
