import CCoAP
import Reactor

/// An outstanding request or observation, keyed by its token.
final class PendingExchange {
    let session: OpaquePointer
    let isObservation: Bool
    var timer: Reactor.TimerID?
    private var callback: ((Result<CoAPResponse, CoAPError>) -> Void)?

    init(session: OpaquePointer, isObservation: Bool, callback: @escaping (Result<CoAPResponse, CoAPError>) -> Void) {
        self.session = session
        self.isObservation = isObservation
        self.callback = callback
    }

    func deliver(_ result: Result<CoAPResponse, CoAPError>) { callback?(result) }

    func finish(_ result: Result<CoAPResponse, CoAPError>) {
        let callback = self.callback
        self.callback = nil
        callback?(result)
    }
}

/// A client session to one peer. Use it on the context's reactor thread only.
public final class CoAPSession {
    unowned let context: CoAPContext
    private(set) var raw: OpaquePointer?
    let identityBytes: UnsafeMutableBufferPointer<UInt8>
    let keyBytes: UnsafeMutableBufferPointer<UInt8>
    /// Lifecycle events: connected, closed, failed.
    public var onEvent: ((CoAPSessionEvent) -> Void)?

    init(context: CoAPContext, credentials: PSKCredentials?) {
        self.context = context
        identityBytes = .allocate(capacity: max(1, credentials?.identity.utf8.count ?? 0))
        keyBytes = .allocate(capacity: max(1, credentials?.key.count ?? 0))
        if let credentials {
            _ = identityBytes.initialize(from: credentials.identity.utf8)
            _ = keyBytes.initialize(from: credentials.key)
        }
    }

    func attach(_ raw: OpaquePointer) { self.raw = raw }

    /// libcoap frees the session with its context; forget it without touching the context.
    func contextWillClose() { raw = nil }

    deinit {
        close()
        identityBytes.deallocate()
        keyBytes.deallocate()
    }

    /// Sets libcoap's retransmission: first ACK timeout and how many times to resend a CON.
    public func setRetransmission(ackTimeoutMilliseconds: Int, maxRetransmit: Int) {
        guard let raw else { return }
        let fixed = coap_fixed_point_t(integer_part: UInt16(ackTimeoutMilliseconds / 1000),
                                       fractional_part: UInt16(ackTimeoutMilliseconds % 1000))
        coap_session_set_ack_timeout(raw, fixed)
        coap_session_set_max_retransmit(raw, UInt16(maxRetransmit))
    }

    /// Sends a request; `completion` runs on the reactor thread exactly once.
    /// A 4.xx/5.xx answer arrives as `.failure` with `.response(code)`.
    public func send(_ request: CoAPRequest, timeoutMilliseconds: Int64 = 10_000,
                     completion: @escaping (Result<CoAPResponse, CoAPError>) -> Void) {
        guard let raw else {
            completion(.failure(CoAPError(.cancelled, "the session is closed")))
            return
        }
        let token = context.nextToken()
        let exchange = PendingExchange(session: raw, isObservation: false, callback: completion)
        context.register(exchange, token: token, timeoutMilliseconds: timeoutMilliseconds)
        if let error = transmit(request, token: token, observe: nil) {
            context.finishExchange(token)
            exchange.finish(.failure(error))
        }
    }

    /// Registers an observation of `path`. `onNotification` runs for the first response and
    /// every notification; after a `.failure` the observation is over.
    @discardableResult
    public func observe(_ path: String, query: String = "",
                        onNotification: @escaping (Result<CoAPResponse, CoAPError>) -> Void) -> CoAPObservation {
        let token = context.nextToken()
        let observation = CoAPObservation(session: self, token: token)
        guard let raw else {
            onNotification(.failure(CoAPError(.cancelled, "the session is closed")))
            return observation
        }
        let exchange = PendingExchange(session: raw, isObservation: true, callback: onNotification)
        context.register(exchange, token: token, timeoutMilliseconds: nil)
        if let error = transmit(CoAPRequest(.get, path, query: query), token: token, observe: 0) {
            context.finishExchange(token)
            exchange.finish(.failure(error))
        }
        return observation
    }

    /// Releases the libcoap session; pending exchanges fail with `.cancelled`.
    public func close() {
        guard let raw else { return }
        self.raw = nil
        context.failAll(session: raw, CoAPError(.cancelled, "session closed"))
        context.forget(session: raw)
        coap_session_release(raw)
    }

    func cancelObservation(token: UInt64) {
        context.finishExchange(token)
        guard let raw else { return }
        var bytes = tokenBytes(token)
        bytes.withUnsafeMutableBufferPointer { buffer in
            var binary = coap_binary_t(length: 8, s: buffer.baseAddress)
            _ = coap_cancel_observe(raw, &binary, COAP_MESSAGE_CON)
        }
    }

    private func transmit(_ request: CoAPRequest, token: UInt64, observe: UInt32?) -> CoAPError? {
        guard let raw else { return CoAPError(.cancelled, "session closed") }
        let type = request.confirmable ? COAP_MESSAGE_CON : COAP_MESSAGE_NON
        guard let pdu = coap_new_pdu(type, coap_pdu_code_t(rawValue: UInt32(request.method.rawValue)), raw) else {
            return CoAPError(.setup, "libcoap could not allocate a PDU")
        }
        let token = tokenBytes(token)
        _ = token.withUnsafeBufferPointer { coap_add_token(pdu, 8, $0.baseAddress) }

        var options: UnsafeMutablePointer<coap_optlist_t>? = nil
        func add(_ number: Int32, _ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { buffer in
                _ = coap_insert_optlist(&options, coap_new_optlist(UInt16(number), buffer.count, buffer.baseAddress))
            }
        }
        func uint(_ value: UInt32) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: 4)
            let length = buffer.withUnsafeMutableBufferPointer { coap_encode_var_safe($0.baseAddress, 4, value) }
            return Array(buffer.prefix(Int(length)))
        }
        if let observe { add(COAP_OPTION_OBSERVE, uint(observe)) }
        for segment in request.path.split(separator: "/") { add(COAP_OPTION_URI_PATH, Array(segment.utf8)) }
        if let format = request.contentFormat { add(COAP_OPTION_CONTENT_FORMAT, uint(UInt32(format))) }
        for item in request.query.split(separator: "&") { add(COAP_OPTION_URI_QUERY, Array(item.utf8)) }
        if options != nil {
            _ = coap_add_optlist_pdu(pdu, &options)
            coap_delete_optlist(options)
        }
        if !request.payload.isEmpty {
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: request.payload.count)
            request.payload.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: $0.count) }
            guard coap_add_data_large_request(raw, pdu, request.payload.count, buffer, releaseBuffer, buffer) != 0 else {
                buffer.deallocate()
                coap_delete_pdu(pdu)
                return CoAPError(.setup, "libcoap refused a body of \(request.payload.count) bytes")
            }
        }
        guard coap_send(raw, pdu) != COAP_INVALID_MID else {
            return CoAPError(.notDelivered, "libcoap could not send the request (session failed?)")
        }
        return nil
    }

    private func tokenBytes(_ token: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: token >> (56 - 8 * UInt64($0))) }
    }
}

/// A running observation; `cancel()` deregisters it at the server.
public final class CoAPObservation {
    private weak var session: CoAPSession?
    let token: UInt64

    init(session: CoAPSession, token: UInt64) {
        self.session = session
        self.token = token
    }

    public func cancel() { session?.cancelObservation(token: token) }
}
