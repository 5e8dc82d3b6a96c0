import JSON

/// Epoch-millisecond timestamps as UTC ISO 8601 text, without Foundation.
public enum Timestamp {
    /// The instants the site takes from outside, epoch ms: 2000-01-01 to 2200-01-01 UTC. A time beyond
    /// them is a broken clock or an attack, and the bound keeps `now - at` far from overflow.
    public static let accepted: ClosedRange<Int64> = 946_684_800_000...7_258_118_400_000

    /// The wire field `name` as a time in `accepted`, or an error naming the field.
    public static func checked(_ value: Int64, field name: String) throws(JSONError) -> Int64 {
        guard accepted.contains(value) else {
            throw JSONError("field '\(name)' is \(value); it must be epoch milliseconds between "
                            + "2000-01-01 (\(accepted.lowerBound)) and 2200-01-01 (\(accepted.upperBound))")
        }
        return value
    }

    /// `2026-11-22T10:00:01.123Z`
    /// Any Int64, even one from a broken clock: floor division, so nothing here can overflow.
    public static func iso8601(_ milliseconds: Int64) -> String {
        let (seconds, ms) = floorDivision(milliseconds, 1000)
        let (days, secondOfDay) = floorDivision(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    /// Quotient rounded down and a remainder in 0..<divisor (divisor > 0).
    static func floorDivision(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
