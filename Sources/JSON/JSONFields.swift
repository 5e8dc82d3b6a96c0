// Typed field readers for decoding messages by hand: each failure names the
// field, so a rejected request can be logged or answered with a useful reason.
extension JSON {
    /// The member `key`, which may be null. Throws when missing or when this is not an object.
    public func required(_ key: String) throws(JSONError) -> JSON {
        guard case .object(let members) = self else { throw JSONError("expected a JSON object") }
        guard let value = members[key] else { throw JSONError("missing field '\(key)'") }
        return value
    }

    public func requiredString(_ key: String) throws(JSONError) -> String {
        guard let value = try required(key).stringValue else { throw typeError(key, "a string") }
        return value
    }

    /// Accepts integral doubles such as `2.0` (see `intValue`).
    public func requiredInt(_ key: String) throws(JSONError) -> Int64 {
        guard let value = try required(key).intValue else { throw typeError(key, "an integer") }
        return value
    }

    public func requiredDouble(_ key: String) throws(JSONError) -> Double {
        guard let value = try required(key).doubleValue else { throw typeError(key, "a number") }
        return value
    }

    public func requiredBool(_ key: String) throws(JSONError) -> Bool {
        guard let value = try required(key).boolValue else { throw typeError(key, "a boolean") }
        return value
    }

    public func requiredArray(_ key: String) throws(JSONError) -> [JSON] {
        guard let value = try required(key).arrayValue else { throw typeError(key, "an array") }
        return value
    }

    public func requiredObject(_ key: String) throws(JSONError) -> JSON {
        let value = try required(key)
        guard case .object = value else { throw typeError(key, "an object") }
        return value
    }

    /// Nil when the field is missing or null; throws when it has another type.
    public func optionalString(_ key: String) throws(JSONError) -> String? {
        guard let value = try optional(key) else { return nil }
        guard let string = value.stringValue else { throw typeError(key, "a string") }
        return string
    }

    /// Nil when the field is missing or null; throws when it has another type.
    public func optionalInt(_ key: String) throws(JSONError) -> Int64? {
        guard let value = try optional(key) else { return nil }
        guard let integer = value.intValue else { throw typeError(key, "an integer") }
        return integer
    }

    /// Nil when the field is missing or null; throws when it has another type.
    public func optionalBool(_ key: String) throws(JSONError) -> Bool? {
        guard let value = try optional(key) else { return nil }
        guard let bool = value.boolValue else { throw typeError(key, "a boolean") }
        return bool
    }

    private func optional(_ key: String) throws(JSONError) -> JSON? {
        guard case .object(let members) = self else { throw JSONError("expected a JSON object") }
        guard let value = members[key], !value.isNull else { return nil }
        return value
    }

    private func typeError(_ key: String, _ kind: String) -> JSONError {
        JSONError("field '\(key)' must be \(kind)")
    }
}
