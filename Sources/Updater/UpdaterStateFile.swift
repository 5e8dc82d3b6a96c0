import JSON
import OCI

/// The lifecycle as stored in `<state dir>/updater/state.json` (replaced atomically):
///
///     {"format":1, "committed":{"slot":"a","target":{…}} | null, "security_floor":0,
///      "phase":"idle|staging|staged|trial", "candidate":{"slot":"b","target":{…}}, "attempt":1,
///      "last_outcome":{"result":"committed|rolled_back|failed","version":"…","reason":"…"}}
///
/// A trial also stores when it started and since when it is healthy ("trial_started_ms",
/// "healthy_since_ms", CLOCK_BOOTTIME milliseconds) with the kernel's "boot_id": separate commands
/// (`update health`) then share one window. Times from another boot are dropped; every service
/// start resets the window anyway.
enum UpdaterStateFile {
    static func encode(_ lifecycle: UpdateLifecycle, bootID: String = currentBootID()) -> [UInt8] {
        func installed(_ value: Installed) -> JSON {
            ["slot": .string(value.slot.rawValue), "target": value.target.json]
        }
        var object: [String: JSON] = [
            "format": 1,
            "committed": lifecycle.committed.map(installed) ?? .null,
            "security_floor": .int(lifecycle.securityFloor),
        ]
        switch lifecycle.phase {
        case .idle:
            object["phase"] = "idle"
        case .staging(let c):
            object["phase"] = "staging"
            object["candidate"] = installed(c)
        case .staged(let c):
            object["phase"] = "staged"
            object["candidate"] = installed(c)
        case .trial(let c, let attempt, let startedAt):
            object["phase"] = "trial"
            object["candidate"] = installed(c)
            object["attempt"] = .int(Int64(attempt))
            if let startedAt {
                object["trial_started_ms"] = .int(startedAt)
                object["boot_id"] = .string(bootID)
            }
        case .healthWindow(let c, let attempt, let startedAt, let since):
            object["phase"] = "trial"
            object["candidate"] = installed(c)
            object["attempt"] = .int(Int64(attempt))
            object["trial_started_ms"] = .int(startedAt)
            object["healthy_since_ms"] = .int(since)
            object["boot_id"] = .string(bootID)
        }
        if let outcome = lifecycle.lastOutcome {
            object["last_outcome"] = [
                "result": .string(outcome.result.rawValue), "version": .string(outcome.version.description),
                "reason": .string(outcome.reason),
            ]
        }
        return JSON.object(object).bytes() + [0x0A]
    }

    static func decode(_ bytes: [UInt8], path: String, bootID: String = currentBootID()) throws(UpdateError) -> UpdateLifecycle {
        func corrupt(_ why: String) -> UpdateError {
            UpdateError(.corruptState, "\(path): \(why); the updater does not guess: restore it from "
                            + "\(path).bak if present, or remove it to start from an empty state (the slots stay)")
        }
        let json: JSON
        do {
            json = try JSON.parse(bytes, limits: JSONLimits(maxDepth: 16, maxBytes: 1 << 20))
        } catch {
            throw corrupt("not valid JSON (\(error))")
        }
        guard json["format"]?.intValue == 1 else { throw corrupt("unknown format (expected \"format\": 1)") }
        func installed(_ value: JSON?) throws(UpdateError) -> Installed? {
            guard let value, !value.isNull else { return nil }
            guard let slotText = value["slot"]?.stringValue, let slot = Slot(rawValue: slotText),
                  let target = value["target"] else { throw corrupt("a slot record is malformed") }
            return Installed(slot: slot, target: try TargetDescription(json: target))
        }
        let committed = try installed(json["committed"])
        let candidate = try installed(json["candidate"])
        let phase: UpdateLifecycle.Phase
        switch json["phase"]?.stringValue {
        case "idle"?: phase = .idle
        case "staging"?:
            guard let candidate else { throw corrupt("phase staging without a candidate") }
            phase = .staging(candidate)
        case "staged"?:
            guard let candidate else { throw corrupt("phase staged without a candidate") }
            phase = .staged(candidate)
        case "trial"?:
            guard let candidate, let attempt = json["attempt"]?.intValue else {
                throw corrupt("phase trial without a candidate or an attempt count")
            }
            let sameBoot = json["boot_id"]?.stringValue == bootID
            let startedAt = sameBoot ? json["trial_started_ms"]?.intValue : nil
            if let startedAt, let since = json["healthy_since_ms"]?.intValue {
                phase = .healthWindow(candidate, attempt: Int(attempt), startedAt: startedAt, since: since)
            } else {
                phase = .trial(candidate, attempt: Int(attempt), startedAt: startedAt)
            }
        default:
            throw corrupt("unknown phase")
        }
        var outcome: Outcome?
        if let last = json["last_outcome"], case .object = last {
            guard let result = last["result"]?.stringValue.flatMap(Outcome.Result.init(rawValue:)),
                  let version = last["version"]?.stringValue.flatMap(Version.init) else {
                throw corrupt("last_outcome is malformed")
            }
            outcome = Outcome(result: result, version: version, reason: last["reason"]?.stringValue ?? "")
        }
        return UpdateLifecycle(committed: committed, securityFloor: json["security_floor"]?.intValue ?? 0,
                               phase: phase, lastOutcome: outcome)
    }
}

/// The kernel's id of this boot; times on CLOCK_BOOTTIME only compare within one.
func currentBootID() -> String {
    guard let bytes = try? FileSource(path: "/proc/sys/kernel/random/boot_id").readAll(limit: 64, what: "boot_id")
    else { return "" }
    return String(decoding: bytes, as: UTF8.self).trimmingSpaces.split(separator: "\n").first.map(String.init) ?? ""
}
