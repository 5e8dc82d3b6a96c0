import CryptoEVP
import Foundation
import HTTPGuard
import Hummingbird
import JSON
import Releases
import Rollout
import UpdateStore

/// The HTTP side every device reaches: TUF metadata and targets for any TUF client, the admin API
/// (admin tokens) and the device API (device tokens). The fleet page and /metrics are not here but
/// on the admin listener (`buildAdminRouter`). Tests drive the same router without sockets
/// (`app.test(.router)`).
public func buildRouter(_ service: UpdateService) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ErrorLogging())

    router.get("/health") { _, _ in "ok\n" }

    // TUF repository
    for method in [HTTPRequest.Method.get, .head] {
        router.on("/metadata/:name", method: method) { request, context in
            try await metadataFile(service, request: request, context: context)
        }
        router.on("/targets/**", method: method) { request, context in
            try await targetFile(service, request: request, context: context)
        }
    }

    // Admin API
    let admin = router.group("/api/v1").add(middleware: AdminAuthentication(service: service))
    admin.post("/releases") { request, context in try await AdminAPI.addRelease(service, request, context) }
    admin.get("/releases") { _, _ in try await AdminAPI.releases(service) }
    admin.get("/releases/:target") { _, context in try await AdminAPI.release(service, context) }
    admin.post("/groups") { request, context in try await AdminAPI.addGroup(service, request, context) }
    admin.get("/groups") { _, _ in try await AdminAPI.groups(service) }
    admin.post("/devices") { request, context in try await AdminAPI.addDevice(service, request, context) }
    admin.get("/devices") { request, _ in try await AdminAPI.devices(service, request) }
    admin.get("/devices/:id") { _, context in try await AdminAPI.device(service, context) }
    admin.post("/deployments") { request, context in try await AdminAPI.createDeployment(service, request, context) }
    admin.get("/deployments") { _, _ in try await AdminAPI.deployments(service) }
    admin.get("/deployments/:id") { _, context in try await AdminAPI.deployment(service, context) }
    admin.post("/deployments/:id/halt") { request, context in try await AdminAPI.halt(service, request, context) }
    admin.post("/deployments/:id/resume") { _, context in try await AdminAPI.resume(service, context) }

    // Device API
    let device = router.group("/api/v1/device").add(middleware: DeviceAuthentication(service: service))
    device.post("/checkin") { request, context in try await DeviceAPI.checkIn(service, request, context) }
    device.post("/report") { request, context in try await DeviceAPI.report(service, request, context) }
    device.get("/assignment") { _, context in try await DeviceAPI.assignment(service, context) }

    return router
}

/// The admin listener: the fleet page and /metrics, which name every device, its version and its
/// last error. It listens on loopback by default; elsewhere it needs an admin token (`Bearer`, or
/// as the password of HTTP basic auth for a browser).
public func buildAdminRouter(_ service: UpdateService, requireToken: Bool) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ErrorLogging())
    router.get("/health") { _, _ in "ok\n" }
    let pages = requireToken ? router.group("").add(middleware: AdminAuthentication(service: service, basic: true)) : router.group("")
    pages.get("/") { _, _ in try await fleetPage(service) }
    pages.get("/metrics") { _, _ in try await service.metrics.render(service) }
    return router
}

// MARK: TUF files

/// `N.root.json`, `root.json`, `timestamp.json`, `N.snapshot.json`, `N.targets.json` (and any
/// other file the repository wrote), straight from `REPO/metadata`.
func metadataFile(_ service: UpdateService, request: Request, context: some RequestContext) async throws -> Response {
    let name = context.parameters.get("name") ?? ""
    guard name.hasSuffix(".json"), !name.hasPrefix("."), !name.utf8.contains(UInt8(ascii: "/")),
          name.utf8.allSatisfy({ Names.isIdentifier(String(UnicodeScalar($0))) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }),
          let bytes = readSmallFile(service.repository.metadataDirectory + "/" + name) else {
        throw ServerError.notFound("no metadata \(name)")
    }
    // Versioned files never change; the unversioned ones (timestamp.json, root.json) do.
    let versioned = name.first.map { $0.isNumber } ?? false
    let representation = Representation(size: Int64(bytes.count), etag: "\"\(Hex.encode(Digest.sha256(bytes)))\"",
                                        contentType: "application/json",
                                        cacheControl: versioned ? "public, max-age=31536000, immutable" : "no-cache")
    return FileResponses.bytes(bytes, representation, request: request)
}

/// Targets by consistent-snapshot name (`HASH.NAME`, as TUF clients fetch them) or by plain name.
func targetFile(_ service: UpdateService, request: Request, context: some RequestContext) async throws -> Response {
    let path = context.parameters.getCatchAll().joined(separator: "/")
    // Bytes, not Characters: a "/" after a prepend scalar or before a combining one is one Character.
    guard !path.isEmpty, !path.utf8.contains(UInt8(ascii: "/")), !path.utf8.contains(0),
          path.utf8.first != UInt8(ascii: ".") else { throw ServerError.notFound("no target \(path)") }
    var sha256: String?
    var name = path
    let bytes = Array(path.utf8)
    if bytes.count > 65, bytes[64] == UInt8(ascii: "."),
       bytes[..<64].allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
        sha256 = String(decoding: bytes[..<64], as: UTF8.self)
        name = String(decoding: bytes[65...], as: UTF8.self)
    }
    if sha256 == nil {
        let target = path
        let release = try await service.store { store in try store.release(target: target) }
        sha256 = release?.sha256
    }
    guard let sha256 else { throw ServerError.notFound("no target \(path)") }
    let file = service.repository.targetPath(name: name, sha256: sha256)
    var info = stat()
    guard stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw ServerError.notFound("no target \(path)") }
    let representation = Representation(size: Int64(info.st_size), etag: "\"\(sha256)\"",
                                        contentType: "application/octet-stream",
                                        cacheControl: "public, max-age=31536000, immutable")
    return try await FileResponses.file(file, representation, request: request, context: context)
}

/// A metadata file (at most 16 MiB), or nil.
func readSmallFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { return bytes }
        bytes += chunk[0..<count]
        if bytes.count > 16 << 20 { return nil }
    }
}

// MARK: Authentication

/// Admin routes need `Authorization: Bearer <admin token>`.
struct AdminAuthentication<Context: RequestContext>: RouterMiddleware {
    let service: UpdateService
    /// Also take the token as a basic-auth password, so a browser can open the admin pages.
    var basic = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization]
        guard let token = basic ? authorizationSecret(header) : Credentials.bearer(header) else {
            throw ServerError(.unauthorized, "send an admin token: Authorization: Bearer nea_… (nanoedge update-server token create)"
                              + (basic ? ", or log in with it as the password" : ""),
                              headers: [.wwwAuthenticate: basic ? "Basic realm=\"nanoedge update server\"" : "Bearer"])
        }
        let hash = Credentials.hash(token)
        let name = try await service.store { store in
            return try store.tokenName(hash: hash)
        }
        guard name != nil else {
            throw ServerError(.unauthorized, "the admin token is not valid (revoked, or from another server)",
                              headers: [.wwwAuthenticate: basic ? "Basic realm=\"nanoedge update server\""
                                                                : "Bearer error=\"invalid_token\""])
        }
        return try await next(request, context)
    }
}

/// Device routes need the device's own token; the device id comes from it, never from the request.
struct DeviceAuthentication<Context: RequestContext>: RouterMiddleware {
    let service: UpdateService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = Credentials.bearer(request.headers[.authorization]) else {
            throw ServerError(.unauthorized, "send the device token: Authorization: Bearer ned_…", headers: [.wwwAuthenticate: "Bearer"])
        }
        let hash = Credentials.hash(token)
        let device = try await service.store { store in
            return try store.deviceID(tokenHash: hash)
        }
        guard let device else {
            throw ServerError(.unauthorized, "the device token is not valid", headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\""])
        }
        var context = context
        context.coreContext.parameters["device"] = Substring(device)
        return try await next(request, context)
    }
}

/// Logs server-side failures (5xx); client mistakes are the client's to read.
struct ErrorLogging<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServerError where error.status.code >= 500 {
            serverLog.error("\(request.method) \(request.uri.path): \(error.message)")
            throw error
        }
    }
}

// MARK: Bodies

enum Body {
    static let limit = 64 * 1024

    /// The request body as a JSON object, or a 400 that says why not.
    static func json(_ request: Request, _ context: some RequestContext) async throws -> JSON {
        if let type = request.headers[.contentType], !type.hasPrefix("application/json") {
            throw ServerError(.unsupportedMediaType, "send application/json, not \(type)")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch {
            throw ServerError(.contentTooLarge, "the body is over \(limit) bytes")
        }
        do {
            let json = try JSON.parse(buffer.readableBytesView, limits: JSONLimits(maxBytes: limit))
            guard case .object = json else { throw JSONError("expected a JSON object") }
            return json
        } catch {
            throw ServerError.badRequest("malformed JSON body: \(error)")
        }
    }

    static func response(_ json: JSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: json.serialized() + "\n")))
    }

    /// A JSON schema error as a 400.
    static func decode<T>(_ build: () throws(JSONError) -> T) throws(ServerError) -> T {
        do { return try build() } catch { throw .badRequest(error.message) }
    }
}
