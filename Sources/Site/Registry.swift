/// The site's registry: who is expected, which BLE tags they carry, where they meet.

public struct Person: Sendable, Equatable {
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// A BLE identity. `id` is the keyed hash of the tag's address (see `TagHasher`), never the raw address.
public struct Tag: Sendable, Equatable {
    public var id: String
    public var person: String
    public var label: String
    public init(id: String, person: String, label: String = "") {
        self.id = id
        self.person = person
        self.label = label
    }
}

public struct Room: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case entrance, corridor, meeting
    }
    /// Which way a corridor chase runs to lead a visitor here.
    public enum Direction: String, Sendable, CaseIterable {
        case forward, backward
    }
    public var id: String
    public var name: String
    public var kind: Kind
    public var guidance: Direction
    public init(id: String, name: String, kind: Kind, guidance: Direction = .forward) {
        self.id = id
        self.name = name
        self.kind = kind
        self.guidance = guidance
    }
}

/// A registry "event": a meeting with invitees, a room and the content to present.
public struct Meeting: Sendable, Equatable {
    public var id: String
    public var title: String
    public var room: String
    /// Unix epoch milliseconds.
    public var startsAt: Int64
    public var endsAt: Int64
    public var invitees: [String]
    public var content: String
    public init(id: String, title: String, room: String, startsAt: Int64, endsAt: Int64,
                invitees: [String], content: String) {
        self.id = id
        self.title = title
        self.room = room
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.invitees = invitees
        self.content = content
    }

    /// A visitor may arrive early or stay late by this much and still be expected.
    public static let arrivalSlackMilliseconds: Int64 = 60 * 60 * 1000

    public func isCurrent(at now: Int64) -> Bool {
        // A meeting built in code is not bounded like one from JSON: compare without overflowing.
        let (lead, overflow) = startsAt.subtractingReportingOverflow(now)
        return (overflow ? startsAt < now : lead <= Meeting.arrivalSlackMilliseconds) && now <= endsAt
    }
}
