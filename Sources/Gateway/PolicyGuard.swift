import CoAP
import GatewayPolicy
import JSON
import Reactor
import Site

#if canImport(Glibc)
import Glibc
#endif

/// The gateway's policies in front of every handler: access rules, then the overload breaker, then
/// the per-device rate limits. A refusal is cheap and says why, and it never reaches the store.
struct PolicyGuard {
    let policy: GatewayPolicy
    var limiter: RateLimiter
    var shedder: LoadShedder
    /// Provisioned roles by identity, re-read now and then so a re-provisioned device is seen.
    var roles: [String: (roles: [String], readAt: Int64)] = [:]
    var counters = PolicyCounters()

    init(policy: GatewayPolicy, now: Int64) {
        self.policy = policy
        limiter = RateLimiter(limits: policy.rate)
        shedder = LoadShedder(settings: policy.overload, now: now)
    }
}

/// What the policies did, for /metrics and the logs.
public struct PolicyCounters: Sendable, Equatable {
    public var denied = 0
    public var rateLimited = 0
    public var shed = 0
    public var breakerTrips = 0
}

extension GatewayServer {
    static let anonymous = "anonymous"
    static let rolesTTL: Int64 = 5_000

    func policed(_ request: CoAPRequest, _ handle: (CoAPRequest) -> CoAPResponse) -> CoAPResponse {
        let started = Reactor.now()
        let who = request.identity ?? Self.anonymous
        defer {
            let now = Reactor.now()
            guard_.shedder.handled(device: who, micros: (now - started) * 1000, now: now)
            guard_.counters.breakerTrips = guard_.shedder.trips
        }
        let method = request.isObserve ? "OBSERVE" : request.method.description
        let roles = request.identity.map { provisionedRoles($0, now: started) + ["*"] } ?? [Self.anonymous]
        guard guard_.policy.access.allows(roles: roles, device: who, method: method, path: request.path) else {
            guard_.counters.denied += 1
            metrics.refused("denied")
            let held = roles.filter { $0 != "*" }
            return refusal(.forbidden, "\(who) (roles: \(held.isEmpty ? "none" : held.joined(separator: ", "))) "
                + "may not \(method) /\(request.path) under the gateway's access policy", retryAfterMs: nil)
        }
        if case .shed(let wait) = guard_.shedder.admit(device: who, now: started) {
            guard_.counters.shed += 1
            metrics.refused("shed")
            return refusal(.serviceUnavailable, "gateway overloaded; \(who) sends more than its share, "
                + "retry in \(wait) ms", retryAfterMs: wait)
        }
        // Observe GETs are exempt from the rate limit: libcoap replays them to build each notification,
        // and refusing one would cancel the device's observation of its own commands.
        if !request.isObserve,
           case .limited(let wait, let reason) = guard_.limiter.admit(device: who, bytes: request.payload.count, now: started) {
            guard_.counters.rateLimited += 1
            metrics.refused("rate_limited")
            let retry = wait < 0 ? "; send less per request" : "; retry in \(wait) ms"
            return refusal(.tooManyRequests, "\(who) is over its rate limit (\(reason))\(retry)",
                           retryAfterMs: wait < 0 ? nil : wait)
        }
        return handle(request)
    }

    private func provisionedRoles(_ identity: String, now: Int64) -> [String] {
        if let cached = guard_.roles[identity], now - cached.readAt < Self.rolesTTL { return cached.roles }
        let roles = ((try? store.device(id: identity)) ?? nil)?.roles ?? []
        if guard_.roles.count > 10_000 { guard_.roles = [:] }
        guard_.roles[identity] = (roles, now)
        return roles
    }

    private func refusal(_ code: CoAPCode, _ message: String, retryAfterMs: Int64?) -> CoAPResponse {
        // Max-Age is in whole seconds: round up, so a client that obeys it is not refused again.
        let maxAge = retryAfterMs.map { UInt32(clamping: ($0 + 999) / 1000) }
        return CoAPResponse(code, payload: JSON.object(["error": .string(message)]).bytes(),
                            contentFormat: ContentFormat.json, maxAge: maxAge)
    }

    /// The policies' counters, read on the loop thread.
    public var policyCounters: PolicyCounters { guard_.counters }
}
