/// Token buckets keyed by source address, in a table of bounded size.
///
/// Each source may spend `burst` tokens at once and regains `perSecond` of them every second. The
/// table never holds more than `capacity` sources: when it is full, a source whose bucket has
/// refilled is forgotten (it is indistinguishable from a new one); if none has, a new source is
/// refused until one does. Pure: the caller passes the monotonic time in milliseconds.
public struct SourceRateLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        public var burst: Int
        public var perSecond: Int
        public var capacity: Int
        public init(burst: Int, perSecond: Int, capacity: Int) {
            precondition(burst > 0 && perSecond > 0 && capacity > 0, "rate limits must be above 0")
            self.burst = burst
            self.perSecond = perSecond
            self.capacity = capacity
        }
    }

    private struct Bucket: Sendable {
        /// Thousandths of a token, so refills need no floating point.
        var milliTokens: Int64
        var updated: Int64
    }

    public let limits: Limits
    private var buckets: [[UInt8]: Bucket] = [:]

    public init(_ limits: Limits) { self.limits = limits }

    /// Sources in the table now.
    public var count: Int { buckets.count }

    /// Takes one token for `source` at `now`; false when its bucket is empty or the table is full.
    public mutating func allow(_ source: [UInt8], now: Int64) -> Bool {
        let full = Int64(limits.burst) * 1000
        var bucket: Bucket
        if let existing = buckets[source] {
            bucket = existing
            let elapsed = max(0, now - bucket.updated)
            // Saturating: a source idle for years just has a full bucket.
            let (gain, overflow) = elapsed.multipliedReportingOverflow(by: Int64(limits.perSecond))
            bucket.milliTokens = overflow ? full : min(full, bucket.milliTokens + min(gain, full))
            bucket.updated = now
        } else {
            if buckets.count >= limits.capacity && !forgetRefilled(now: now) { return false }
            bucket = Bucket(milliTokens: full, updated: now)
        }
        guard bucket.milliTokens >= 1000 else {
            buckets[source] = bucket
            return false
        }
        bucket.milliTokens -= 1000
        buckets[source] = bucket
        return true
    }

    /// Drops every source whose bucket is full again; true when that made room.
    private mutating func forgetRefilled(now: Int64) -> Bool {
        let full = Int64(limits.burst) * 1000
        buckets = buckets.filter { _, bucket in
            let elapsed = max(0, now - bucket.updated)
            let (gain, overflow) = elapsed.multipliedReportingOverflow(by: Int64(limits.perSecond))
            return !overflow && bucket.milliTokens + min(gain, full) < full
        }
        return buckets.count < limits.capacity
    }
}
