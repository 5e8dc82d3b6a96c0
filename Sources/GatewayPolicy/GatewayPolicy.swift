import TOML

/// The gateway's policies, as the `[policy]` part of its TOML config gives them (docs/gateway.md).
public struct GatewayPolicy: Sendable, Equatable {
    public var rate: RateLimiter.Limits
    public var overload: LoadShedder.Settings
    public var access: AccessPolicy

    public init(rate: RateLimiter.Limits = .init(), overload: LoadShedder.Settings = .init(),
                access: AccessPolicy = .standard) {
        self.rate = rate
        self.overload = overload
        self.access = access
    }

    public struct ConfigError: Error, Sendable, CustomStringConvertible {
        public var key: String
        public var problem: String
        public var description: String { "\(key): \(problem)" }
    }

    /// Reads `[policy]` from a parsed config; absent keys keep their defaults.
    public static func load(from root: TOMLTable) throws(ConfigError) -> GatewayPolicy {
        var policy = GatewayPolicy()
        do {
            try unknown(root.table("policy"), "policy", known: ["rate", "overload", "access", "standard_access"])
            try unknown(root.table("policy.rate"), "policy.rate",
                        known: ["messages_per_second", "burst_messages", "bytes_per_second", "burst_bytes"])
            try unknown(root.table("policy.overload"), "policy.overload",
                        known: ["window_ms", "trip_busy_fraction", "cool_down_ms", "fair_share"])
            if let v = try root.double("policy.rate.messages_per_second") { policy.rate.messagesPerSecond = v }
            if let v = try root.double("policy.rate.burst_messages") { policy.rate.burstMessages = v }
            if let v = try root.double("policy.rate.bytes_per_second") { policy.rate.bytesPerSecond = v }
            if let v = try root.double("policy.rate.burst_bytes") { policy.rate.burstBytes = v }
            if let v = try root.integer("policy.overload.window_ms") { policy.overload.windowMs = v }
            if let v = try root.double("policy.overload.trip_busy_fraction") { policy.overload.tripBusyFraction = v }
            if let v = try root.integer("policy.overload.cool_down_ms") { policy.overload.coolDownMs = v }
            if let v = try root.double("policy.overload.fair_share") { policy.overload.fairShare = v }
            let keepStandard = try root.bool("policy.standard_access") ?? true
            var rules = keepStandard ? AccessPolicy.standard.rules : []
            for (index, table) in (try root.tables("policy.access") ?? []).enumerated() {
                let key = "policy.access[\(index)]"
                try unknown(table, key, known: ["role", "methods", "paths"])
                let role = try table.requiredString("role")
                let methods = try table.requiredStrings("methods")
                let paths = try table.requiredStrings("paths")
                for method in methods {
                    for path in paths {
                        let rule = AccessPolicy.Rule(role: role, method: method.uppercased(), pattern: path)
                        if let problem = AccessPolicy.validate(rule) { throw ConfigError(key: key, problem: problem) }
                        rules.append(rule)
                    }
                }
            }
            policy.access = AccessPolicy(rules: rules)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(key: "policy", problem: "\(error)")
        }
        try check(policy)
        return policy
    }

    private static func unknown(_ table: TOMLTable?, _ key: String, known: Set<String>) throws(ConfigError) {
        guard let table else { return }
        if let bad = table.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError(key: "\(key).\(bad)", problem: "unknown key; known: \(known.sorted().joined(separator: ", "))")
        }
    }

    /// Upper bounds too: the limiter and shedder turn these into milliseconds and add them to the clock.
    private static func check(_ policy: GatewayPolicy) throws(ConfigError) {
        let r = policy.rate
        func within(_ key: String, _ value: Double, _ range: ClosedRange<Double>, _ text: String) throws(ConfigError) {
            guard range.contains(value) else { throw ConfigError(key: key, problem: "must be \(text)") }
        }
        try within("policy.rate.messages_per_second", r.messagesPerSecond, 0.001...1_000_000,
                   "greater than 0 (from 0.001 to 1000000)")
        try within("policy.rate.bytes_per_second", r.bytesPerSecond, 1...1_000_000_000,
                   "greater than 0 (from 1 to 1000000000)")
        try within("policy.rate.burst_messages", r.burstMessages, 1...1_000_000, "at least 1 (and at most 1000000)")
        try within("policy.rate.burst_bytes", r.burstBytes, 1024...1_000_000_000,
                   "at least 1024 (one CoAP block) and at most 1000000000")
        let o = policy.overload
        guard (50...3_600_000).contains(o.windowMs) else {
            throw ConfigError(key: "policy.overload.window_ms", problem: "must be at least 50 (and at most 3600000)")
        }
        guard o.tripBusyFraction > 0, o.tripBusyFraction <= 1 else {
            throw ConfigError(key: "policy.overload.trip_busy_fraction", problem: "must be in (0, 1]")
        }
        guard (0...3_600_000).contains(o.coolDownMs) else {
            throw ConfigError(key: "policy.overload.cool_down_ms", problem: "must be from 0 to 3600000")
        }
        guard o.fairShare > 0, o.fairShare < 1 else {
            throw ConfigError(key: "policy.overload.fair_share", problem: "must be in (0, 1)")
        }
    }
}
