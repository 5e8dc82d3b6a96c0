import GatewayPolicy
import TOML
import Testing

@Suite struct AccessPolicyTests {
    let policy = AccessPolicy.standard

    @Test(arguments: [
        (["presence", "*"], "entrance-1", "POST", "events", true),
        (["presence", "*"], "entrance-1", "OBSERVE", "dev/entrance-1/cmd", true),
        (["presence", "*"], "entrance-1", "OBSERVE", "dev/room-1/cmd", false),
        (["presence", "*"], "entrance-1", "GET", "content", false),
        (["display", "*"], "room-1", "GET", "content", true),
        (["presence", "*"], "entrance-1", "POST", "registry/persons", false),
        (["admin", "*"], "admin", "DELETE", "registry/persons", true),
        (["*"], "tool-1", "GET", "registry/rooms", true),
        (["*"], "tool-1", "POST", "events", false),
        (["anonymous"], "anonymous", "GET", "visits", true),
        (["anonymous"], "anonymous", "GET", "registry/persons", false),
        (["anonymous"], "anonymous", "POST", "register", false),
    ])
    func standardRules(roles: [String], device: String, method: String, path: String, allowed: Bool) {
        #expect(policy.allows(roles: roles, device: device, method: method, path: path) == allowed)
    }

    @Test func patterns() {
        let rules = AccessPolicy(rules: [
            .init(role: "r", method: "GET", pattern: "a/*/c"),
            .init(role: "r", method: "GET", pattern: "x/**"),
        ])
        #expect(rules.allows(roles: ["r"], device: "d", method: "GET", path: "a/b/c"))
        #expect(!rules.allows(roles: ["r"], device: "d", method: "GET", path: "a/b/c/d"))
        #expect(!rules.allows(roles: ["r"], device: "d", method: "GET", path: "a/c"))
        #expect(rules.allows(roles: ["r"], device: "d", method: "GET", path: "x/1/2/3"))
        #expect(rules.allows(roles: ["r"], device: "d", method: "GET", path: "x"))
        #expect(!rules.allows(roles: ["q"], device: "d", method: "GET", path: "x/1"))
    }
}

@Suite struct GatewayPolicyConfigTests {
    @Test func defaultsWhenAbsent() throws {
        #expect(try GatewayPolicy.load(from: TOML.parse("")) == GatewayPolicy())
    }

    @Test func readsLimitsAndExtraRules() throws {
        let policy = try GatewayPolicy.load(from: TOML.parse("""
            [policy.rate]
            messages_per_second = 5
            burst_bytes = 8192
            [policy.overload]
            fair_share = 0.5
            [[policy.access]]
            role = "scanner"
            methods = ["get"]
            paths = ["content", "visits"]
            """))
        #expect(policy.rate.messagesPerSecond == 5)
        #expect(policy.rate.burstBytes == 8192)
        #expect(policy.overload.fairShare == 0.5)
        #expect(policy.access.allows(roles: ["scanner"], device: "e", method: "GET", path: "content"))
        #expect(policy.access.allows(roles: ["presence"], device: "e", method: "POST", path: "events"))
    }

    @Test func standardAccessCanBeDropped() throws {
        let policy = try GatewayPolicy.load(from: TOML.parse("""
            [policy]
            standard_access = false
            [[policy.access]]
            role = "admin"
            methods = ["GET"]
            paths = ["**"]
            """))
        #expect(!policy.access.allows(roles: ["presence"], device: "e", method: "POST", path: "events"))
        #expect(policy.access.rules.count == 1)
    }

    @Test(arguments: [
        ("[policy.rate]\nmessages_per_second = 0", "policy.rate.messages_per_second: must be greater than 0"),
        ("[policy.rate]\nmesages_per_second = 3", "policy.rate.mesages_per_second: unknown key"),
        ("[policy.overload]\nfair_share = 1.5", "policy.overload.fair_share: must be in (0, 1)"),
        ("[[policy.access]]\nrole = \"x\"\nmethods = [\"PATCH\"]\npaths = [\"events\"]", "policy.access[0]: method \"PATCH\""),
        ("[[policy.access]]\nrole = \"x\"\nmethods = [\"GET\"]\npaths = [\"**/events\"]", "may only end a pattern"),
        ("[policy.rate]\nburst_messages = \"many\"", "policy.rate.burst_messages"),
        // Bounded above: these become milliseconds added to the clock.
        ("[policy.rate]\nburst_messages = 1e300", "policy.rate.burst_messages: must be at least 1 (and at most"),
        ("[policy.rate]\nmessages_per_second = 1e-300", "policy.rate.messages_per_second: must be greater than 0"),
        ("[policy.rate]\nbytes_per_second = inf", "policy.rate.bytes_per_second: must be greater than 0"),
        ("[policy.rate]\nburst_bytes = nan", "policy.rate.burst_bytes: must be at least 1024"),
        ("[policy.overload]\ncool_down_ms = 9223372036854775807", "policy.overload.cool_down_ms: must be from 0 to 3600000"),
        ("[policy.overload]\nwindow_ms = 9223372036854775807", "policy.overload.window_ms: must be at least 50"),
    ])
    func badConfigSaysWhichKey(text: String, message: String) throws {
        let root = try TOML.parse(text)
        #expect { try GatewayPolicy.load(from: root) } throws: { error in
            "\(error)".contains(message)
        }
    }
}
