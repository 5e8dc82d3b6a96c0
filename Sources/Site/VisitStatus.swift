/// The visit statuses of the nanoEdge scenario, in the order a successful visit reaches them.
public enum VisitStage: String, Sendable, CaseIterable, Comparable {
    case initial = "INIT"
    case detected = "DETECTED"
    case scanned = "SCANNED"
    case authenticated = "AUTHENTICATED"
    case guided = "GUIDED"
    case presented = "PRESENTED"

    public static func < (lhs: VisitStage, rhs: VisitStage) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A status in a visit's log: a stage reached, or `NOT <stage>` when the visit failed to reach it.
public struct VisitStatus: Sendable, Hashable, CustomStringConvertible {
    public var stage: VisitStage
    public var reached: Bool

    public init(_ stage: VisitStage, reached: Bool = true) {
        self.stage = stage
        self.reached = reached
    }

    public static func not(_ stage: VisitStage) -> VisitStatus { VisitStatus(stage, reached: false) }

    public var description: String { reached ? stage.rawValue : "NOT \(stage.rawValue)" }

    public init?(_ text: String) {
        let negated = text.hasPrefix("NOT ")
        guard let stage = VisitStage(rawValue: negated ? String(text.dropFirst(4)) : text) else { return nil }
        self.init(stage, reached: !negated)
    }
}

/// One line of a visit's persistent log.
public struct VisitLogEntry: Sendable, Equatable {
    public var visit: Int64
    public var status: VisitStatus
    /// Unix epoch milliseconds.
    public var at: Int64
    public var detail: String
    public init(visit: Int64, status: VisitStatus, at: Int64, detail: String = "") {
        self.visit = visit
        self.status = status
        self.at = at
        self.detail = detail
    }
}
