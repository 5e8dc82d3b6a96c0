// libFuzzer target for the JSON bodies the update server decodes: device check-ins and reports,
// deployments, and the release descriptions it stores (make fuzz). It links the decoders, not the
// HTTP server. Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main.
import FuzzSupport
import JSON
import Releases
import Rollout
import UpdateStore

/// The server's body limit (Routes.swift, `Body.limit`).
let bodyLimits = JSONLimits(maxBytes: 64 * 1024)

/// One input is one request body, decoded as every body the server takes. What decodes must come
/// back equal from its own JSON; a plan must split any group into waves without trapping.
func fuzzOneBody(_ bytes: [UInt8]) {
    guard let json = try? JSON.parse(bytes, limits: bodyLimits), case .object = json else { return }
    roundTrip(json, CheckIn.init(json:), \.json)
    roundTrip(json, UpdateReport.init(json:), \.json)
    roundTrip(json, TargetCustom.init(json:), \.json)
    roundTrip(json, RolloutPlan.init(json:), \.json).map(checkPlan)
    roundTrip(json, { (json: JSON) throws(JSONError) in try Assignment.parse(json) }, Assignment.json)
    if let request = try? DeploymentRequest(json: json) {
        checkPlan(request.plan)
        precondition((0...RolloutPlan.maxSoakMilliseconds).contains(request.plan.soakMilliseconds ?? 0))
    }
    if let version = json["version"]?.stringValue.flatMap(ReleaseVersion.init),
       let other = json["min_version"]?.stringValue.flatMap(ReleaseVersion.init) {
        // A total order: exactly one of <, >, same precedence.
        let relations = [version < other, other < version, version.hasSamePrecedence(as: other)]
        precondition(relations.filter { $0 }.count == 1, "\(version) and \(other) compare inconsistently")
    }
}

/// Waves for groups of several sizes: increasing, ending at the group's size.
func checkPlan(_ plan: RolloutPlan) {
    for devices in [0, 1, 2, 3, 7, 100, 10_000, 1 << 40] {
        let ends = plan.boundaries(deviceCount: devices)
        precondition(zip(ends, ends.dropFirst()).allSatisfy { $0 < $1 } && (ends.last ?? 0) == devices
                     && (ends.first ?? 1) >= 1, "plan \(plan.json) splits \(devices) devices as \(ends)")
        _ = plan.maxFailures.tolerated(of: devices)
        for wave in plan.waves { _ = wave.of(devices) }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneBody(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzUpdateServerBodies {
    static func main() { replayFiles("FuzzUpdateServerBodies", fuzzOneBody) }
}
#endif
