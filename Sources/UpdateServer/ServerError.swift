import Hummingbird
import JSON
import UpdateStore

/// A failed request: the HTTP status and a message that says what went wrong and what to do.
/// Every error leaves the server as `{"error": "…"}`.
public struct ServerError: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        let body = JSON.object(["error": .string(message)]).serialized() + "\n"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    static func badRequest(_ message: String) -> ServerError { ServerError(.badRequest, message) }
    static func notFound(_ message: String) -> ServerError { ServerError(.notFound, message) }
    static func conflict(_ message: String) -> ServerError { ServerError(.conflict, message) }

    /// Store errors: the caller's mistakes are 4xx, the database's are 503 (try again) or 500.
    init(_ error: StoreError) {
        switch error.code {
        case .notFound: self.init(.notFound, error.message)
        case .conflict: self.init(.conflict, error.message)
        case .invalid: self.init(.badRequest, error.message)
        default:
            self.init(error.isRetryable ? .serviceUnavailable : .internalServerError, "store: \(error.message)")
        }
    }
}
