import Foundation
import Hummingbird
import NIOPosix

/// Conditional and partial GETs (RFC 9110): a strong ETag, If-None-Match → 304, one byte range →
/// 206 (or 416 when it lies past the end), If-Range, and a Content-Length on every answer. Several
/// ranges in one request are answered with the whole body, which RFC 9110 allows.
enum ByteRange: Equatable {
    case whole
    case part(ClosedRange<Int64>)
    case unsatisfiable

    static func parse(_ header: String?, size: Int64) -> ByteRange {
        guard let header, header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // bytes=-N: the last N bytes.
            guard let suffix = Int64(last), suffix >= 0 else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - suffix)...(size - 1))
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard let value = Int64(last), value >= start else { return .whole }
            end = min(value, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .part(start...end)
    }
}

/// The pieces of a GET answer that do not depend on where the bytes come from.
struct Representation {
    var size: Int64
    /// Quoted strong validator, e.g. `"9f86d0…"`.
    var etag: String
    var contentType: String
    var cacheControl: String

    /// The status and headers for `request`, and the byte range to send (nil: no body).
    func answer(_ request: Request) -> (HTTPResponse.Status, HTTPFields, ClosedRange<Int64>?) {
        var headers: HTTPFields = [:]
        headers[.eTag] = etag
        headers[.acceptRanges] = "bytes"
        headers[.cacheControl] = cacheControl
        let matches = request.headers[values: .ifNoneMatch].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if matches.contains(etag) || matches.contains("*") {
            return (.notModified, headers, nil)
        }
        headers[.contentType] = contentType
        var range = ByteRange.parse(request.headers[.range], size: size)
        if let ifRange = request.headers[.ifRange], ifRange != etag { range = .whole }
        switch range {
        case .whole:
            headers[.contentLength] = String(size)
            return (.ok, headers, size > 0 ? 0...(size - 1) : nil)
        case .part(let part):
            headers[.contentLength] = String(part.count)
            headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound)/\(size)"
            return (.partialContent, headers, part)
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(size)"
            headers[.contentLength] = "0"
            headers[.contentType] = nil
            return (.rangeNotSatisfiable, headers, nil)
        }
    }
}

enum FileResponses {
    static let fileIO = FileIO(threadPool: .singleton)

    /// Streams `path` (or the requested part of it) without reading it into memory.
    static func file(_ path: String, _ representation: Representation, request: Request,
                     context: some RequestContext) async throws -> Response {
        let (status, headers, range) = representation.answer(request)
        guard let range, request.method != .head else {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let body = try await fileIO.loadFile(path: path, range: Int(range.lowerBound)...Int(range.upperBound),
                                             context: context, chunkLength: 256 * 1024)
        return Response(status: status, headers: headers, body: body)
    }

    /// Answers from bytes in memory (metadata).
    static func bytes(_ bytes: [UInt8], _ representation: Representation, request: Request) -> Response {
        let (status, headers, range) = representation.answer(request)
        guard let range, request.method != .head else {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let slice = bytes[Int(range.lowerBound)...Int(range.upperBound)]
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: slice)))
    }
}
