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
