// Typed readers for loading config: a wrong type is an error naming the full
// key path, so a bad config file fails at startup with a message the operator can act on.
extension TOMLTable {
    public func string(_ path: String) throws(TOMLError) -> String? {
        try read(path, "a string") { $0.stringValue }
    }

    public func integer(_ path: String) throws(TOMLError) -> Int64? {
        try read(path, "an integer") { $0.integerValue }
    }

    public func bool(_ path: String) throws(TOMLError) -> Bool? {
        try read(path, "a boolean") { $0.boolValue }
    }

    /// Accepts integers too.
    public func double(_ path: String) throws(TOMLError) -> Double? {
        try read(path, "a number") { $0.doubleValue }
    }

    public func strings(_ path: String) throws(TOMLError) -> [String]? {
        try read(path, "an array of strings") { value in
            guard let array = value.arrayValue else { return nil }
            var strings: [String] = []
            for element in array {
                guard let string = element.stringValue else { return nil }
                strings.append(string)
            }
            return strings
        }
    }

    public func table(_ path: String) throws(TOMLError) -> TOMLTable? {
        try read(path, "a table") { $0.tableValue }
    }

    /// An array of tables, as written with `[[name]]` headers or an inline array.
    public func tables(_ path: String) throws(TOMLError) -> [TOMLTable]? {
        try read(path, "an array of tables") { value in
            guard let array = value.arrayValue else { return nil }
            var tables: [TOMLTable] = []
            for element in array {
                guard let table = element.tableValue else { return nil }
                tables.append(table)
            }
            return tables
        }
    }

    public func requiredString(_ path: String) throws(TOMLError) -> String {
        try required(path, string(path))
    }

    public func requiredInteger(_ path: String) throws(TOMLError) -> Int64 {
        try required(path, integer(path))
    }

    public func requiredBool(_ path: String) throws(TOMLError) -> Bool {
        try required(path, bool(path))
    }

    public func requiredDouble(_ path: String) throws(TOMLError) -> Double {
        try required(path, double(path))
    }

    public func requiredStrings(_ path: String) throws(TOMLError) -> [String] {
        try required(path, strings(path))
    }

    public func requiredTable(_ path: String) throws(TOMLError) -> TOMLTable {
        try required(path, table(path))
    }

    public func requiredTables(_ path: String) throws(TOMLError) -> [TOMLTable] {
        try required(path, tables(path))
    }

    private func required<T>(_ path: String, _ value: T?) throws(TOMLError) -> T {
        guard let value else { throw TOMLError("missing key '\(path)'") }
        return value
    }

    /// Unlike `value(at:)`, a non-table in the middle of the path is an error, not "missing".
    private func read<T>(
        _ path: String, _ kind: String, _ convert: (TOMLValue) -> T?
    ) throws(TOMLError) -> T? {
        var table = self
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for (index, part) in parts.enumerated() {
            guard let value = table.entries[part] else { return nil }
            if index == parts.count - 1 {
                guard let converted = convert(value) else { throw TOMLError("key '\(path)' must be \(kind)") }
                return converted
            }
            guard case .table(let next) = value else {
                throw TOMLError("key '\(parts[...index].joined(separator: "."))' must be a table")
            }
            table = next
        }
        return nil
    }
}
