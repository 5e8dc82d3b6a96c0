/// What a device can do at a site. A Pi may have several roles.
public enum DeviceRole: String, Sendable, CaseIterable {
    case presence, scanner, guidance, display
}

/// A registered device as the scenario sees it: its id (the DTLS identity), where it is, what it does.
public struct SiteDevice: Sendable, Equatable {
    public var id: String
    /// A room id from the registry: the entrance, a corridor or a meeting room.
    public var location: String
    public var roles: Set<DeviceRole>
    public init(id: String, location: String, roles: Set<DeviceRole>) {
        self.id = id
        self.location = location
        self.roles = roles
    }
}

/// Registry look-ups the scenario needs.
public protocol SiteDirectory {
    func room(id: String) -> Room?
    func person(forTag tag: String) -> Person?
    func currentMeetings(for person: String, at now: Int64) -> [Meeting]
}

/// A BLE tag seen during a scan (the id is the keyed hash of its address).
public struct SeenTag: Sendable, Equatable {
    public var id: String
    public var rssi: Int
    public init(id: String, rssi: Int) {
        self.id = id
        self.rssi = rssi
    }
}

public enum VisitInput: Sendable, Equatable {
    case motion(device: String)
    case scanResult(device: String, visit: Int64?, tags: [SeenTag])
    case guidanceStarted(device: String, visit: Int64)
    case presented(device: String, visit: Int64, meeting: String)
}

/// What the gateway must do; the flow itself performs no I/O.
public enum VisitAction: Sendable, Equatable {
    case open(visit: Int64, device: String)
    case log(visit: Int64, status: VisitStatus, detail: String)
    case identify(visit: Int64, person: String, meeting: String, room: String)
    case close(visit: Int64)
    case scan(device: String, visit: Int64, windowMilliseconds: Int)
    case guide(device: String, visit: Int64, pattern: String)
    case stopGuidance(device: String, visit: Int64)
    case present(device: String, visit: Int64, meeting: String)
}

/// The nanoEdge scenario: INIT → DETECTED → SCANNED → AUTHENTICATED → GUIDED → PRESENTED, or `NOT …`.
///
/// A state machine with an injected clock: every call takes `now` (epoch ms) and returns actions.
public struct VisitFlow: Sendable {
    public struct Config: Sendable {
        public var scanWindowMilliseconds = 3000
        /// How long past the window a scan result may take before the scan counts as failed.
        public var scanGraceMilliseconds = 5000
        /// How long the corridor has to confirm that guidance is running.
        public var guidanceStartMilliseconds = 10_000
        /// How long a guided visitor has to reach the room.
        public var arrivalMilliseconds = 10 * 60 * 1000
        /// Chase step for the corridor LEDs.
        public var chaseStepMilliseconds = 150
        public init() {}
    }

    public struct Visit: Sendable, Equatable {
        public var id: Int64
        public var entrance: String
        public var stage: VisitStage
        public var tag: String?
        public var person: String?
        public var meeting: String?
        public var room: String?
        public var guides: [String] = []
        public var deadline: Int64?
        public var arrivalScanPending = false
    }

    public var config: Config
    public private(set) var visits: [Int64: Visit] = [:]
    private var nextVisitID: Int64

    public init(config: Config = Config(), nextVisitID: Int64 = 1) {
        self.config = config
        self.nextVisitID = nextVisitID
    }

    /// The earliest time `tick` has work to do.
    public var nextDeadline: Int64? { visits.values.compactMap(\.deadline).min() }

    public mutating func handle(_ input: VisitInput, devices: [SiteDevice], directory: SiteDirectory,
                                now: Int64) -> [VisitAction] {
        let byID = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        switch input {
        case .motion(let deviceID):
            guard let device = byID[deviceID], let room = directory.room(id: device.location) else { return [] }
            switch room.kind {
            case .entrance: return motionAtEntrance(device, devices: devices, now: now)
            case .meeting: return motionInRoom(room.id, devices: devices, now: now)
            case .corridor: return []
            }
        case .scanResult(let deviceID, let visitID, let tags):
            guard let device = byID[deviceID], let room = directory.room(id: device.location) else { return [] }
            if room.kind == .entrance, let visitID, let visit = visits[visitID], visit.stage == .detected {
                return authenticate(visit, tags: tags, devices: devices, directory: directory, now: now)
            }
            if room.kind == .meeting { return arrival(in: room.id, tags: tags, devices: devices, now: now) }
            return []
        case .guidanceStarted(_, let visitID):
            guard var visit = visits[visitID], visit.stage == .authenticated else { return [] }
            visit.stage = .guided
            visit.deadline = now + Int64(config.arrivalMilliseconds)
            visits[visitID] = visit
            return [.log(visit: visitID, status: VisitStatus(.guided), detail: "towards \(visit.room ?? "?")")]
        case .presented(_, let visitID, let meeting):
            guard let visit = visits[visitID], visit.stage == .guided, visit.meeting == meeting else { return [] }
            visits[visitID] = nil
            return [.log(visit: visitID, status: VisitStatus(.presented), detail: meeting), .close(visit: visitID)]
        }
    }

    /// Fails visits whose deadline passed.
    public mutating func tick(now: Int64) -> [VisitAction] {
        var actions: [VisitAction] = []
        for visit in visits.values.sorted(by: { $0.id < $1.id }) {
            guard let deadline = visit.deadline, deadline <= now else { continue }
            let failed: VisitStage
            let detail: String
            switch visit.stage {
            case .detected:
                failed = .scanned
                detail = "no scan result from \(visit.entrance)"
            case .authenticated:
                failed = .guided
                detail = "no corridor confirmed guidance"
            default:
                failed = .presented
                detail = "visitor did not reach \(visit.room ?? "the room")"
            }
            actions += fail(visit, .not(failed), detail: detail)
        }
        return actions
    }

    // MARK: Steps

    private mutating func motionAtEntrance(_ device: SiteDevice, devices: [SiteDevice], now: Int64) -> [VisitAction] {
        // Motion while the entrance is still scanning belongs to the same visitor.
        if visits.values.contains(where: { $0.entrance == device.id && $0.stage == .detected }) { return [] }
        let id = nextVisitID
        nextVisitID += 1
        var visit = Visit(id: id, entrance: device.id, stage: .detected)
        var actions: [VisitAction] = [
            .open(visit: id, device: device.id),
            .log(visit: id, status: VisitStatus(.initial), detail: ""),
            .log(visit: id, status: VisitStatus(.detected), detail: device.id),
        ]
        guard let scanner = device.roles.contains(.scanner)
            ? device
            : devices.first(where: { $0.location == device.location && $0.roles.contains(.scanner) }) else {
            actions += [.log(visit: id, status: .not(.scanned), detail: "no scanner at \(device.location)"),
                        .close(visit: id)]
            return actions
        }
        visit.deadline = now + Int64(config.scanWindowMilliseconds + config.scanGraceMilliseconds)
        visits[id] = visit
        actions.append(.scan(device: scanner.id, visit: id, windowMilliseconds: config.scanWindowMilliseconds))
        return actions
    }

    private mutating func authenticate(_ visit: Visit, tags: [SeenTag], devices: [SiteDevice],
                                       directory: SiteDirectory, now: Int64) -> [VisitAction] {
        var visit = visit
        var actions: [VisitAction] = [.log(visit: visit.id, status: VisitStatus(.scanned),
                                           detail: "\(tags.count) tag\(tags.count == 1 ? "" : "s")")]
        visit.stage = .scanned
        guard !tags.isEmpty else {
            return actions + fail(visit, .not(.authenticated), detail: "no tag in range")
        }
        // The strongest signal that belongs to an invited person wins.
        var unknown = 0
        for tag in tags.sorted(by: { $0.rssi > $1.rssi }) {
            guard let person = directory.person(forTag: tag.id) else {
                unknown += 1
                continue
            }
            guard let meeting = directory.currentMeetings(for: person.id, at: now).first else { continue }
            visit.stage = .authenticated
            visit.tag = tag.id
            visit.person = person.id
            visit.meeting = meeting.id
            visit.room = meeting.room
            actions += [.identify(visit: visit.id, person: person.id, meeting: meeting.id, room: meeting.room),
                        .log(visit: visit.id, status: VisitStatus(.authenticated),
                             detail: "\(person.name) for \(meeting.title)")]
            let direction = directory.room(id: meeting.room)?.guidance ?? .forward
            let guides = devices.filter { device in
                device.roles.contains(.guidance) && directory.room(id: device.location)?.kind == .corridor
            }
            guard !guides.isEmpty else {
                return actions + fail(visit, .not(.guided), detail: "no corridor device is registered")
            }
            visit.guides = guides.map(\.id)
            visit.deadline = now + Int64(config.guidanceStartMilliseconds)
            visits[visit.id] = visit
            let pattern = "chase:\(config.chaseStepMilliseconds):\(direction.rawValue)"
            return actions + guides.map { .guide(device: $0.id, visit: visit.id, pattern: pattern) }
        }
        let detail = unknown == tags.count ? "unknown tag" : "no meeting today for the tags seen"
        return actions + fail(visit, .not(.authenticated), detail: detail)
    }

    private mutating func motionInRoom(_ room: String, devices: [SiteDevice], now: Int64) -> [VisitAction] {
        let waiting = visits.values.filter { $0.stage == .guided && $0.room == room && !$0.arrivalScanPending }
            .sorted { $0.id < $1.id }
        guard let first = waiting.first,
              let scanner = devices.first(where: { $0.location == room && $0.roles.contains(.scanner) }) else {
            return []
        }
        for visit in waiting { visits[visit.id]?.arrivalScanPending = true }
        return [.scan(device: scanner.id, visit: first.id, windowMilliseconds: config.scanWindowMilliseconds)]
    }

    private mutating func arrival(in room: String, tags: [SeenTag], devices: [SiteDevice], now: Int64) -> [VisitAction] {
        var actions: [VisitAction] = []
        let seen = Set(tags.map(\.id))
        for visit in visits.values.sorted(by: { $0.id < $1.id }) where visit.stage == .guided && visit.room == room {
            visits[visit.id]?.arrivalScanPending = false
            guard let tag = visit.tag, seen.contains(tag), let meeting = visit.meeting else { continue }
            actions += visit.guides.map { .stopGuidance(device: $0, visit: visit.id) }
            if let display = devices.first(where: { $0.location == room && $0.roles.contains(.display) }) {
                actions.append(.present(device: display.id, visit: visit.id, meeting: meeting))
            } else {
                actions += fail(visit, .not(.presented), detail: "no display in \(room)", stopGuides: false)
            }
        }
        return actions
    }

    private mutating func fail(_ visit: Visit, _ status: VisitStatus, detail: String,
                               stopGuides: Bool = true) -> [VisitAction] {
        visits[visit.id] = nil
        let stops: [VisitAction] = stopGuides ? visit.guides.map { .stopGuidance(device: $0, visit: visit.id) } : []
        return stops + [.log(visit: visit.id, status: status, detail: detail), .close(visit: visit.id)]
    }
}
