/// A syntax, redefinition or config-schema error.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// 1-based position in the source for parse errors; nil for errors found
    /// after parsing, such as a key with the wrong type.
    public var line: Int?
    public var column: Int?

    public init(_ message: String, line: Int? = nil, column: Int? = nil) {
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        guard let line, let column else { return message }
        return "line \(line), column \(column): \(message)"
    }
}
