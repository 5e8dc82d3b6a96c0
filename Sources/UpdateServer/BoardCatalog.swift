import Hardware

/// The boards a release may name: the `boards/*.toml` profiles, with their architectures.
public struct BoardCatalog: Sendable {
    public let architectures: [String: Architecture?]

    public init(architectures: [String: Architecture?]) {
        self.architectures = architectures
    }

    /// Loads every profile found in `searchPaths`; a profile that does not parse is an error, so a
    /// typo in a profile cannot quietly make a board unknown.
    public static func load(searchPaths: [String]) throws(ServerError) -> BoardCatalog {
        var architectures: [String: Architecture?] = [:]
        for name in BoardProfile.available(in: searchPaths) {
            do {
                let profile = try BoardProfile.load(name: name, searchPaths: searchPaths)
                architectures[name] = profile.architecture.flatMap { Architecture(rawValue: $0) }
            } catch {
                throw ServerError(.internalServerError, "board profile \(name): \(error)")
            }
        }
        return BoardCatalog(architectures: architectures)
    }

    public var names: [String] { architectures.keys.sorted() }

    public func contains(_ board: String) -> Bool { architectures[board] != nil }

    /// The board's architecture; nil for an unknown board or one that runs anything (the simulator).
    public func architecture(of board: String) -> Architecture? { architectures[board] ?? nil }
}
