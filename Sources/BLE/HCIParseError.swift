/// Bytes that are not a well-formed HCI event packet.
///
/// The parser never reads past its input and never trusts a length or count field: whatever does not
/// fit is rejected with one of these. Codes grow over time; compare `code` against the static codes.
public struct HCIParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Hashable, Sendable {
            case notAnEvent = "not an HCI event packet"
            case truncated = "truncated"
            case lengthMismatch = "length mismatch"
            case invalidReport = "invalid advertising report"
        }

        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        public var description: String { raw.rawValue }

        public static let notAnEvent = Code(.notAnEvent)
        public static let truncated = Code(.truncated)
        public static let lengthMismatch = Code(.lengthMismatch)
        public static let invalidReport = Code(.invalidReport)
    }

    public let code: Code
    /// The byte offset in the packet where the problem was found.
    public let offset: Int
    private let message: String

    init(_ code: Code, at offset: Int, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) (at byte \(offset))" }
}
