/// A TOML value. Dates and times are kept as their validated source text:
/// config files only pass them through, and a calendar type would pull in more than it is worth.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case datetime(String)
    case array([TOMLValue])
    case table(TOMLTable)
}

public struct TOMLTable: Sendable, Equatable {
    public var entries: [String: TOMLValue]

    public init(_ entries: [String: TOMLValue] = [:]) {
        self.entries = entries
    }

    public subscript(key: String) -> TOMLValue? {
        entries[key]
    }

    /// The value at a dotted path such as `"device.id"`, or nil when any part is
    /// missing or not a table. Path parts cannot themselves contain dots.
    public func value(at path: String) -> TOMLValue? {
        var table = self
        let parts = path.split(separator: ".", omittingEmptySubsequences: false)
        for part in parts.dropLast() {
            guard case .table(let next) = table.entries[String(part)] else { return nil }
            table = next
        }
        return parts.last.flatMap { table.entries[String($0)] }
    }

    public var keys: [String] {
        entries.keys.sorted()
    }
}

extension TOMLValue {
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// Also accepts integers, since `timeout = 5` is a natural way to write `5.0`.
    public var doubleValue: Double? {
        switch self {
        case .float(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    public var arrayValue: [TOMLValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var tableValue: TOMLTable? {
        if case .table(let value) = self { return value }
        return nil
    }
}
