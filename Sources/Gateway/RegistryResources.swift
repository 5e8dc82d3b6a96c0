import CoAP
import GatewayPolicy
import JSON
import Site

/// CoAP resources for the registry: GET lists (or one record with `?id=`), POST adds, PUT replaces,
/// DELETE `?id=` removes. Writes need an admin identity; the gateway checks that before calling here.
///
/// Reads are scoped by the reader's provisioned roles (nil: a request without an identity), here as
/// well as in the access rules: tag ids go to scanners and admins only, and a meeting's content only to
/// admins and the display in its room.
struct RegistryResources {
    let store: SiteStore

    var handlers: [(String, (CoAPRequest, DeviceRecord?) throws -> CoAPResponse)] {
        [
            (SitePaths.persons, { request, _ in
                try crud(request, list: { try store.persons().map(\.json) }, one: { try store.person(id: $0)?.json },
                         add: { try store.addPerson(try Person(json: $0)) }, update: { try store.updatePerson(try Person(json: $0)) },
                         remove: { try store.removePerson(id: $0) })
            }),
            (SitePaths.tags, { request, reader in
                if request.method == .get { try Self.requireTagReader(reader) }
                return try crud(request, list: { try store.tags().map(\.json) }, one: { try store.tag(id: $0)?.json },
                         add: { try store.addTag(try Tag(json: $0)) }, update: nil, remove: { try store.removeTag(id: $0) })
            }),
            (SitePaths.rooms, { request, _ in
                try crud(request, list: { try store.rooms().map(\.json) }, one: { try store.room(id: $0)?.json },
                         add: { try store.addRoom(try Room(json: $0)) }, update: nil, remove: { try store.removeRoom(id: $0) })
            }),
            (SitePaths.meetings, { request, reader in
                try crud(request, list: { try store.meetings().map { Self.meetingJSON($0, for: reader) } },
                         one: { try store.meeting(id: $0).map { Self.meetingJSON($0, for: reader) } },
                         add: { try store.addMeeting(try Meeting(json: $0)) },
                         update: { try store.updateMeeting(try Meeting(json: $0)) },
                         remove: { try store.removeMeeting(id: $0) })
            }),
        ]
    }

    static func requireTagReader(_ reader: DeviceRecord?) throws {
        let roles = reader?.roles ?? []
        guard roles.contains("scanner") || roles.contains(RoleScope.admin) else {
            throw GatewayError(.forbidden, "\(reader?.id ?? "anonymous") (roles: \(roles.isEmpty ? "none" : roles.joined(separator: ", "))) "
                + "may not read tag ids: they are for scanners and admins")
        }
    }

    /// A meeting without its content, unless the reader presents it (or is an admin).
    static func meetingJSON(_ meeting: Meeting, for reader: DeviceRecord?) -> JSON {
        let json = meeting.json
        if let reader, RoleScope.mayReadContent(roles: reader.roles, location: reader.location,
                                                meetingRoom: meeting.room) {
            return json
        }
        guard var members = json.objectValue else { return json }
        members["content"] = nil
        return .object(members)
    }

    private func crud(_ request: CoAPRequest, list: () throws -> [JSON], one: (String) throws -> JSON?,
                      add: (JSON) throws -> Void, update: ((JSON) throws -> Void)?,
                      remove: (String) throws -> Void) throws -> CoAPResponse {
        switch request.method {
        case .get:
            if let id = request.queryValue("id") {
                guard let record = try one(id) else { throw GatewayError(.notFound, "no record '\(id)'") }
                return CoAPResponse(.content, payload: record.bytes(), contentFormat: ContentFormat.json)
            }
            return CoAPResponse(.content, payload: JSON.array(try list()).bytes(), contentFormat: ContentFormat.json)
        case .post:
            try add(try body(request))
            return CoAPResponse(.created)
        case .put:
            guard let update else { throw GatewayError(.methodNotAllowed, "records here are replaced by DELETE then POST") }
            try update(try body(request))
            return CoAPResponse(.changed)
        case .delete:
            guard let id = request.queryValue("id") else { throw GatewayError(.badRequest, "missing query parameter 'id'") }
            try remove(id)
            return CoAPResponse(.deleted)
        }
    }

    private func body(_ request: CoAPRequest) throws -> JSON {
        do {
            return try JSON.parse(request.payload)
        } catch {
            throw GatewayError(.badRequest, error.description)
        }
    }
}
