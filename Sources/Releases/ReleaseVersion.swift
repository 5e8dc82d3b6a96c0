/// A release version in SemVer 2.0 form: `MAJOR.MINOR.PATCH`, an optional `-pre.release` and an
/// optional `+build` (ignored when comparing). Versions decide downgrades, so they must compare the
/// same way on the server and on every device.
public struct ReleaseVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int
    public let prerelease: [String]
    public let build: String
    public let description: String

    /// Nil unless `text` is a SemVer version (leading zeros and empty identifiers refused).
    public init?(_ text: String) {
        var rest = Substring(text)
        var build = ""
        if let plus = rest.firstIndex(of: "+") {
            build = String(rest[rest.index(after: plus)...])
            guard !build.isEmpty, build.split(separator: ".", omittingEmptySubsequences: false)
                .allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(ReleaseVersion.isIdentifierByte) }) else { return nil }
            rest = rest[..<plus]
        }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            let tail = rest[rest.index(after: dash)...]
            let parts = tail.split(separator: ".", omittingEmptySubsequences: false)
            for part in parts {
                guard !part.isEmpty, part.utf8.allSatisfy(ReleaseVersion.isIdentifierByte) else { return nil }
                if part.utf8.allSatisfy(ReleaseVersion.isDigit), part.count > 1, part.first == "0" { return nil }
                prerelease.append(String(part))
            }
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in core {
            guard !part.isEmpty, part.utf8.allSatisfy(ReleaseVersion.isDigit),
                  part.count == 1 || part.first != "0", let value = Int(part) else { return nil }
            numbers.append(value)
        }
        major = numbers[0]
        minor = numbers[1]
        patch = numbers[2]
        self.prerelease = prerelease
        self.build = build
        description = text
    }

    /// SemVer precedence: build metadata does not count; a pre-release sorts before its release.
    public static func < (lhs: ReleaseVersion, rhs: ReleaseVersion) -> Bool {
        if (lhs.major, lhs.minor, lhs.patch) != (rhs.major, rhs.minor, rhs.patch) {
            return (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
        }
        switch (lhs.prerelease.isEmpty, rhs.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (a, b) in zip(lhs.prerelease, rhs.prerelease) where a != b {
            switch (Int(a), Int(b)) {
            case let (x?, y?): return x < y
            case (_?, nil): return true   // numeric identifiers sort first
            case (nil, _?): return false
            case (nil, nil): return a.utf8.lexicographicallyPrecedes(b.utf8)
            }
        }
        return lhs.prerelease.count < rhs.prerelease.count
    }

    /// Same precedence (build metadata aside), unlike `==`, which compares the text.
    public func hasSamePrecedence(as other: ReleaseVersion) -> Bool { !(self < other) && !(other < self) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D
    }
}
