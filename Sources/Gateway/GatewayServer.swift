import CoAP
import CryptoEVP
import GatewayPolicy
import JSON
import Logging
import Reactor
import Site

#if canImport(Glibc)
import Glibc
#endif

/// The site gateway: registers devices over DTLS, records their events exactly once, runs the
/// visit flow and publishes each device's desired state on its observable command resource.
///
/// Everything runs on one reactor thread, which owns the libcoap context and the SQLite handle.
public final class GatewayServer {
    public let options: GatewayOptions
    let reactor: Reactor
    let store: SiteStore
    let coap: CoAPContext
    var flow: VisitFlow
    /// Devices that registered since this gateway started: the ones the scenario can command.
    var online: [String: SiteDevice] = [:]
    /// The roles each device said it runs at its last registration.
    var runningRoles: [String: Set<DeviceRole>] = [:]
    var commands: [String: DeviceCommands] = [:]
    var commandResources: [String: CoAPResource] = [:]
    /// The shared resources' links for `/.well-known/core`; a device's command resource is added per asker.
    var sharedLinks: [String] = []
    var discovery: CoAPResource?
    var nextScanID: Int64 = 1
    var flowTimer: Reactor.TimerID?
    let boot: String
    var guard_: PolicyGuard
    let metrics: GatewayMetrics
    let logger = Logger(label: "gateway")
    var remoteConfigs: [DeviceRole: SignedRemoteConfig] = [:]
    var lastDataVersion: Int64 = 0

    public init(options: GatewayOptions) throws {
        self.options = options
        reactor = Reactor()
        store = try SiteStore(path: options.databasePath)
        coap = try CoAPContext(reactor: reactor)
        coap.maxRequestBodyBytes = options.maxRequestBodyBytes
        boot = Hex.encode(secureRandomBytes(6))
        guard_ = PolicyGuard(policy: options.policy, now: Reactor.now())
        metrics = GatewayMetrics(factory: options.metrics)
        flow = VisitFlow(config: options.flow, nextVisitID: try store.lastVisitID() + 1)
        try closeVisitsLeftOpen()
        let store = self.store
        // Set here rather than left to defaults, because they decide whether a Pi can get back in during
        // a ClientHello flood (docs/security.md, Handshake floods). libcoap may hold 64 handshakes. 16 of
        // them are kept for addresses that completed one before. One address may have 4 open at once and
        // may start 8, then 2 a second. Only a hello that returned the gateway's cookie counts.
        coap.handshakeLimits = HandshakeLimits(
            maxHandshakes: 64, reservedForKnownAddresses: 16, perAddressInFlight: 4,
            perAddress: .init(burst: 8, perSecond: 2, capacity: 1024))
        // Keys are looked up per handshake, so a device provisioned while the gateway runs connects at once.
        try Self.listen(coap, options: options, store: store)
        if let plainPort = options.plainPort {
            try coap.listen(host: options.host, port: plainPort, security: .plain)
        }
        addResources()
        loadRemoteConfigs()
        scheduleConfigPoll()
    }

    /// The DTLS endpoint; a port already taken is named with its holder and the likely clash.
    private static func listen(_ coap: CoAPContext, options: GatewayOptions, store: SiteStore) throws(CoAPError) {
        do {
            try coap.listen(host: options.host, port: options.port, security: .psk(hint: "nanoedge") { identity in
                (try? store.deviceKey(identity: identity)) ?? nil
            })
        } catch {
            guard error.kind == .addressInUse else { throw error }
            // The update server's push is the other CoAP/DTLS service a site host may run.
            throw CoAPError(.addressInUse, "gateway: \(error.message). The gateway's default is UDP 5684 and the "
                + "update server's push 5686: if the update server runs here with --coap on this port, move it "
                + "(or its `coap` config key) back to 5686; else pass --listen HOST:PORT with a free port")
        }
    }

    /// Serves until SIGINT or SIGTERM.
    public func run() throws {
        reactor.onTerminationSignal { [reactor] _ in reactor.stop() }
        let plain = options.plainPort.map { " and coap://\(options.host):\($0) (plain, lab only)" } ?? ""
        logger.notice("listening on coaps://\(options.host):\(options.port)\(plain)")
        reactor.run()
        logger.notice("stopped")
    }

    /// Runs on a thread of its own, for tests in one process.
    public func runOnLoop() { withExtendedLifetime(self) { reactor.run() } }
    public func stop() { reactor.stop() }
    /// Runs `work` on the gateway's loop thread, where its state may be read.
    public func execute(_ work: @escaping @Sendable () -> Void) { reactor.execute(work) }

    // MARK: Resources

    private func addResources() {
        route(SitePaths.register, [.post], rt: "nanoedge.register") { try $0.register($1) }
        route(SitePaths.events, [.post], rt: "nanoedge.events") { try $0.receiveEvent($1) }
        route(SitePaths.content, [.get], rt: "nanoedge.content") { try $0.content($1) }
        route(SitePaths.visits, [.get], rt: "nanoedge.visits") { try $0.visitLog($1) }
        route(SitePaths.devices, [.get], rt: "nanoedge.devices") { try $0.deviceList($1) }
        for (path, handler) in RegistryResources(store: store).handlers {
            route(path, [.get, .post, .put, .delete], rt: "nanoedge.registry") { gateway, request in
                if request.method != .get { try gateway.requireAdmin(request) }
                // Reads are scoped by the reader's provisioned roles; a request without an identity has none.
                let reader = try request.identity.flatMap { try gateway.store.device(id: $0) }
                return try handler(request, reader)
            }
        }
        addDiscovery()
    }

    /// Replaces libcoap's own `/.well-known/core`, which lists every registered device's command
    /// resource and so every device id. A device sees the shared resources and its own commands.
    private func addDiscovery() {
        discovery = coap.addResource(".well-known/core", methods: [.get]) { [weak self] request in
            guard let self else { return CoAPResponse(.serviceUnavailable, text: "gateway stopping") }
            var links = self.sharedLinks
            if let identity = request.identity, self.commandResources[identity] != nil {
                links.append(Self.link(SitePaths.commands(device: identity), rt: "nanoedge.commands", observable: true))
            }
            return CoAPResponse(.content, payload: Array(links.joined(separator: ",").utf8),
                                contentFormat: ContentFormat.linkFormat)
        }
    }

    static func link(_ path: String, rt: String, observable: Bool) -> String {
        "</\(path)>;rt=\"\(rt)\";ct=50" + (observable ? ";obs" : "")
    }

    /// Adds a resource whose handler reaches the gateway weakly: libcoap may outlive it by a moment.
    @discardableResult
    private func route(_ path: String, _ methods: [CoAPMethod], rt: String, observable: Bool = false,
                       _ handler: @escaping (GatewayServer, CoAPRequest) throws -> CoAPResponse) -> CoAPResource {
        var attributes = [("rt", "\"\(rt)\""), ("ct", "50")]
        if observable { attributes.append(("obs", "")) }
        if !path.hasPrefix("dev/") { sharedLinks.append(Self.link(path, rt: rt, observable: observable)) }
        return coap.addResource(path, methods: methods, attributes: attributes, observable: observable) { [weak self] request in
            guard let self else { return CoAPResponse(.serviceUnavailable, text: "gateway stopping") }
            let response = self.policed(request) { self.guarded($0) { try handler(self, $0) } }
            self.metrics.request(path: request.path, code: response.code.description)
            return response
        }
    }

    /// Turns errors into CoAP answers with a readable message; a handler never takes the gateway down.
    private func guarded(_ request: CoAPRequest,
                         _ handler: (CoAPRequest) throws -> CoAPResponse) -> CoAPResponse {
        let failure: GatewayError
        do {
            return try handler(request)
        } catch let error as GatewayError {
            failure = error
        } catch let error as SiteStoreError {
            failure = GatewayError(store: error)
        } catch let error as JSONError {
            failure = GatewayError(.badRequest, error.description)
        } catch {
            failure = GatewayError(.internalServerError, "\(error)")
        }
        if failure.code.codeClass == 5 { logger.error("\(request.method) /\(request.path): \(failure.message)") }
        return CoAPResponse(failure.code, payload: JSON.object(["error": .string(failure.message)]).bytes(),
                            contentFormat: ContentFormat.json)
    }

    func requireDevice(_ request: CoAPRequest) throws -> DeviceRecord {
        guard let identity = request.identity else {
            throw GatewayError(.unauthorized, "this resource needs a DTLS identity (plain CoAP is for reading only)")
        }
        guard let device = try store.device(id: identity) else {
            throw GatewayError(.forbidden, "identity '\(identity)' is not a provisioned device")
        }
        return device
    }

    private func requireAdmin(_ request: CoAPRequest) throws {
        let device = try requireDevice(request)
        guard device.roles.contains("admin") else {
            throw GatewayError(.forbidden, "changing the registry needs an identity with the admin role")
        }
    }

    /// The device as the scenario sees it: the roles it both holds and runs, at its provisioned location.
    /// A device registered as presence alone gets no scan requests, even if it may scan.
    static func siteDevice(_ device: DeviceRecord, running: Set<DeviceRole>) -> SiteDevice {
        SiteDevice(id: device.id, location: device.location,
                   roles: Set(device.roles.compactMap(DeviceRole.init)).intersection(running))
    }

    private func register(_ request: CoAPRequest) throws -> CoAPResponse {
        let device = try requireDevice(request)
        let registration = try decode(request) { json throws(JSONError) in try Registration(json: json) }
        // A registration reports roles and location; it never sets them.
        if let refusal = RoleScope.registrationRefusal(device: device.id, roles: registration.roles.map(\.rawValue),
                                                       location: registration.location,
                                                       provisionedRoles: device.roles,
                                                       provisionedLocation: device.location) {
            metrics.refused("identity")
            logger.warning("registration refused: \(TerminalText.safe(refusal))")
            throw GatewayError(.forbidden, refusal)
        }
        let now = Reactor.wallClock()
        try store.recordRegistration(id: device.id, board: registration.board, version: registration.version, at: now)
        let isNew = online[device.id] == nil
        let running = Set(registration.roles)
        runningRoles[device.id] = running
        let site = Self.siteDevice(device, running: running)
        online[device.id] = site
        commands[device.id, default: DeviceCommands()].configs = configs(for: site.roles)
        if let buffered = registration.buffered { metrics.eventBuffer(device: device.id, depth: buffered) }
        let path = SitePaths.commands(device: device.id)
        if commandResources[device.id] == nil {
            let id = device.id
            commandResources[id] = route(path, [.get], rt: "nanoedge.commands", observable: true) { gateway, request in
                guard request.identity == id else { throw GatewayError(.forbidden, "only \(id) may read its commands") }
                let state = gateway.commands[id] ?? DeviceCommands()
                return CoAPResponse(.content, payload: state.json.bytes(), contentFormat: ContentFormat.json)
            }
        }
        if isNew {
            let roles = site.roles.map(\.rawValue).sorted().joined(separator: "+")
            logger.info("\(device.id) registered at \(device.location) as \(roles) \(TerminalText.safe("(\(registration.board), \(registration.version))"))")
        }
        let ack = RegistrationAck(device: device.id, commands: path,
                                  lastSeq: try store.lastSeq(device: device.id, epoch: registration.epoch),
                                  gatewayBoot: boot, gatewayTime: Reactor.wallClock())
        return CoAPResponse(.changed, payload: ack.json.bytes(), contentFormat: ContentFormat.json)
    }

    private func receiveEvent(_ request: CoAPRequest) throws -> CoAPResponse {
        let device = try requireDevice(request)
        let event = try decode(request) { json throws(JSONError) in try DeviceEvent(wire: json) }
        if let refusal = RoleScope.eventRefusal(device: device.id, kind: event.kind.rawValue, provisioned: device.roles) {
            metrics.refused("role")
            logger.warning("event refused: \(refusal)")
            throw GatewayError(.forbidden, refusal)
        }
        // Re-provisioning takes effect at the next event, not only at the next registration.
        if online[device.id] != nil, let running = runningRoles[device.id] {
            online[device.id] = Self.siteDevice(device, running: running)
        }
        let input: VisitInput?
        do {
            input = try event.visitInput(device: device.id)
        } catch {
            throw GatewayError(.badRequest, "\(event.kind) event: \(error.message)")
        }
        let last = try store.lastSeq(device: device.id, epoch: event.epoch)
        // `last < seq` first, so `last + 1` cannot overflow even on a row stored before seq was bounded.
        if let last, last < event.seq, event.seq != last + 1 {
            // The agent sends in order; a gap means an event would be counted out of order.
            throw GatewayError(.conflict, "expected seq \(last + 1) for epoch \(event.epoch), got \(event.seq)")
        }
        let now = Reactor.wallClock()
        let record = DeviceEventRecord(device: device.id, epoch: event.epoch, seq: event.seq, kind: event.kind.rawValue,
                                       at: event.at, body: event.json.serialized(), receivedAt: now)
        let isNew = try store.appendDeviceEvent(record)
        try? store.touch(id: device.id, at: now)
        if isNew { metrics.deviceEvent(kind: event.kind.rawValue) }
        if isNew, event.kind == .config { recordConfigReport(device: device.id, event: event, at: now) }
        // Replayed events are recorded, but only fresh ones move visits: a visitor seen ten minutes ago
        // during an outage is gone by now.
        let (age, overflow) = now.subtractingReportingOverflow(event.at)
        let isFresh = !overflow && age <= options.liveEventWindowMilliseconds
        if isNew, isFresh, let input, online[device.id] != nil {
            apply(flow.handle(input, devices: Array(online.values), directory: StoreDirectory(store: store), now: now))
        }
        let ack: JSON = ["ack": .int(event.seq), "duplicate": .bool(!isNew)]
        return CoAPResponse(isNew ? .created : .changed, payload: ack.bytes(), contentFormat: ContentFormat.json)
    }

    private func content(_ request: CoAPRequest) throws -> CoAPResponse {
        let device = try requireDevice(request)
        guard let id = request.queryValue("meeting") else {
            throw GatewayError(.badRequest, "missing query parameter 'meeting'")
        }
        guard let meeting = try store.meeting(id: id) else {
            throw GatewayError(.notFound, "no meeting '\(id)'")
        }
        // Checked here too, so a looser access rule cannot widen it.
        guard RoleScope.mayReadContent(roles: device.roles, location: device.location, meetingRoom: meeting.room) else {
            throw GatewayError(.forbidden, "\(device.id) may not read the content of meeting '\(id)': "
                + "it is for the display in \(meeting.room) (and admins)")
        }
        let body: JSON = ["meeting": .string(meeting.id), "title": .string(meeting.title),
                          "room": .string(meeting.room), "content": .string(meeting.content)]
        return CoAPResponse(.content, payload: body.bytes(), contentFormat: ContentFormat.json)
    }

    private func visitLog(_ request: CoAPRequest) throws -> CoAPResponse {
        let after = request.queryValue("after").flatMap { Int64($0) } ?? 0
        let entries = try store.visitLog(after: after).suffix(200)
        let body = JSON.array(entries.map { item in
            ["id": .int(item.id), "visit": .int(item.entry.visit), "status": .string(item.entry.status.description),
             "at": .int(item.entry.at), "detail": .string(item.entry.detail)]
        })
        return CoAPResponse(.content, payload: body.bytes(), contentFormat: ContentFormat.json)
    }

    private func deviceList(_ request: CoAPRequest) throws -> CoAPResponse {
        let body = JSON.array(try store.devices().map { device in
            ["id": .string(device.id), "roles": .array(device.roles.map { .string($0) }),
             "location": .string(device.location), "board": .string(device.board),
             "version": .string(device.version), "online": .bool(online[device.id] != nil),
             "last_seen": device.lastSeen.map { .int($0) } ?? .null]
        })
        return CoAPResponse(.content, payload: body.bytes(), contentFormat: ContentFormat.json)
    }

    // MARK: The visit flow's actions

    func apply(_ actions: [VisitAction]) {
        let now = Reactor.wallClock()
        var changed: Set<String> = []
        for action in actions {
            do throws(SiteStoreError) {
                switch action {
                case .open(let visit, let device):
                    try store.createVisit(id: visit, device: device, at: now)
                case .log(let visit, let status, let detail):
                    try store.appendVisitLog(VisitLogEntry(visit: visit, status: status, at: now, detail: detail))
                    metrics.visitStatus(status.description)
                    if options.printVisitLog {
                        emit("\(Timestamp.iso8601(now))  visit \(visit)  \(status)\(detail.isEmpty ? "" : "  \(detail)")")
                    }
                case .identify(let visit, let person, let meeting, let room):
                    try store.updateVisit(id: visit, person: person, meeting: meeting, room: room)
                case .close(let visit):
                    try store.closeVisit(id: visit, at: now)
                case .scan(let device, let visit, let window):
                    commands[device, default: DeviceCommands()].scan =
                        DeviceCommands.Scan(id: nextScanID, visit: visit, windowMilliseconds: window)
                    nextScanID += 1
                    changed.insert(device)
                case .guide(let device, let visit, let pattern):
                    commands[device, default: DeviceCommands()].guidance = DeviceCommands.Guidance(visit: visit, pattern: pattern)
                    changed.insert(device)
                case .stopGuidance(let device, let visit):
                    if commands[device]?.guidance?.visit == visit {
                        commands[device]?.guidance = nil
                        changed.insert(device)
                    }
                case .present(let device, let visit, let meeting):
                    let title = (try store.meeting(id: meeting))?.title ?? meeting
                    commands[device, default: DeviceCommands()].display =
                        DeviceCommands.Display(visit: visit, meeting: meeting, title: title)
                    changed.insert(device)
                }
            } catch {
                logger.error("could not record \(action): \(error)")
            }
        }
        for device in changed.sorted() {
            commands[device]?.revision += 1
            commandResources[device]?.notifyObservers()
        }
        scheduleFlowTimer()
    }

    private func scheduleFlowTimer() {
        if let flowTimer { reactor.cancel(flowTimer) }
        flowTimer = nil
        guard let deadline = flow.nextDeadline else { return }
        flowTimer = reactor.schedule(afterMilliseconds: max(0, deadline - Reactor.wallClock())) { [weak self] in
            guard let self else { return }
            self.flowTimer = nil
            self.apply(self.flow.tick(now: Reactor.wallClock()))
        }
    }

    /// Visits a previous run left open cannot go on: the devices' state is gone with that run.
    private func closeVisitsLeftOpen() throws {
        let now = Reactor.wallClock()
        for visit in try store.openVisits() {
            let reached = visit.statuses.filter(\.reached).map(\.stage).max() ?? .initial
            let next = VisitStage.allCases.first { $0 > reached } ?? .presented
            try store.appendVisitLog(VisitLogEntry(visit: visit.id, status: .not(next), at: now,
                                                   detail: "gateway restarted"))
            try store.closeVisit(id: visit.id, at: now)
        }
    }

    private func decode<T>(_ request: CoAPRequest, _ build: (JSON) throws(JSONError) -> T) throws(GatewayError) -> T {
        if let format = request.contentFormat, format != ContentFormat.json {
            throw GatewayError(.unsupportedContentFormat, "send application/json (content-format 50)")
        }
        do {
            return try build(try JSON.parse(request.payload, limits: JSONLimits(maxBytes: options.maxRequestBodyBytes)))
        } catch {
            throw GatewayError(.badRequest, error.description)
        }
    }

    /// Writes a line to standard output at once (stdout is block-buffered when piped).
    func emit(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    }

}

/// A failed request: the CoAP code to answer with and a message for the sender.
struct GatewayError: Error {
    var code: CoAPCode
    var message: String
    init(_ code: CoAPCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension GatewayError {
    /// Registry mistakes are the sender's (4.xx); anything else is the gateway's (5.00).
    init(store error: SiteStoreError) {
        if error.isConflict {
            self.init(.conflict, error.description)
        } else if error.missingID != nil {
            self.init(.notFound, error.description)
        } else if error.sqliteError == nil {
            self.init(.badRequest, error.description)
        } else {
            self.init(.internalServerError, "site store: \(error)")
        }
    }
}

/// The registry as the visit flow sees it.
struct StoreDirectory: SiteDirectory {
    let store: SiteStore
    func room(id: String) -> Room? { (try? store.room(id: id)) ?? nil }
    func person(forTag tag: String) -> Person? { (try? store.person(forTag: tag)) ?? nil }
    func currentMeetings(for person: String, at now: Int64) -> [Meeting] {
        (try? store.currentMeetings(for: person, at: now)) ?? []
    }
}
