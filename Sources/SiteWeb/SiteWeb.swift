import FleetPage
import Foundation
import Gateway
import HTTPGuard
import Hummingbird
import JSON
import Prometheus
import Site

/// The gateway's HTTP side, next to its CoAP/DTLS endpoint: the site page, /metrics, JSON for the
/// page's live refresh, and the export stream. It reads the site database through its own
/// read-only connections (SQLite WAL), so it never blocks the CoAP loop.
public struct SiteWeb: Sendable {
    public let databasePath: String
    public let registry: PrometheusCollectorRegistry
    public let siteKey: [UInt8]?
    /// A device not heard from (event or heartbeat registration) for this long shows as offline.
    public var offlineAfterMs: Int64 = 20_000

    public init(databasePath: String, registry: PrometheusCollectorRegistry, siteKey: [UInt8]? = nil) {
        self.databasePath = databasePath
        self.registry = registry
        self.siteKey = siteKey
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func openStore() throws -> SiteStore {
        do {
            return try SiteStore(path: databasePath, readOnly: true)
        } catch {
            throw HTTPError(.serviceUnavailable, message: "site database not readable: \(error)")
        }
    }

    /// With a token, every route needs it (Bearer, or as the basic-auth password); the page names
    /// people and devices, so it is open only to this host (loopback) or to holders of the token.
    public func buildRouter(token: String? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        if let token { router.add(middleware: TokenAuthentication(token: token, realm: "nanoedge site")) }
        router.get("/") { _, _ in try self.page() }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.registry.emitToBuffer())))
        }
        router.get("/api/devices") { _, _ in try self.json(self.devicesJSON()) }
        router.get("/api/visits") { request, _ in
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 50
            return try self.json(self.visitsJSON(limit: max(1, min(limit, 1000))))
        }
        router.get("/export/:kind") { request, context in try self.export(request, context) }
        return router
    }

    // MARK: Page

    func pageModel() throws -> FleetPage {
        let store = try openStore()
        let devices = try store.devices().map { device in
            FleetPage.Device(id: device.id, board: device.board.isEmpty ? "—" : device.board,
                             version: device.version.isEmpty ? "—" : device.version, location: device.location,
                             roles: device.roles, lastSeen: device.lastSeen)
        }
        let visits = try store.visits().suffix(20).reversed().map { visit in
            FleetPage.Visit(id: visit.id, statuses: visit.statuses.map(\.description), person: visit.person,
                            room: visit.room, openedAt: visit.openedAt, closed: visit.closedAt != nil)
        }
        var page = FleetPage(title: "nanoedge site", devices: devices, visits: Array(visits))
        page.offlineAfterMs = offlineAfterMs
        return page
    }

    func page() throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: try pageModel().render(now: Self.now()))))
    }

    // MARK: JSON

    func devicesJSON() throws -> JSON {
        let now = Self.now()
        return .array(try openStore().devices().map { device in
            ["id": .string(device.id), "roles": .array(device.roles.map { .string($0) }),
             "location": .string(device.location), "board": .string(device.board), "version": .string(device.version),
             "last_seen": device.lastSeen.map { .int($0) } ?? .null,
             "online": .bool(device.lastSeen.map { now - $0 <= offlineAfterMs } ?? false)]
        })
    }

    func visitsJSON(limit: Int) throws -> JSON {
        let exporter = SiteExport(siteKey: siteKey)
        return .array(try openStore().visits().suffix(limit).map { .object(exporter.row($0)) })
    }

    func json(_ value: JSON) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized() + "\n")))
    }
}

