#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Site

/// A point in time as given on the command line: `now`, relative to now (`+30m`, `-5m`, `+2h`, `+90s`,
/// `+1d`), or UTC ISO 8601 (`2026-11-22T10:00Z`, `…T10:00:30Z`, `…T10:00:30.250Z`).
///
/// Relative times count from when the command runs, for `--starts` and `--ends` alike, so one rule
/// explains every value.
enum TimeSpec: Equatable, Sendable {
    case now
    case relative(milliseconds: Int64)
    /// Unix epoch milliseconds.
    case absolute(Int64)

    /// Says what is wrong, not which text: the argument parser quotes the value and the option.
    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static let expected = "expected now, +Nm, -Nm, +Nh (also s and d) or UTC YYYY-MM-DDTHH:MM[:SS[.mmm]]Z"

    /// Epoch milliseconds, given the current time.
    func resolve(now: Int64) -> Int64 {
        switch self {
        case .now: now
        case .relative(let offset): now + offset
        case .absolute(let time): time
        }
    }

    static func parse(_ text: String) throws(ParseError) -> TimeSpec {
        if text == "now" { return .now }
        if let first = text.first, first == "+" || first == "-" {
            return try parseRelative(text)
        }
        return .absolute(try parseISO8601(text))
    }

    private static func parseRelative(_ text: String) throws(ParseError) -> TimeSpec {
        let sign: Int64 = text.hasPrefix("-") ? -1 : 1
        let body = text.dropFirst()
        guard let unit = body.last, let count = Int64(body.dropLast()), count >= 0,
              body.dropLast().allSatisfy(\.isASCII), body.dropLast().allSatisfy(\.isNumber) else {
            throw ParseError(description: expected)
        }
        let scale: Int64
        switch unit {
        case "s": scale = 1000
        case "m": scale = 60 * 1000
        case "h": scale = 60 * 60 * 1000
        case "d": scale = 24 * 60 * 60 * 1000
        default:
            throw ParseError(description: "unknown unit \"\(unit)\"; \(expected)")
        }
        // Ten years either way is more than any meeting needs and keeps the arithmetic far from overflow.
        guard count <= 10 * 366 * 24 * 60 * 60 * 1000 / scale else {
            throw ParseError(description: "more than ten years from now")
        }
        return .relative(milliseconds: sign * count * scale)
    }

    /// `YYYY-MM-DDTHH:MM[:SS[.fraction]]Z`, UTC only: a site's meetings are stored in epoch time, and a
    /// local offset on the command line is a common way to be an hour off.
    static func parseISO8601(_ text: String) throws(ParseError) -> Int64 {
        func fail(_ why: String) -> ParseError {
            ParseError(description: "\(why); \(expected)")
        }
        let chars = Array(text.utf8)
        var index = 0

        func digits(_ count: Int) -> Int64? {
            guard index + count <= chars.count else { return nil }
            var value: Int64 = 0
            for char in chars[index..<index + count] {
                guard char >= 0x30 && char <= 0x39 else { return nil }
                value = value * 10 + Int64(char - 0x30)
            }
            index += count
            return value
        }
        func expect(_ char: Character) -> Bool {
            guard index < chars.count, chars[index] == char.asciiValue! else { return false }
            index += 1
            return true
        }

        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2) else {
            throw fail("not a date")
        }
        guard expect("T") else { throw fail("the date needs a time, e.g. \(text.prefix(10))T10:00Z") }
        guard let hour = digits(2), expect(":"), let minute = digits(2) else { throw fail("not a time of day") }
        var second: Int64 = 0
        var millisecond: Int64 = 0
        if expect(":") {
            guard let value = digits(2) else { throw fail("bad seconds") }
            second = value
            if expect(".") {
                let start = index
                var scale: Int64 = 100
                while index < chars.count, chars[index] >= 0x30 && chars[index] <= 0x39 {
                    millisecond += Int64(chars[index] - 0x30) * scale
                    scale /= 10
                    index += 1
                }
                guard index > start else { throw fail("bad fraction of a second") }
            }
        }
        guard index < chars.count, chars[index] == UInt8(ascii: "Z") else {
            if index == chars.count || chars[index] == UInt8(ascii: "+") || chars[index] == UInt8(ascii: "-") {
                throw fail("times are UTC and end in Z, not a local time or an offset")
            }
            throw fail("unexpected text after the time")
        }
        index += 1
        guard index == chars.count else { throw fail("unexpected text after the Z") }

        guard (1...12).contains(month) else { throw fail("month \(month) is not 1…12") }
        let monthDays = daysInMonth(year: year, month: month)
        guard (1...monthDays).contains(day) else { throw fail("day \(day) is not 1…\(monthDays)") }
        guard hour < 24 else { throw fail("hour \(hour) is not 0…23") }
        guard minute < 60 else { throw fail("minute \(minute) is not 0…59") }
        guard second < 60 else { throw fail("second \(second) is not 0…59") }

        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millisecond
    }
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, as the gateway logs them.
func formatTimestamp(_ milliseconds: Int64) -> String {
    Timestamp.iso8601(milliseconds)
}

/// The wall clock in epoch milliseconds.
func currentEpochMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}

// MARK: Calendar arithmetic (proleptic Gregorian, H. Hinnant's days_from_civil; Site.Timestamp goes back)

private func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    a >= 0 ? a / b : (a - b + 1) / b
}

private func isLeapYear(_ year: Int64) -> Bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

private func daysInMonth(year: Int64, month: Int64) -> Int64 {
    switch month {
    case 2: isLeapYear(year) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

/// Days since 1970-01-01.
private func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = floorDivide(y, 400)
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}
