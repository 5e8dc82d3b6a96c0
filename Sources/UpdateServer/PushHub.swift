import CoAP
import CryptoEVP
import JSON
import Postgres
import Reactor
import Releases
import Synchronization
import UpdateStore

#if canImport(Glibc)
import Glibc
#endif

/// Pushes assignments to devices over CoAP/DTLS: each device observes `dev/<id>/deployment`, and a
/// change is notified at once. One reactor thread owns the libcoap context, the hub's own store
/// connection and, with PostgreSQL, a connection that LISTENs for changes made on other replicas.
///
/// Devices that cannot keep an observation (sleeping radios, NAT timeouts) poll the HTTP check-in
/// instead, every few minutes with random jitter (see docs/update-server.md).
public final class PushHub: AssignmentNotifier, @unchecked Sendable {
    // Everything below `reactor` is touched on the reactor thread only.
    public let reactor: Reactor
    private let databaseLocation: String
    private var store: UpdateStore?
    private var coap: CoAPContext?
    private var resources: [String: CoAPResource] = [:]
    private var discovery: CoAPResource?
    private var current: [String: JSON] = [:]
    private var keys: [String: [UInt8]] = [:]
    private var listener: PostgresConnection?
    private var listenerWatch: Reactor.WatchID?
    private let finished = Mutex<Bool>(false)
    /// Notifications sent, for tests and benchmarks.
    public let notificationsSent = Atomic<Int>(0)

    public static func path(device: String) -> String { "dev/\(device)/deployment" }

    /// Starts the hub's thread and listens on `host:port` for DTLS.
    public init(host: String, port: UInt16, databaseLocation: String) async throws(ServerError) {
        self.databaseLocation = databaseLocation
        reactor = Reactor.startThread()
        let result: Result<Void, ServerError> = await withCheckedContinuation { continuation in
            reactor.execute { [self] in
                continuation.resume(returning: Result { () throws(ServerError) in try self.setUp(host: host, port: port) })
            }
        }
        if case .failure(let error) = result {
            stop()
            throw error
        }
    }

    private func setUp(host: String, port: UInt16) throws(ServerError) {
        do {
            store = try UpdateStore.open(databaseLocation)
        } catch {
            throw ServerError(.internalServerError, "push: \(error.message)")
        }
        do {
            let coap = try CoAPContext(reactor: reactor)
            try coap.listen(host: host, port: port, security: .psk(hint: "nanoedge-update") { [unowned self] identity in
                self.key(identity)
            })
            self.coap = coap
            addDiscovery(coap)
        } catch where error.kind == .addressInUse {
            throw ServerError(.internalServerError, "push: \(error.message). The update server pushes on UDP 5686 by "
                + "default and the site gateway listens on 5684: if a gateway runs on this host, give the push "
                + "another port (--coap HOST:PORT or the `coap` config key), or turn push off (--no-push)")
        } catch {
            throw ServerError(.internalServerError, "push: \(error.message)")
        }
        for device in (try? store?.devices()) ?? [] { addResource(device.id) }
        if databaseLocation.hasPrefix("postgres") { listen() }
    }

    /// Stops the thread; libcoap and the connections are freed on it.
    public func stop() {
        let alreadyStopped = finished.withLock { done in
            defer { done = true }
            return done
        }
        guard !alreadyStopped else { return }
        reactor.execute { [self] in
            if let listenerWatch { reactor.unwatch(listenerWatch) }
            listener = nil
            resources.removeAll()
            discovery = nil
            coap = nil
            store = nil
            reactor.stop()
        }
    }

    deinit { stop() }

    // MARK: Devices

    private func key(_ identity: String) -> [UInt8]? {
        if let known = keys[identity] { return known }
        guard let hex = (try? store?.devicePSK(id: identity)) ?? nil, let key = Hex.decode(hex) else { return nil }
        keys[identity] = key
        return key
    }

    private func addResource(_ device: String) {
        guard resources[device] == nil, let coap else { return }
        let attributes = [("rt", "\"nanoedge.deployment\""), ("ct", "50"), ("obs", "")]
        resources[device] = coap.addResource(Self.path(device: device), methods: [.get], attributes: attributes,
                                             observable: true) { [weak self] request in
            guard let self else { return CoAPResponse(.serviceUnavailable, text: "server stopping") }
            guard request.identity == device else {
                return CoAPResponse(.forbidden, payload: JSON.object(["error": .string("only \(device) may observe its deployment")]).bytes(),
                                    contentFormat: ContentFormat.json)
            }
            let body = self.current[device] ?? self.compute(device)
            self.current[device] = body
            return CoAPResponse(.content, payload: body.bytes(), contentFormat: ContentFormat.json)
        }
    }

    /// Replaces libcoap's own `/.well-known/core`, which lists every resource and so every device id.
    /// A device is shown its own deployment resource only; it needs no more, as it builds the path from its id.
    private func addDiscovery(_ coap: CoAPContext) {
        discovery = coap.addResource(".well-known/core", methods: [.get]) { [weak self] request in
            guard let self else { return CoAPResponse(.serviceUnavailable, text: "server stopping") }
            var links = ""
            if let identity = request.identity, self.resources[identity] != nil || self.key(identity) != nil {
                links = "</\(Self.path(device: identity))>;rt=\"nanoedge.deployment\";ct=50;obs"
            }
            return CoAPResponse(.content, payload: Array(links.utf8), contentFormat: ContentFormat.linkFormat)
        }
    }

    private func compute(_ device: String) -> JSON {
        do {
            return Assignment.json(try store?.assignment(device: device)?.0)
        } catch {
            serverLog.error("push: assignment of \(device): \(error.message)")
            return current[device] ?? Assignment.json(nil)
        }
    }

    /// Recomputes the assignments of `devices` and notifies those that changed.
    private func refresh(_ devices: [String]) {
        for device in devices {
            addResource(device)
            let body = compute(device)
            guard current[device] != body else { continue }
            current[device] = body
            resources[device]?.notifyObservers()
            notificationsSent.add(1, ordering: .relaxed)
        }
    }

    private func handle(_ notice: ChangeNotice) {
        switch notice {
        case .device(let id):
            refresh([id])
        case .deployment(let id):
            let members = ((try? store?.deviceIDs(deployment: id)) ?? nil) ?? []
            refresh(members.filter { resources[$0] != nil })
        }
    }

    /// Called by this replica's service after a change commits.
    public func assignmentsChanged(_ changes: [AssignmentChange]) {
        reactor.execute { [self] in
            for change in changes {
                if change.devices.isEmpty {
                    handle(.deployment(change.deployment))
                } else {
                    refresh(change.devices)
                }
            }
        }
    }

    // MARK: Other replicas

    private func listen() {
        do {
            let connection = try PostgresConnection(url: databaseLocation)
            try connection.execute("LISTEN \(UpdateStore.notifyChannel)")
            listener = connection
            listenerWatch = reactor.watch(fd: connection.socket) { [unowned self] _ in self.drainNotifications() }
        } catch {
            serverLog.warning("push: cannot LISTEN for other replicas' changes (\(error)); retrying in 5 s")
            reactor.schedule(afterMilliseconds: 5000) { [weak self] in self?.listen() }
        }
    }

    private func drainNotifications() {
        guard let listener else { return }
        do {
            for notification in try listener.notifications() {
                if let notice = ChangeNotice(payload: notification.payload) { handle(notice) }
            }
        } catch {
            serverLog.warning("push: \(error); reconnecting")
            if let listenerWatch { reactor.unwatch(listenerWatch) }
            listenerWatch = nil
            self.listener = nil
            reactor.schedule(afterMilliseconds: 1000) { [weak self] in self?.listen() }
            // Whatever changed meanwhile: recompute everything observed.
            reactor.schedule(afterMilliseconds: 1500) { [weak self] in
                guard let self else { return }
                self.refresh(Array(self.resources.keys))
            }
        }
    }
}
