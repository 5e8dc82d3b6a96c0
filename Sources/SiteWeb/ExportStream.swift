import Foundation
import Gateway
import Hummingbird
import JSON

/// `GET /export/{visits|presence|scans}?since=MS&until=MS&format=jsonl|csv&follow=1`: the same rows
/// as `nanoedge export`, streamed as they are read. With `follow=1` (presence and scans) the
/// response stays open and new rows are written as the gateway records them, until the client goes.
extension SiteWeb {
    static let followPoll: Duration = .milliseconds(250)

    func export(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        guard let kindText = context.parameters.get("kind"), let kind = SiteExport.Kind(rawValue: kindText) else {
            throw HTTPError(.notFound, message: "export kinds: visits, presence, scans")
        }
        let query = request.uri.queryParameters
        let formatText = query.get("format") ?? "jsonl"
        guard let format = SiteExport.Format(rawValue: formatText) else {
            throw HTTPError(.badRequest, message: "format must be jsonl or csv")
        }
        let since = query.get("since", as: Int64.self) ?? 0
        let follow = query.get("follow") == "1"
        if follow && kind == .visits {
            throw HTTPError(.badRequest, message: "follow streams presence or scans")
        }
        let until = follow ? Int64.max : (query.get("until", as: Int64.self) ?? Self.now())
        guard since < until else { throw HTTPError(.badRequest, message: "since must be before until") }
        let exporter = SiteExport(siteKey: siteKey)
        let path = databasePath

        var headers = HTTPFields()
        headers[.contentType] = format == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson"
        headers[.cacheControl] = "no-store"
        let body = ResponseBody { writer in
            func line(_ row: [String: JSON]) -> String {
                (format == .csv ? SiteExport.csvLine(row, kind: kind) : SiteExport.jsonLine(row)) + "\n"
            }
            if format == .csv { try await writer.write(ByteBuffer(string: SiteExport.csvHeader(kind) + "\n")) }
            let store = try SiteStore(path: path, readOnly: true)
            switch kind {
            case .visits:
                for visit in try store.visits(openedFrom: since, until: until) {
                    try await writer.write(ByteBuffer(string: line(exporter.row(visit))))
                }
            case .presence, .scans:
                let eventKind = kind == .presence ? "motion" : "scan"
                var last: Int64 = 0
                repeat {
                    var chunk = ""
                    for (id, event) in try store.deviceEvents(kinds: [eventKind], since: since, until: until, afterID: last) {
                        if let row = exporter.row(event) { chunk += line(row) }
                        last = id
                    }
                    if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
                    if follow { try await Task.sleep(for: Self.followPoll) }
                } while follow && !Task.isCancelled
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
