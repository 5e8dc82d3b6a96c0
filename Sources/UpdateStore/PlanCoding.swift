import JSON
import Rollout

/// Plans are stored as JSON text: `{"waves": ["10%", "5"], "max_failures": "1", "soak_ms": 600000}`.
extension RolloutPlan {
    public var json: JSON {
        ["waves": .array(waves.map { .string($0.description) }), "max_failures": .string(maxFailures.description),
         "soak_ms": soakMilliseconds.map { .int($0) } ?? .null]
    }

    public init(json: JSON) throws(JSONError) {
        var waves: [Amount] = []
        for item in try json.requiredArray("waves") {
            guard let text = item.stringValue ?? item.intValue.map({ String($0) }), let amount = Amount(text) else {
                throw JSONError("field 'waves' must hold counts like \"5\" or percentages like \"25%\"")
            }
            waves.append(amount)
        }
        guard !waves.isEmpty else { throw JSONError("field 'waves' must name at least one wave") }
        let thresholdText = try json.optionalString("max_failures") ?? "0"
        guard let threshold = Amount(thresholdText) else {
            throw JSONError("field 'max_failures' must be a count like \"2\" or a percentage like \"10%\"")
        }
        let soak = try json.optionalInt("soak_ms")
        if let soak, !(0...Self.maxSoakMilliseconds).contains(soak) {
            throw JSONError("field 'soak_ms' is \(soak); it must be from 0 to \(Self.maxSoakMilliseconds) (366 days)")
        }
        self.init(waves: waves, maxFailures: threshold, soakMilliseconds: soak)
    }
}

/// The admin API's `POST /api/v1/deployments` body, decoded without the server so that it can be
/// fuzzed: `{"target": "…", "group": "…", "waves": ["10%", "50%"], "max_failures": "1", "soak_s": 600,
/// "allow_downgrade": false}`.
public struct DeploymentRequest: Sendable, Hashable {
    public var target: String
    public var group: String
    public var plan: RolloutPlan
    public var allowDowngrade: Bool

    public init(json body: JSON) throws(JSONError) {
        let soak = try body.optionalInt("soak_s")
        // Checked before `* 1000`, which would trap near Int64.max.
        let maxSoak = RolloutPlan.maxSoakMilliseconds / 1000
        if let soak, !(0...maxSoak).contains(soak) {
            throw JSONError("field 'soak_s' is \(soak); it must be from 0 to \(maxSoak) (366 days)")
        }
        var planJSON: [String: JSON] = ["waves": try body.required("waves"),
                                        "max_failures": body["max_failures"] ?? .string("0")]
        if let soak { planJSON["soak_ms"] = .int(soak * 1000) }
        target = try body.requiredString("target")
        group = try body.requiredString("group")
        plan = try RolloutPlan(json: .object(planJSON))
        allowDowngrade = try body.optionalBool("allow_downgrade") ?? false
    }
}
