import JSON

/// Takes the known fields out of a JSON object one by one; what is left is the object's
/// unrecognized fields, which the metadata keeps and writes back (the spec lets repositories
/// add fields, and signatures cover them).
struct FieldReader {
    private(set) var rest: [String: JSON]
    let context: String

    init(_ value: JSON, context: String) throws(TUFError) {
        guard case .object(let members) = value else {
            throw TUFError(.invalidMetadata, "\(context) must be a JSON object")
        }
        rest = members
        self.context = context
    }

    mutating func take(_ key: String) -> JSON? {
        rest.removeValue(forKey: key)
    }

    mutating func required(_ key: String) throws(TUFError) -> JSON {
        guard let value = take(key) else { throw TUFError(.invalidMetadata, "\(context) has no '\(key)'") }
        return value
    }

    mutating func string(_ key: String) throws(TUFError) -> String {
        guard case .string(let value) = try required(key) else { throw typeError(key, "a string") }
        return value
    }

    mutating func int(_ key: String) throws(TUFError) -> Int64 {
        guard case .int(let value) = try required(key) else { throw typeError(key, "an integer") }
        return value
    }

    mutating func optionalInt(_ key: String) throws(TUFError) -> Int64? {
        guard let value = take(key) else { return nil }
        guard case .int(let integer) = value else { throw typeError(key, "an integer") }
        return integer
    }

    mutating func bool(_ key: String) throws(TUFError) -> Bool {
        guard case .bool(let value) = try required(key) else { throw typeError(key, "a boolean") }
        return value
    }

    mutating func object(_ key: String) throws(TUFError) -> [String: JSON] {
        guard case .object(let value) = try required(key) else { throw typeError(key, "an object") }
        return value
    }

    mutating func array(_ key: String) throws(TUFError) -> [JSON] {
        guard case .array(let value) = try required(key) else { throw typeError(key, "an array") }
        return value
    }

    mutating func stringArray(_ key: String) throws(TUFError) -> [String] {
        try TUFError.strings(try array(key), "\(context).\(key)")
    }

    mutating func optionalStringArray(_ key: String) throws(TUFError) -> [String]? {
        guard let value = take(key) else { return nil }
        guard case .array(let elements) = value else { throw typeError(key, "an array") }
        return try TUFError.strings(elements, "\(context).\(key)")
    }

    func typeError(_ key: String, _ kind: String) -> TUFError {
        TUFError(.invalidMetadata, "\(context).\(key) must be \(kind)")
    }
}

extension TUFError {
    static func strings(_ elements: [JSON], _ context: String) throws(TUFError) -> [String] {
        var out: [String] = []
        for element in elements {
            guard case .string(let value) = element else {
                throw TUFError(.invalidMetadata, "\(context) must hold only strings")
            }
            out.append(value)
        }
        return out
    }

    static func stringMap(_ members: [String: JSON], _ context: String) throws(TUFError) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else {
                throw TUFError(.invalidMetadata, "\(context).\(key) must be a string")
            }
            out[key] = text
        }
        return out
    }
}

/// `members` with `extra` added, for writing known fields next to unrecognized ones.
func merged(_ extra: [String: JSON], into members: [String: JSON]) -> JSON {
    var out = extra
    for (key, value) in members { out[key] = value }
    return .object(out)
}
