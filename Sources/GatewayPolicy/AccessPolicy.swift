/// Which device roles may do what on which resource: the gateway's allow-list.
///
/// A rule names a role, a method (`GET`, `POST`, `PUT`, `DELETE`, or `OBSERVE` for a GET with
/// Observe) and resource patterns. A pattern is a path whose segments may be `*` (any one segment),
/// a final `**` (any rest), or `{self}` (the requesting device's own id). A request is allowed when
/// any role of the device has a matching rule; everything else is refused.
public struct AccessPolicy: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var role: String
        public var method: String
        public var pattern: String

        public init(role: String, method: String, pattern: String) {
            self.role = role
            self.method = method
            self.pattern = pattern
        }
    }

    public var rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    /// What the site scenario needs. Role `*` is any provisioned identity, `anonymous` a request
    /// without one (plain CoAP, lab only). Tag ids are for scanners only: with one, any device could
    /// post a scan of a person who never came. Meeting content is also scoped per meeting (`RoleScope`).
    public static let standard = AccessPolicy(rules: {
        var rules: [Rule] = []
        for path in ["visits", "devices", "registry/persons", "registry/rooms", "registry/events"] {
            rules.append(Rule(role: "*", method: "GET", pattern: path))
        }
        rules.append(Rule(role: "scanner", method: "GET", pattern: "registry/tags"))
        for path in ["visits", "devices"] {
            rules.append(Rule(role: "anonymous", method: "GET", pattern: path))
        }
        for role in ["presence", "scanner", "guidance", "display", "admin"] {
            rules.append(Rule(role: role, method: "POST", pattern: "register"))
            rules.append(Rule(role: role, method: "GET", pattern: "dev/{self}/cmd"))
            rules.append(Rule(role: role, method: "OBSERVE", pattern: "dev/{self}/cmd"))
            rules.append(Rule(role: role, method: "POST", pattern: "events"))
        }
        rules.append(Rule(role: "display", method: "GET", pattern: "content"))
        for method in ["GET", "OBSERVE", "POST", "PUT", "DELETE"] {
            rules.append(Rule(role: "admin", method: method, pattern: "**"))
        }
        return rules
    }())

    /// Segments are split and compared as UTF-8 bytes, as the resources are: a "/" merged into one
    /// `Character` with a prepend or combining scalar still separates, so `*` never spans two.
    public func allows(roles: [String], device: String, method: String, path: String) -> Bool {
        let segments = Self.segments(path)
        return rules.contains { rule in
            roles.contains(rule.role) && rule.method == method
                && Self.matches(pattern: rule.pattern, segments: segments, device: device)
        }
    }

    static func segments(_ text: String) -> [ArraySlice<UInt8>] {
        Array(text.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    }

    static func matches(pattern: String, segments: [ArraySlice<UInt8>], device: String) -> Bool {
        let parts = Self.segments(pattern)
        var index = 0
        for (position, part) in parts.enumerated() {
            if part.elementsEqual("**".utf8) && position == parts.count - 1 { return true }
            guard index < segments.count else { return false }
            let matched = part.elementsEqual("*".utf8)
                || (part.elementsEqual("{self}".utf8) ? segments[index].elementsEqual(device.utf8)
                                                       : segments[index].elementsEqual(part))
            if !matched { return false }
            index += 1
        }
        return index == segments.count
    }

    /// Checks a rule's fields, for the config loader.
    public static func validate(_ rule: Rule) -> String? {
        let methods = ["GET", "POST", "PUT", "DELETE", "OBSERVE"]
        guard methods.contains(rule.method) else {
            return "method \"\(rule.method)\" is not one of \(methods.joined(separator: ", "))"
        }
        guard !rule.role.isEmpty else { return "the role is empty" }
        let parts = rule.pattern.split(separator: "/")
        guard !parts.isEmpty else { return "the pattern is empty" }
        if let bad = parts.dropLast().first(where: { $0 == "**" }) {
            return "\"\(bad)\" may only end a pattern"
        }
        return nil
    }
}
