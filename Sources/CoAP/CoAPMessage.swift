/// A request as a handler sees it, or as a client sends it.
public struct CoAPRequest: Sendable {
    public var method: CoAPMethod
    /// Path without a leading slash, e.g. `registry/persons`.
    public var path: String
    /// Query without `?`, items joined with `&`.
    public var query: String
    public var payload: [UInt8]
    public var contentFormat: UInt16?
    /// Confirmable (retransmitted until acknowledged) or non-confirmable.
    public var confirmable: Bool
    /// The DTLS PSK identity of the peer (server side only).
    public var identity: String?
    /// True when this GET registers (or refreshes) an observation.
    public var isObserve: Bool

    public init(_ method: CoAPMethod, _ path: String, query: String = "", payload: [UInt8] = [],
                contentFormat: UInt16? = nil, confirmable: Bool = true) {
        self.method = method
        self.path = path.hasPrefix("/") ? String(path.dropFirst()) : path
        self.query = query
        self.payload = payload
        self.contentFormat = contentFormat
        self.confirmable = confirmable
        self.identity = nil
        self.isObserve = false
    }

    /// The value of `key=value` in the query, if present.
    public func queryValue(_ key: String) -> String? {
        for item in query.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first.map(String.init) == key { return parts.count == 2 ? String(parts[1]) : "" }
        }
        return nil
    }
}

public struct CoAPResponse: Sendable {
    public var code: CoAPCode
    public var payload: [UInt8]
    public var contentFormat: UInt16?
    /// Observe sequence number, on notifications.
    public var observe: UInt32?
    /// Max-Age in seconds; on a 4.29 or 5.03 it tells the client when to retry (RFC 8516).
    public var maxAge: UInt32?

    public init(_ code: CoAPCode, payload: [UInt8] = [], contentFormat: UInt16? = nil, maxAge: UInt32? = nil) {
        self.code = code
        self.payload = payload
        self.contentFormat = contentFormat
        self.observe = nil
        self.maxAge = maxAge
    }

    public init(_ code: CoAPCode, text: String) {
        self.init(code, payload: Array(text.utf8), contentFormat: ContentFormat.textPlain)
    }

    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// What went wrong with a CoAP exchange, with what to do about it.
public struct CoAPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The peer answered with a 4.xx or 5.xx code.
        case response(CoAPCode)
        /// No answer within the request's timeout.
        case timeout
        /// libcoap gave up after its retransmissions.
        case notDelivered
        /// The DTLS handshake failed: wrong PSK identity or key, or no DTLS server.
        case dtlsFailed
        /// The peer reset the exchange.
        case reset
        case invalidAddress
        /// Another socket holds the listen address (EADDRINUSE).
        case addressInUse
        case setup
        case cancelled
    }

    public var kind: Kind
    public var message: String
    /// The answer's Max-Age on a 4.29 or 5.03: seconds to wait before retrying.
    public var retryAfterSeconds: UInt32?

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A 4.xx or 5.xx answer.
    public init(response: CoAPResponse) {
        self.init(.response(response.code), response.text)
        if response.code == .tooManyRequests || response.code == .serviceUnavailable {
            retryAfterSeconds = response.maxAge
        }
    }

    public var code: CoAPCode? {
        if case .response(let code) = kind { return code }
        return nil
    }

    public var description: String {
        if case .response(let code) = kind { return "\(code) \(message)" }
        return message
    }
}
