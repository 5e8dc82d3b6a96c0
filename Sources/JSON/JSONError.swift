/// A parse, encoding or schema error with a message meant for logs and operators.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// Byte offset (0-based) into the input for parse errors; nil for schema and encoding errors.
    public var offset: Int?

    public init(_ message: String, offset: Int? = nil) {
        self.message = message
        self.offset = offset
    }

    public var description: String {
        guard let offset else { return message }
        return "invalid JSON at byte \(offset): \(message)"
    }
}

/// Bounds on untrusted input, so a hostile peer cannot make the agent
/// allocate or recurse without limit.
public struct JSONLimits: Sendable, Hashable {
    /// Maximum nesting of arrays and objects; a bare scalar has depth 0.
    public var maxDepth: Int
    /// Maximum size of the whole input.
    public var maxBytes: Int
    /// Maximum decoded UTF-8 size of any single string, keys included.
    public var maxStringBytes: Int

    public init(maxDepth: Int = 32, maxBytes: Int = 64 * 1024, maxStringBytes: Int = 32 * 1024) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
    }
}
