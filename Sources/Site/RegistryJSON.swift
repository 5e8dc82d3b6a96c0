import JSON

/// JSON forms of the registry records, shared by the gateway's resources and the tools.
extension Person {
    public var json: JSON { ["id": .string(id), "name": .string(name)] }
    public init(json: JSON) throws(JSONError) {
        self.init(id: try json.requiredString("id"), name: try json.requiredString("name"))
    }
}

extension Tag {
    public var json: JSON { ["id": .string(id), "person": .string(person), "label": .string(label)] }
    public init(json: JSON) throws(JSONError) {
        self.init(id: try json.requiredString("id"), person: try json.requiredString("person"),
                  label: try json.optionalString("label") ?? "")
    }
}

extension Room {
    public var json: JSON {
        ["id": .string(id), "name": .string(name), "kind": .string(kind.rawValue), "guidance": .string(guidance.rawValue)]
    }
    public init(json: JSON) throws(JSONError) {
        let kindText = try json.requiredString("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw JSONError("field 'kind' is '\(kindText)'; use entrance, corridor or meeting")
        }
        let guidanceText = try json.optionalString("guidance") ?? "forward"
        guard let guidance = Direction(rawValue: guidanceText) else {
            throw JSONError("field 'guidance' is '\(guidanceText)'; use forward or backward")
        }
        self.init(id: try json.requiredString("id"), name: try json.optionalString("name") ?? "", kind: kind,
                  guidance: guidance)
    }
}

extension Meeting {
    public var json: JSON {
        ["id": .string(id), "title": .string(title), "room": .string(room), "starts_at": .int(startsAt),
         "ends_at": .int(endsAt), "invitees": .array(invitees.map { .string($0) }), "content": .string(content)]
    }
    public init(json: JSON) throws(JSONError) {
        var invitees: [String] = []
        for item in try json.requiredArray("invitees") {
            guard let person = item.stringValue else { throw JSONError("field 'invitees' must hold person ids") }
            invitees.append(person)
        }
        let startsAt = try Timestamp.checked(try json.requiredInt("starts_at"), field: "starts_at")
        let endsAt = try Timestamp.checked(try json.requiredInt("ends_at"), field: "ends_at")
        guard endsAt > startsAt else { throw JSONError("field 'ends_at' must be after 'starts_at'") }
        self.init(id: try json.requiredString("id"), title: try json.requiredString("title"),
                  room: try json.requiredString("room"), startsAt: startsAt, endsAt: endsAt, invitees: invitees,
                  content: try json.optionalString("content") ?? "")
    }
}
