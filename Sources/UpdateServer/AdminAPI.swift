import Foundation
import HTTPTypes
import Hummingbird
import JSON
import Releases
import Rollout
import UpdateStore

/// The admin API's handlers: releases, groups, devices and deployments.
enum AdminAPI {
    // MARK: Releases

    /// `POST /api/v1/releases?kind=binary&name=…&version=…&board=…[&board=…][&security_counter=N]
    /// [&min_version=V][&health_window=SECONDS][&health_attempts=N][&target_name=T][&allow_downgrade=true]
    /// [&unpack_max_bytes=N][&unpack_max_entries=N][&allow_setuid=true][&allow_root=true]` (the last four: OCI)
    /// with the artifact as the body, its `Content-Length`, and `Content-Digest: sha-256=:BASE64:`.
    static func addRelease(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        func text(_ key: String) -> String? { query.get(key) }
        guard let kindText = text("kind"), let kind = ReleaseKind(rawValue: kindText) else {
            throw ServerError.badRequest("give kind=binary or kind=oci")
        }
        guard let name = text("name") else { throw ServerError.badRequest("give the release name (name=…)") }
        guard let versionText = text("version"), let version = ReleaseVersion(versionText) else {
            throw ServerError.badRequest("give a SemVer version (version=1.2.3), not \"\(text("version") ?? "")\"")
        }
        let boards = query.getAll("board").map { String($0) }
        func integer(_ key: String, _ fallback: Int64) throws(ServerError) -> Int64 {
            guard let value = text(key) else { return fallback }
            guard let number = Int64(value) else { throw .badRequest("\(key) must be an integer, not \"\(value)\"") }
            return number
        }
        var minVersion: ReleaseVersion?
        if let minText = text("min_version") {
            guard let parsed = ReleaseVersion(minText) else { throw ServerError.badRequest("min_version \"\(minText)\" is not SemVer") }
            minVersion = parsed
        }
        let health = HealthPolicy(windowSeconds: try integer("health_window", 120), attempts: try integer("health_attempts", 3))
        guard (1...86_400).contains(health.windowSeconds), (1...100).contains(health.attempts) else {
            throw ServerError.badRequest("health_window must be 1 to 86400 seconds and health_attempts 1 to 100")
        }
        // An OCI image's unpack limits and permissions (docs/updater.md); the upload is checked with them.
        var unpack: [String: JSON] = [:]
        if text("unpack_max_bytes") != nil { unpack["max_bytes"] = .int(try integer("unpack_max_bytes", 0)) }
        if text("unpack_max_entries") != nil { unpack["max_entries"] = .int(try integer("unpack_max_entries", 0)) }
        if text("allow_setuid") == "true" { unpack["allow_setuid"] = .bool(true) }
        let allowRoot = text("allow_root") == "true"
        guard kind == .oci || (unpack.isEmpty && !allowRoot) else {
            throw ServerError.badRequest("unpack_max_bytes, unpack_max_entries, allow_setuid and allow_root apply to kind=oci only")
        }
        let custom = TargetCustom(kind: kind, name: name, version: version, boards: boards,
                                  securityCounter: try integer("security_counter", 0), minVersion: minVersion, health: health,
                                  unpack: unpack.isEmpty ? nil : .object(unpack), allowRoot: allowRoot)
        let spec = ReleaseSpec(custom: custom, targetName: text("target_name"), allowDowngrade: text("allow_downgrade") == "true")
        let length = request.headers[.contentLength].flatMap { Int64($0) }
        let digest = try contentDigest(request.headers[HTTPField.Name("Content-Digest")!])
        let record = try await service.addRelease(spec, body: request.body, declaredLength: length, declaredSHA256: digest)
        return Body.response(json(record), status: .created)
    }

    /// The SHA-256 of `Content-Digest: sha-256=:BASE64:` (RFC 9530) as hex; nil when absent.
    static func contentDigest(_ header: String?) throws(ServerError) -> String? {
        guard let header else { return nil }
        for item in header.split(separator: ",") {
            let trimmed = item.trimmingSpaces
            guard trimmed.hasPrefix("sha-256=:"), trimmed.hasSuffix(":"), trimmed.count > 10 else { continue }
            let base64 = trimmed.dropFirst(9).dropLast()
            guard let data = Data(base64Encoded: String(base64)), data.count == 32 else {
                throw .badRequest("Content-Digest sha-256 is not 32 bytes of base64")
            }
            return data.map { String(format: "%02x", $0) }.joined()
        }
        throw .badRequest("Content-Digest has no sha-256 value; send sha-256=:BASE64:")
    }

    static func json(_ release: ReleaseRecord) -> JSON {
        ["target": .string(release.target), "sha256": .string(release.sha256), "length": .int(release.length),
         "created_at": .int(release.createdAt), "custom": release.custom.json]
    }

    static func releases(_ service: UpdateService) async throws -> Response {
        let releases = try await service.store { store in
            return try store.releases()
        }
        return Body.response(.array(releases.map(json)))
    }

    static func release(_ service: UpdateService, _ context: some RequestContext) async throws -> Response {
        let target = context.parameters.get("target") ?? ""
        let release = try await service.store { store in
            return try store.release(target: target)
        }
        guard let release else { throw ServerError.notFound("no release \(target)") }
        return Body.response(json(release))
    }

    // MARK: Groups and devices

    static func addGroup(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Body.json(request, context)
        let name = try Body.decode { () throws(JSONError) in try body.requiredString("name") }
        guard Names.isIdentifier(name) else { throw ServerError.badRequest(Names.rule("group name", name)) }
        let now = service.clock()
        try await service.store { store in
            try store.addGroup(name: name, at: now)
        }
        return Body.response(["name": .string(name), "devices": 0, "created_at": .int(now)], status: .created)
    }

    static func groups(_ service: UpdateService) async throws -> Response {
        let groups = try await service.store { store in
            return try store.groups()
        }
        return Body.response(.array(groups.map { ["name": .string($0.name), "devices": .int(Int64($0.deviceCount)),
                                                   "created_at": .int($0.createdAt)] }))
    }

    /// Registers a device and answers its credentials once: the HTTP token and the DTLS key.
    static func addDevice(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Body.json(request, context)
        let (id, board, group) = try Body.decode { () throws(JSONError) in
            (try body.requiredString("id"), try body.requiredString("board"), try body.requiredString("group"))
        }
        let (token, psk) = try await service.addDevice(id: id, board: board, group: group)
        return Body.response(["id": .string(id), "board": .string(board), "group": .string(group),
                              "token": .string(token), "psk_identity": .string(id), "psk": .string(psk)], status: .created)
    }

    static func json(_ device: DeviceRecord) -> JSON {
        ["id": .string(device.id), "board": .string(device.board), "group": .string(device.group),
         "created_at": .int(device.createdAt), "last_seen": device.lastSeen.map { .int($0) } ?? .null,
         "version": device.version.map { .string($0) } ?? .null, "slot": device.slot.map { .string($0) } ?? .null,
         "health": device.health.map { .string($0) } ?? .null, "target": device.target.map { .string($0) } ?? .null,
         "last_error": device.lastError.map { .string($0) } ?? .null]
    }

    static func devices(_ service: UpdateService, _ request: Request) async throws -> Response {
        let group = request.uri.queryParameters.get("group")
        let devices = try await service.store { store in
            return try store.devices(group: group)
        }
        return Body.response(.array(devices.map(json)))
    }

    static func device(_ service: UpdateService, _ context: some RequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let (device, assignment) = try await service.store { store in
            return (try store.device(id: id), try store.assignment(device: id)?.0)
        }
        guard let device, case .object(var members) = json(device) else { throw ServerError.notFound("no device \(id)") }
        members["assignment"] = Assignment.json(assignment)
        return Body.response(.object(members))
    }

    // MARK: Deployments

    /// `{"target": "…", "group": "…", "waves": ["10%", "50%"], "max_failures": "1", "soak_s": 600,
    /// "allow_downgrade": false}`
    static func createDeployment(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Body.json(request, context)
        let deployment = try Body.decode { () throws(JSONError) in try DeploymentRequest(json: body) }
        let record = try await service.createDeployment(target: deployment.target, group: deployment.group, plan: deployment.plan,
                                                        allowDowngrade: deployment.allowDowngrade)
        return Body.response(try await json(service, record, devices: false), status: .created)
    }

    static func json(_ service: UpdateService, _ record: DeploymentRecord, devices: Bool) async throws -> JSON {
        let (progress, entries) = try await service.store { store in
            return (try store.progress(record), devices ? try store.deploymentDevices(record.id) : [])
        }
        var members: [String: JSON] = [
            "id": .int(record.id), "target": .string(record.target), "group": .string(record.group),
            "status": .string(record.state.status.rawValue), "wave": .int(Int64(record.state.wave + 1)),
            "waves": .int(Int64(record.machine.boundaries.count)), "plan": record.plan.json,
            "device_count": .int(Int64(record.deviceCount)), "reached": .int(Int64(progress.reached)),
            "succeeded": .int(Int64(progress.succeeded)), "failed": .int(Int64(progress.failed)),
            "pending": .int(Int64(progress.pending)), "halt_reason": record.state.haltReason.map { .string($0) } ?? .null,
            "created_at": .int(record.createdAt), "updated_at": .int(record.updatedAt),
        ]
        if devices {
            members["devices"] = .array(entries.map { entry -> JSON in
                var item: [String: JSON] = ["device": .string(entry.device), "position": .int(Int64(entry.position))]
                item["reached"] = .bool(entry.position < record.reachedCount)
                item["outcome"] = .string(entry.outcome.rawValue)
                item["error"] = entry.error.map { JSON.string($0) } ?? .null
                item["reported_at"] = entry.reportedAt.map { JSON.int($0) } ?? .null
                return .object(item)
            })
        }
        return .object(members)
    }

    static func deployments(_ service: UpdateService) async throws -> Response {
        let records = try await service.store { store in
            return try store.deployments()
        }
        var out: [JSON] = []
        for record in records { out.append(try await json(service, record, devices: false)) }
        return Body.response(.array(out))
    }

    static func deploymentID(_ context: some RequestContext) throws(ServerError) -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text) else {
            throw .badRequest("a deployment id is a number")
        }
        return id
    }

    static func deployment(_ service: UpdateService, _ context: some RequestContext) async throws -> Response {
        let id = try deploymentID(context)
        let record = try await service.store { store in
            return try store.deployment(id: id)
        }
        guard let record else { throw ServerError.notFound("no deployment \(id)") }
        return Body.response(try await json(service, record, devices: true))
    }

    static func halt(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let id = try deploymentID(context)
        var reason = "halted by an operator"
        if request.headers[.contentLength].flatMap(Int.init) ?? 0 > 0 {
            let body = try await Body.json(request, context)
            reason = try Body.decode { () throws(JSONError) in try body.optionalString("reason") } ?? reason
        }
        let record = try await service.halt(deployment: id, reason: reason)
        return Body.response(try await json(service, record, devices: false))
    }

    static func resume(_ service: UpdateService, _ context: some RequestContext) async throws -> Response {
        let record = try await service.resume(deployment: try deploymentID(context))
        return Body.response(try await json(service, record, devices: false))
    }
}

/// The device API: check-ins and reports, both answered with the device's assignment.
enum DeviceAPI {
    static func deviceID(_ context: some RequestContext) -> String { context.parameters.get("device") ?? "" }

    static func checkIn(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Body.json(request, context)
        let checkIn = try Body.decode { () throws(JSONError) in try CheckIn(json: body) }
        let assignment = try await service.checkIn(device: deviceID(context), checkIn)
        return Body.response(Assignment.json(assignment))
    }

    static func report(_ service: UpdateService, _ request: Request, _ context: some RequestContext) async throws -> Response {
        let body = try await Body.json(request, context)
        let report = try Body.decode { () throws(JSONError) in try UpdateReport(json: body) }
        let assignment = try await service.report(device: deviceID(context), report)
        return Body.response(Assignment.json(assignment))
    }

    static func assignment(_ service: UpdateService, _ context: some RequestContext) async throws -> Response {
        Body.response(Assignment.json(try await service.assignment(device: deviceID(context))))
    }
}
