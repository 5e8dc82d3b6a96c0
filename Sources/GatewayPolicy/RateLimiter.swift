/// Per-device token buckets for messages and bytes.
///
/// A pure state machine: every call takes the time (monotonic milliseconds), so tests drive it with
/// a manual clock. A device starts with full buckets; each request takes one message token and its
/// body size in byte tokens. A request that would overdraw either bucket is refused and takes
/// nothing, and the answer says how long until it would fit.
public struct RateLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        public var messagesPerSecond: Double
        public var burstMessages: Double
        public var bytesPerSecond: Double
        public var burstBytes: Double

        public init(messagesPerSecond: Double = 20, burstMessages: Double = 40,
                    bytesPerSecond: Double = 32 * 1024, burstBytes: Double = 128 * 1024) {
            self.messagesPerSecond = messagesPerSecond
            self.burstMessages = burstMessages
            self.bytesPerSecond = bytesPerSecond
            self.burstBytes = burstBytes
        }
    }

    public enum Decision: Sendable, Equatable {
        case allow
        /// Refused; retry after this many milliseconds. `reason` names the bucket.
        case limited(retryAfterMs: Int64, reason: String)
    }

    struct Bucket: Sendable {
        var messages: Double
        var bytes: Double
        var updatedAt: Int64
    }

    public let limits: Limits
    private var buckets: [String: Bucket] = [:]
    /// Devices idle this long are forgotten (their buckets would be full anyway).
    private let forgetAfterMs: Int64

    public init(limits: Limits) {
        self.limits = limits
        let refill = max(limits.burstMessages / max(limits.messagesPerSecond, 0.001),
                         limits.burstBytes / max(limits.bytesPerSecond, 0.001))
        forgetAfterMs = Self.milliseconds(refill * 1000) + 1000
    }

    public var trackedDevices: Int { buckets.count }

    public mutating func admit(device: String, bytes: Int, now: Int64) -> Decision {
        var bucket = buckets[device] ?? Bucket(messages: limits.burstMessages, bytes: limits.burstBytes, updatedAt: now)
        let elapsed = Double(max(0, now - bucket.updatedAt)) / 1000
        bucket.messages = min(limits.burstMessages, bucket.messages + elapsed * limits.messagesPerSecond)
        bucket.bytes = min(limits.burstBytes, bucket.bytes + elapsed * limits.bytesPerSecond)
        bucket.updatedAt = now
        let size = Double(bytes)
        var decision = Decision.allow
        if bucket.messages < 1 {
            decision = .limited(retryAfterMs: Self.wait(for: 1 - bucket.messages, rate: limits.messagesPerSecond),
                                reason: "more than \(Self.format(limits.messagesPerSecond)) messages/s")
        } else if size > limits.burstBytes {
            // Never fits, whatever the wait: say so rather than promise a retry time.
            decision = .limited(retryAfterMs: -1,
                                reason: "a \(bytes)-byte body is over the burst of \(Self.format(limits.burstBytes)) bytes")
        } else if bucket.bytes < size {
            decision = .limited(retryAfterMs: Self.wait(for: size - bucket.bytes, rate: limits.bytesPerSecond),
                                reason: "more than \(Self.format(limits.bytesPerSecond)) bytes/s")
        } else {
            bucket.messages -= 1
            bucket.bytes -= size
        }
        buckets[device] = bucket
        return decision
    }

    /// Drops devices that have been idle long enough to be full again; call now and then.
    public mutating func forgetIdle(now: Int64) {
        buckets = buckets.filter { now - $0.value.updatedAt < forgetAfterMs }
    }

    private static func wait(for deficit: Double, rate: Double) -> Int64 {
        guard rate > 0 else { return Int64.max / 2 }
        return max(1, milliseconds((deficit / rate * 1000).rounded(.up)))
    }

    /// `Int64(_:)` traps on infinity, NaN and anything past Int64.max; limits built in code are not checked.
    private static func milliseconds(_ value: Double) -> Int64 {
        value < 1e15 ? Int64(max(0, value)) : Int64(1e15)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
