import TUF

/// Which wall clock the agent believes for TUF expiry (`[time] system_clock`, docs/tuf.md).
public enum SystemClockTrust: String, Sendable, CaseIterable {
    /// The system clock once NTP has synchronised it (adjtimex), else the gateway's time. The default.
    case synchronised
    /// Only the gateway's time: for a site whose NTP may be spoofed, as plain NTP is unauthenticated.
    case never
    /// The system clock as it is, synchronised or not: a lab machine without NTP.
    case always
}

public struct TrustedTimeSettings: Sendable, Equatable {
    public var floorPath: String
    public var systemClock: SystemClockTrust
    /// How far behind the floor the gateway's (or NTP's) time may be and still be believed: the
    /// floor came from another clock, and two good clocks differ a little.
    public var skewSeconds: Int64

    public static let defaultSkewSeconds: Int64 = 300

    public init(floorPath: String, systemClock: SystemClockTrust = .synchronised,
                skewSeconds: Int64 = defaultSkewSeconds) {
        self.floorPath = floorPath
        self.systemClock = systemClock
        self.skewSeconds = skewSeconds
    }
}

/// A time the agent can act on, and where it came from.
public struct TrustedReading: Sendable, Equatable {
    public enum Source: String, Sendable {
        case synchronisedSystemClock = "the NTP-synchronised system clock"
        case gateway = "the gateway's time"
        case systemClock = "the system clock ([time] system_clock = \"always\")"
    }
    public var seconds: Int64
    public var source: Source
    /// The reading as TUF checks expiry against it.
    public var tufTime: TUFTime { TUFTime(secondsSinceEpoch: seconds) }
}

/// Why no time can be trusted now, said so that an operator knows what to fix.
public struct UntrustedTime: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}

/// The time the agent checks TUF expiry against, on a Pi without a real-time clock.
///
/// A Pi boots with its clock at the last saved time (or 1970) until NTP answers: behind, expired
/// metadata looks fresh (a freeze attack); ahead, every release looks expired. So the wall clock
/// counts only when NTP synchronised it, or when the configuration says so; otherwise the gateway's
/// time, received over the authenticated DTLS registration and carried forward on the boot clock.
/// Either must not be behind the persisted `TimeFloor` by more than the skew, and each raises it.
///
/// Not thread-safe: the agent keeps it on its reactor thread.
public final class TrustedClock {
    public let settings: TrustedTimeSettings
    public private(set) var floor: TimeFloor
    private let sources: TimeSources
    /// The gateway's time in seconds and the boot clock (ms) when it arrived.
    private var gatewayAnchor: (seconds: Int64, sinceBoot: Int64)?
    /// Told when the floor could not be written (a full disk): the floor in memory still holds.
    public var onFloorWriteFailure: (String) -> Void = { _ in }

    public init(settings: TrustedTimeSettings, sources: TimeSources = .system) {
        self.settings = settings
        self.sources = sources
        floor = TimeFloor(path: settings.floorPath)
    }

    /// The trusted time now, or why there is none.
    public func now() -> Result<TrustedReading, UntrustedTime> {
        var synchronisedProblem: String?
        switch settings.systemClock {
        case .always:
            return .success(TrustedReading(seconds: sources.wallClock(), source: .systemClock))
        case .synchronised:
            if let time = sources.synchronisedTime() {
                if time >= floor.seconds - settings.skewSeconds {
                    raiseFloor(to: time)
                    return .success(TrustedReading(seconds: time, source: .synchronisedSystemClock))
                }
                synchronisedProblem = "the NTP-synchronised system clock (\(iso8601(time))) is behind this device's "
                    + "time floor (\(iso8601(floor.seconds))), so its time server may be spoofed"
            }
        case .never:
            break
        }
        if let anchor = gatewayAnchor {
            let time = anchor.seconds + (sources.sinceBoot() - anchor.sinceBoot) / 1000
            raiseFloor(to: time)
            return .success(TrustedReading(seconds: time, source: .gateway))
        }
        let system = switch settings.systemClock {
        case .never: "the system clock is not trusted ([time] system_clock = \"never\")"
        default: synchronisedProblem ?? "the system clock is not synchronised by NTP (see `timedatectl`)"
        }
        return .failure(UntrustedTime(description: "no trustworthy time yet: \(system) and the gateway has not "
            + "given its time; TUF expiry cannot be checked, so updates wait until one of them can be believed"))
    }

    /// The gateway's time from a registration answer. Believed unless it is behind the floor by more
    /// than the skew, or ahead of a synchronised system clock by more than the skew.
    @discardableResult
    public func observeGateway(epochMilliseconds: Int64) -> Result<Int64, UntrustedTime> {
        let time = epochMilliseconds / 1000
        if time < floor.seconds - settings.skewSeconds {
            return .failure(UntrustedTime(description: "the gateway's time (\(iso8601(time))) is behind this device's "
                + "time floor (\(iso8601(floor.seconds))) by more than \(settings.skewSeconds) s, so it is not used: "
                + "set the gateway's clock right (timedatectl on the gateway host)"))
        }
        // Only a synchronised clock that is itself believable (not behind the floor) can overrule the gateway.
        if settings.systemClock == .synchronised, let system = sources.synchronisedTime(),
           system >= floor.seconds - settings.skewSeconds, time > system + settings.skewSeconds {
            return .failure(UntrustedTime(description: "the gateway's time (\(iso8601(time))) is ahead of the "
                + "NTP-synchronised system clock (\(iso8601(system))) by more than \(settings.skewSeconds) s, so it is "
                + "not used: set the gateway's clock right"))
        }
        gatewayAnchor = (time, sources.sinceBoot())
        raiseFloor(to: time)
        return .success(time)
    }

    private func raiseFloor(to time: Int64) {
        if let failure = floor.raise(to: time) {
            onFloorWriteFailure("the time floor could not be saved (\(failure)); it holds until the agent stops")
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, for messages.
func iso8601(_ seconds: Int64) -> String { TUFTime(secondsSinceEpoch: seconds).description }
