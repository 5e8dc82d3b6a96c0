import JSON

/// Resource paths between agent and gateway.
public enum SitePaths {
    public static let register = "register"
    public static let events = "events"
    public static let content = "content"
    public static let visits = "visits"
    public static let devices = "devices"
    public static let persons = "registry/persons"
    public static let tags = "registry/tags"
    public static let rooms = "registry/rooms"
    public static let meetings = "registry/events"
    /// The observable command resource of one device.
    public static func commands(device: String) -> String { "dev/\(device)/cmd" }
}

/// Sent by an agent when it (re)connects. The DTLS identity says which device it is.
public struct Registration: Sendable, Equatable {
    public var roles: [DeviceRole]
    public var location: String
    public var board: String
    public var version: String
    /// The id of the agent's event log; sequence numbers restart only with a new epoch.
    public var epoch: String
    /// Events waiting in the agent's offline log, for the gateway's metrics.
    public var buffered: Int?

    public init(roles: [DeviceRole], location: String, board: String, version: String, epoch: String,
                buffered: Int? = nil) {
        self.roles = roles
        self.location = location
        self.board = board
        self.version = version
        self.epoch = epoch
        self.buffered = buffered
    }

    public var json: JSON {
        var object: [String: JSON] = [
            "roles": .array(roles.map { .string($0.rawValue) }), "location": .string(location),
            "board": .string(board), "version": .string(version), "epoch": .string(epoch),
        ]
        if let buffered { object["buffered"] = .int(Int64(buffered)) }
        return .object(object)
    }

    public init(json: JSON) throws(JSONError) {
        var roles: [DeviceRole] = []
        for item in try json.requiredArray("roles") {
            guard let text = item.stringValue, let role = DeviceRole(rawValue: text) else {
                throw JSONError("field 'roles' holds an unknown role \(item); known: presence, scanner, guidance, display")
            }
            roles.append(role)
        }
        self.init(roles: roles, location: try json.requiredString("location"),
                  board: try json.optionalString("board") ?? "unknown",
                  version: try json.optionalString("version") ?? "unknown",
                  epoch: try json.requiredString("epoch"),
                  buffered: try json.optionalInt("buffered").map { Int(clamping: $0) })
    }
}

/// The gateway's answer to a registration.
public struct RegistrationAck: Sendable, Equatable {
    public var device: String
    public var commands: String
    /// The highest sequence number recorded for the agent's epoch: events up to it are already counted.
    public var lastSeq: Int64?
    /// Changes whenever the gateway restarts, so agents know to observe again.
    public var gatewayBoot: String
    /// The gateway's wall clock in Unix epoch milliseconds, over the authenticated channel: the time a
    /// Pi without an RTC or NTP checks TUF expiry against (docs/tuf.md). Absent from older gateways.
    public var gatewayTime: Int64?

    public init(device: String, commands: String, lastSeq: Int64?, gatewayBoot: String, gatewayTime: Int64? = nil) {
        self.device = device
        self.commands = commands
        self.lastSeq = lastSeq
        self.gatewayBoot = gatewayBoot
        self.gatewayTime = gatewayTime
    }

    public var json: JSON {
        var object: [String: JSON] = ["device": .string(device), "commands": .string(commands),
                                      "last_seq": lastSeq.map { .int($0) } ?? .null,
                                      "gateway_boot": .string(gatewayBoot)]
        if let gatewayTime { object["time_ms"] = .int(gatewayTime) }
        return .object(object)
    }

    public init(json: JSON) throws(JSONError) {
        let time = try json.optionalInt("time_ms")
        if let time, time < 0 { throw JSONError("field 'time_ms' is \(time); it must be Unix epoch milliseconds") }
        self.init(device: try json.requiredString("device"), commands: try json.requiredString("commands"),
                  lastSeq: try json.optionalInt("last_seq"), gatewayBoot: try json.requiredString("gateway_boot"),
                  gatewayTime: time)
    }
}

/// Something a device observed or did, as stored in its offline log and posted to the gateway.
public struct DeviceEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case motion, scan, guidance, presented, hidden, fault, config
    }

    public var epoch: String
    public var seq: Int64
    /// The highest `seq` taken: exact in any JSON reader, and far enough from Int64.max that `seq + 1`
    /// never traps.
    public static let maxSeq: Int64 = 1 << 53
    public var kind: Kind
    /// Unix epoch milliseconds at the device.
    public var at: Int64
    /// Kind-specific fields (see docs/protocol.md).
    public var fields: [String: JSON]

    public init(epoch: String, seq: Int64, kind: Kind, at: Int64, fields: [String: JSON] = [:]) {
        self.epoch = epoch
        self.seq = seq
        self.kind = kind
        self.at = at
        self.fields = fields
    }

    public var json: JSON {
        var object = fields
        object["epoch"] = .string(epoch)
        object["seq"] = .int(seq)
        object["kind"] = .string(kind.rawValue)
        object["at"] = .int(at)
        return .object(object)
    }

    public init(json: JSON) throws(JSONError) {
        guard var object = json.objectValue else { throw JSONError("expected a JSON object") }
        let kindText = try json.requiredString("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw JSONError("field 'kind' is '\(kindText)'; known kinds: motion, scan, guidance, presented, hidden, fault, config")
        }
        let seq = try json.requiredInt("seq")
        guard seq > 0, seq <= Self.maxSeq else {
            throw JSONError("field 'seq' is \(seq); it must be 1 or more and at most \(Self.maxSeq)")
        }
        self.init(epoch: try json.requiredString("epoch"), seq: seq, kind: kind, at: try json.requiredInt("at"))
        for key in ["epoch", "seq", "kind", "at"] { object[key] = nil }
        fields = object
    }

    /// An event as the gateway takes it from the wire: `at` within `Timestamp.accepted`. The agent's
    /// own log does not ask this, so a Pi whose clock is wrong still records, and the gateway says why it refuses.
    public init(wire json: JSON) throws(JSONError) {
        try self.init(json: json)
        _ = try Timestamp.checked(at, field: "at")
    }

    /// The scenario input this event carries, after checking its kind-specific fields.
    public func visitInput(device: String) throws(JSONError) -> VisitInput? {
        let body = JSON.object(fields)
        switch kind {
        case .motion:
            return try body.optionalString("state") == "end" ? nil : .motion(device: device)
        case .scan:
            var tags: [SeenTag] = []
            for item in try body.requiredArray("tags") {
                let rssi = try item.requiredInt("rssi")
                // dBm; bounded so sorting and averaging stay plain arithmetic.
                guard (-200...100).contains(rssi) else {
                    throw JSONError("field 'rssi' is \(rssi); it must be dBm from -200 to 100")
                }
                tags.append(SeenTag(id: try item.requiredString("id"), rssi: Int(rssi)))
            }
            return .scanResult(device: device, visit: try body.optionalInt("visit"), tags: tags)
        case .guidance:
            guard try body.requiredBool("active"), let visit = try body.optionalInt("visit") else { return nil }
            return .guidanceStarted(device: device, visit: visit)
        case .presented:
            return .presented(device: device, visit: try body.requiredInt("visit"),
                              meeting: try body.requiredString("meeting"))
        case .hidden, .fault, .config:
            return nil
        }
    }
}

/// A device's desired state, published on its observable command resource.
///
/// Desired state rather than a queue of commands: a lost or coalesced notification cannot lose
/// anything, because the latest representation says everything the device should be doing.
public struct DeviceCommands: Sendable, Equatable {
    public struct Scan: Sendable, Equatable {
        public var id: Int64
        public var visit: Int64
        public var windowMilliseconds: Int
        public init(id: Int64, visit: Int64, windowMilliseconds: Int) {
            self.id = id
            self.visit = visit
            self.windowMilliseconds = windowMilliseconds
        }
    }

    public struct Guidance: Sendable, Equatable {
        public var visit: Int64
        public var pattern: String
        public init(visit: Int64, pattern: String) {
            self.visit = visit
            self.pattern = pattern
        }
    }

    public struct Display: Sendable, Equatable {
        public var visit: Int64
        public var meeting: String
        public var title: String
        public init(visit: Int64, meeting: String, title: String) {
            self.visit = visit
            self.meeting = meeting
            self.title = title
        }
    }

    public var revision: Int64
    public var scan: Scan?
    public var guidance: Guidance?
    public var display: Display?
    /// The latest signed config of each of the device's roles that has one.
    public var configs: [SignedRemoteConfig]

    public init(revision: Int64 = 0, scan: Scan? = nil, guidance: Guidance? = nil, display: Display? = nil,
                configs: [SignedRemoteConfig] = []) {
        self.revision = revision
        self.scan = scan
        self.guidance = guidance
        self.display = display
        self.configs = configs
    }

    public var json: JSON {
        [
            "rev": .int(revision),
            "scan": scan.map { ["id": .int($0.id), "visit": .int($0.visit), "window_ms": .int(Int64($0.windowMilliseconds))] } ?? .null,
            "guidance": guidance.map { ["visit": .int($0.visit), "pattern": .string($0.pattern)] } ?? .null,
            "display": display.map { ["visit": .int($0.visit), "meeting": .string($0.meeting), "title": .string($0.title)] } ?? .null,
            "configs": .array(configs.map(\.json)),
        ]
    }

    public init(json: JSON) throws(JSONError) {
        self.init(revision: try json.requiredInt("rev"))
        if let scan = json["scan"], !scan.isNull {
            let window = try scan.requiredInt("window_ms")
            // The agent adds it to its clock.
            guard (0...86_400_000).contains(window) else {
                throw JSONError("field 'window_ms' is \(window); it must be from 0 to 86400000 (a day)")
            }
            self.scan = Scan(id: try scan.requiredInt("id"), visit: try scan.requiredInt("visit"),
                             windowMilliseconds: Int(window))
        }
        if let guidance = json["guidance"], !guidance.isNull {
            self.guidance = Guidance(visit: try guidance.requiredInt("visit"), pattern: try guidance.requiredString("pattern"))
        }
        if let display = json["display"], !display.isNull {
            self.display = Display(visit: try display.requiredInt("visit"), meeting: try display.requiredString("meeting"),
                                   title: try display.requiredString("title"))
        }
        // Absent from gateways that predate remote config.
        for item in json["configs"]?.arrayValue ?? [] {
            configs.append(try SignedRemoteConfig(json: item))
        }
    }
}
