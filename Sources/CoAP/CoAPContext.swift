import CCoAP
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// How a server accepts peers.
public enum CoAPServerSecurity {
    /// Plain CoAP over UDP: for a lab only.
    case plain
    /// DTLS with a pre-shared key per identity; `keyForIdentity` returns nil to refuse one.
    case psk(hint: String, keyForIdentity: (String) -> [UInt8]?)
}

/// A device's DTLS identity and key.
public struct PSKCredentials: Sendable, Equatable {
    public var identity: String
    public var key: [UInt8]
    public init(identity: String, key: [UInt8]) {
        self.identity = identity
        self.key = key
    }
}

/// Session lifecycle events a client sees.
public enum CoAPSessionEvent: Sendable, Equatable {
    case connected
    case closed
    /// The DTLS handshake failed or the session broke; pending requests failed with it.
    case failed(String)
}

/// One libcoap context, owned by one reactor thread.
///
/// libcoap 4.3.1 is not thread-safe, so every method here must run on `reactor`'s thread.
/// Other threads hand work over with `reactor.execute` (see `CoAPClient` for an async facade).
public final class CoAPContext {
    public let reactor: Reactor
    let raw: OpaquePointer
    /// Request bodies above this get 4.13 before any handler runs.
    public var maxRequestBodyBytes = 64 * 1024

    var resources: [String: CoAPResource] = [:]
    var pending: [UInt64: PendingExchange] = [:]
    var sessions: [OpaquePointer: WeakSession] = [:]
    private var keyForIdentity: ((String) -> [UInt8]?)?
    private let pskScratch: UnsafeMutablePointer<coap_bin_const_t>
    private let pskScratchKey: UnsafeMutablePointer<UInt8>
    private static let pskScratchCapacity = 64
    private var pskHint: [UInt8] = []
    private var tokenCounter: UInt64
    private var watchID: Reactor.WatchID?
    /// libcoap's epoll fd.
    private let epollFD: Int32
    private var hookID: Int?
    /// Server-side DTLS sessions currently open.
    public private(set) var serverSessionCount = 0
    /// Limits on DTLS handshakes for the listeners made after it is set (see `HandshakeLimits`).
    public var handshakeLimits = HandshakeLimits() {
        didSet { handshakeGate?.update(limits: handshakeLimits) }
    }
    /// Stands in front of every DTLS listen socket; nil until one exists.
    private var handshakeGate: DTLSHandshakeGate?
    /// What the handshake gate did so far.
    public var handshakeStats: HandshakeGateStats { handshakeGate?.stats ?? HandshakeGateStats() }

    private static let libraryStarted: Bool = {
        coap_startup()
        let level = getenv("NANOEDGE_COAP_LOG").flatMap { Int32(String(cString: $0)) } ?? 3  // LOG_ERR
        nanoedge_coap_set_log_levels(level)
        return true
    }()

    public init(reactor: Reactor) throws(CoAPError) {
        _ = CoAPContext.libraryStarted
        guard let ctx = coap_new_context(nil) else {
            throw CoAPError(.setup, "libcoap could not create a context (out of memory?)")
        }
        let fd = coap_context_get_coap_fd(ctx)
        guard fd >= 0 else {
            coap_free_context(ctx)
            throw CoAPError(.setup, "this libcoap build has no epoll support; nanoedge needs it")
        }
        epollFD = fd
        self.reactor = reactor
        raw = ctx
        pskScratch = .allocate(capacity: 1)
        pskScratchKey = .allocate(capacity: CoAPContext.pskScratchCapacity)
        var rng = SystemRandomNumberGenerator()
        tokenCounter = rng.next() & 0x0000_FFFF_FFFF_FFFF
        nanoedge_coap_set_block_mode(ctx, UInt32(COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY))
        coap_set_app_data(ctx, Unmanaged.passUnretained(self).toOpaque())
        coap_register_response_handler(ctx, coapResponseHandler)
        coap_register_nack_handler(ctx, coapNackHandler)
        coap_register_event_handler(ctx, coapEventHandler)

        // libcoap's epoll fd becomes readable for any of its sockets; it also keeps timers
        // (retransmits, DTLS), which prepare_epoll runs and reports as the next wake-up.
        watchID = reactor.watch(fd: fd) { [unowned self] _ in self.processIO() }
        hookID = reactor.addPollHook { [unowned self] in
            var now: coap_tick_t = 0
            coap_ticks(&now)
            let next = coap_io_prepare_epoll(self.raw, now)
            return next == 0 ? nil : Int64(next)
        }
    }

    deinit {
        // libcoap calls back while it frees sessions; none of those calls may reach this object now.
        coap_set_app_data(raw, nil)
        keyForIdentity = nil
        if let watchID { reactor.unwatch(watchID) }
        if let hookID { reactor.removePollHook(hookID) }
        // Sessions still held elsewhere must not reach back into a freed context.
        for session in sessions.values.compactMap(\.value) { session.contextWillClose() }
        for (_, exchange) in pending { exchange.finish(.failure(CoAPError(.cancelled, "context closed"))) }
        pending.removeAll()
        for resource in resources.values { resource.detach(contextRaw: raw) }
        coap_free_context(raw)
        pskScratch.deallocate()
        pskScratchKey.deallocate()
    }

    /// libcoap reads one datagram per listen socket per call: the gate looks at each one first.
    /// With a gate, this loop does libcoap's epoll_wait itself, so a listen socket is read by libcoap
    /// only right after the gate looked at its head: nothing can slip in between.
    private func processIO() {
        guard let gate = handshakeGate, !gate.isEmpty else {
            _ = coap_io_process(raw, UInt32.max)  // COAP_IO_NO_WAIT
            return
        }
        let sockets = gate.sockets
        var ready = [Int32](repeating: 0, count: sockets.count)
        let held = sockets.map(\.epollData)
        let seen = held.withUnsafeBufferPointer { held in
            ready.withUnsafeMutableBufferPointer { ready in
                nanoedge_coap_epoll_pass(raw, epollFD, held.baseAddress, Int32(held.count), ready.baseAddress)
            }
        }
        guard seen > 0 else { return }
        for (index, socket) in sockets.enumerated() where ready[index] != 0 {
            // Bounded, so a flood cannot keep the loop from timers and other work; the socket stays
            // readable and the reactor comes back to it.
            passes: for _ in 0..<64 {
                switch gate.filter(fd: socket.fd, now: Reactor.now()) {
                case .empty, .more:
                    break passes
                case .pass(let peers):
                    gate.reading(peers) { nanoedge_coap_epoll_read(raw, socket.epollData) }
                }
            }
        }
    }

    static func from(_ ctx: OpaquePointer?) -> CoAPContext? {
        guard let ctx, let data = coap_get_app_data(ctx) else { return nil }
        return Unmanaged<CoAPContext>.fromOpaque(data).takeUnretainedValue()
    }

    static func from(session: OpaquePointer?) -> CoAPContext? {
        guard let session else { return nil }
        return from(coap_session_get_context(session))
    }

    // MARK: Server

    /// Listens on `host:port`; call once per address and security mode.
    public func listen(host: String, port: UInt16, security: CoAPServerSecurity) throws(CoAPError) {
        var address = coap_address_t()
        let rc = nanoedge_coap_resolve(host, port, &address)
        guard rc == 0 else {
            throw CoAPError(.invalidAddress, "cannot resolve listen address \(host): \(String(cString: gai_strerror(rc)))")
        }
        let proto: coap_proto_t
        switch security {
        case .plain:
            proto = COAP_PROTO_UDP
        case .psk(let hint, let lookup):
            guard coap_dtls_is_supported() != 0 else {
                throw CoAPError(.setup, "libcoap was built without DTLS; install libcoap3 with OpenSSL")
            }
            keyForIdentity = lookup
            pskHint = Array(hint.utf8)
            try configureServerPSK()
            proto = COAP_PROTO_DTLS
        }
        let before = proto == COAP_PROTO_DTLS ? try listenSockets(port: port) : []
        // Looked for first: with libcoap's SO_REUSEADDR the bind below would succeed and share the port.
        if let holder = udpPortHolder(host: host, port: port) {
            throw CoAPError(.addressInUse, "UDP port \(port) is already taken by \(holder)")
        }
        guard coap_new_endpoint(raw, &address, proto) != nil else {
            let code = errno
            if code == EADDRINUSE { throw CoAPError(.addressInUse, "UDP port \(port) is already taken") }
            throw CoAPError(.setup, "cannot listen on \(host):\(port) (\(String(cString: strerror(code)))); is another server using the port?")
        }
        if proto == COAP_PROTO_DTLS {
            try guardHandshakes(newSockets: try listenSockets(port: port).subtracting(before), address: address)
        }
    }

    private func listenSockets(port: UInt16) throws(CoAPError) -> Set<Int32> {
        var fds = [Int32](repeating: -1, count: 1024)
        let n = fds.withUnsafeMutableBufferPointer { nanoedge_bound_udp_fds(port, $0.baseAddress, Int32($0.count)) }
        guard n >= 0 else { throw CoAPError(.setup, "cannot read /proc/self/fd to find the DTLS listen socket; is /proc mounted?") }
        return Set(fds.prefix(Int(n)))
    }

    /// Puts the gate in front of a new DTLS listen socket and sets libcoap's own limits to match it.
    private func guardHandshakes(newSockets: Set<Int32>, address: coap_address_t) throws(CoAPError) {
        var address = address
        guard !newSockets.isEmpty else {
            throw CoAPError(.setup, "cannot find the DTLS listen socket libcoap opened, so handshakes cannot be rate limited")
        }
        let gate = handshakeGate ?? DTLSHandshakeGate(limits: handshakeLimits)
        if handshakeGate == nil { try takeOverCookies(gate, probing: &address) }
        handshakeGate = gate
        for fd in newSockets.sorted() {
            var data: UInt64 = 0
            guard nanoedge_epoll_data_for_fd(epollFD, fd, &data) == 1 else {
                throw CoAPError(.setup, "cannot find libcoap's DTLS listen socket in its epoll set (/proc/self/fdinfo)")
            }
            gate.add(socket: fd, epollData: data)
        }
        // The gate admits at most maxHandshakes, so libcoap's own ceiling never turns one away.
        coap_context_set_max_handshake_sessions(raw, UInt32(handshakeLimits.maxHandshakes))
        // 0: libcoap never frees an established session to make room for a newcomer. A session needs a
        // provisioned PSK, and an idle one still ages out after libcoap's session timeout.
        coap_context_set_max_idle_sessions(raw, 0)
    }

    private static let cookieIndex: Int32 = nanoedge_ssl_ctx_new_index()
    fileprivate static var cookieIndexForCallbacks: Int32 { cookieIndex }

    /// libcoap exposes its SSL_CTX only through a session's SSL, and client and server sessions share
    /// it: a throwaway client session reaches it, so the gate's cookies pass libcoap's own check.
    private func takeOverCookies(_ gate: DTLSHandshakeGate, probing address: inout coap_address_t) throws(CoAPError) {
        var identity = Array("nanoedge-cookie-probe".utf8)
        var rng = SystemRandomNumberGenerator()
        var key = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let probe: OpaquePointer? = identity.withUnsafeMutableBufferPointer { id in
            key.withUnsafeMutableBufferPointer { k in
                var setup = coap_dtls_cpsk_t()
                setup.version = UInt8(COAP_DTLS_CPSK_SETUP_VERSION)
                setup.psk_info.identity = coap_bin_const_t(length: id.count, s: id.baseAddress)
                setup.psk_info.key = coap_bin_const_t(length: k.count, s: k.baseAddress)
                return coap_new_client_session_psk2(raw, nil, &address, COAP_PROTO_DTLS, &setup)
            }
        }
        guard let probe else { throw CoAPError(.setup, "libcoap could not open a DTLS session to set up cookie checks") }
        defer { coap_session_release(probe) }
        var library = COAP_TLS_LIBRARY_NOTLS
        guard let ssl = coap_session_get_tls(probe, &library), library == COAP_TLS_LIBRARY_OPENSSL else {
            throw CoAPError(.setup, "the DTLS handshake gate needs libcoap's OpenSSL backend (libcoap-3-openssl)")
        }
        let owner = Unmanaged.passUnretained(gate).toOpaque()
        guard nanoedge_take_over_cookies(ssl, CoAPContext.cookieIndex, owner, gateGenerateCookie, gateVerifyCookie) == 1 else {
            throw CoAPError(.setup, "could not install DTLS cookie callbacks on libcoap's OpenSSL context")
        }
    }

    private func configureServerPSK() throws(CoAPError) {
        var setup = coap_dtls_spsk_t()
        setup.version = UInt8(COAP_DTLS_SPSK_SETUP_VERSION)
        setup.validate_id_call_back = coapValidateIdentity
        setup.id_call_back_arg = Unmanaged.passUnretained(self).toOpaque()
        // A random default key: an identity the lookup refuses can never complete the handshake.
        var rng = SystemRandomNumberGenerator()
        var fallback = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let ok = pskHint.withUnsafeBufferPointer { hint in
            fallback.withUnsafeMutableBufferPointer { key in
                setup.psk_info.hint = coap_bin_const_t(length: hint.count, s: hint.baseAddress)
                setup.psk_info.key = coap_bin_const_t(length: key.count, s: key.baseAddress)
                return coap_context_set_psk2(raw, &setup)
            }
        }
        guard ok != 0 else { throw CoAPError(.setup, "libcoap refused the server PSK setup") }
    }

    /// Called by libcoap during a handshake; returns the key for `identity` or nil to refuse it.
    fileprivate func lookupKey(identity: String) -> UnsafePointer<coap_bin_const_t>? {
        guard let key = keyForIdentity?(identity), !key.isEmpty,
              key.count <= CoAPContext.pskScratchCapacity else { return nil }
        key.withUnsafeBufferPointer { pskScratchKey.update(from: $0.baseAddress!, count: key.count) }
        pskScratch.pointee = coap_bin_const_t(length: key.count, s: pskScratchKey)
        return UnsafePointer(pskScratch)  // libcoap copies it before the next callback
    }

    /// Adds a resource at `path` (no leading slash). `attributes` go into /.well-known/core.
    @discardableResult
    public func addResource(_ path: String, methods: [CoAPMethod] = [.get],
                            attributes: [(String, String)] = [], observable: Bool = false,
                            handler: @escaping (CoAPRequest) -> CoAPResponse) -> CoAPResource {
        if let existing = resources[path] { removeResource(existing) }
        let resource = CoAPResource(context: self, path: path, methods: methods, attributes: attributes,
                                    observable: observable, handler: handler)
        resources[path] = resource
        return resource
    }

    public func removeResource(_ resource: CoAPResource) {
        guard resources[resource.path] === resource else { return }
        resources[resource.path] = nil
        resource.detach(contextRaw: raw)
    }

    // MARK: Client

    /// Opens a client session. With `credentials`, DTLS-PSK; without, plain UDP (labs only).
    public func session(host: String, port: UInt16, credentials: PSKCredentials?) throws(CoAPError) -> CoAPSession {
        var address = coap_address_t()
        let rc = nanoedge_coap_resolve(host, port, &address)
        guard rc == 0 else {
            // mDNS names need a module the agent does not load (NameLookup.swift).
            let hint = host.hasSuffix(".local")
                ? "; names resolve through /etc/hosts and DNS only, not mDNS: use the gateway's address, a DNS name or an /etc/hosts entry"
                : ""
            throw CoAPError(.invalidAddress, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))\(hint)")
        }
        let session = CoAPSession(context: self, credentials: credentials)
        let raw: OpaquePointer?
        if let credentials {
            guard coap_dtls_is_supported() != 0 else {
                throw CoAPError(.setup, "libcoap was built without DTLS; install libcoap3 with OpenSSL")
            }
            var setup = coap_dtls_cpsk_t()
            setup.version = UInt8(COAP_DTLS_CPSK_SETUP_VERSION)
            setup.psk_info.identity = coap_bin_const_t(length: credentials.identity.utf8.count,
                                                       s: session.identityBytes.baseAddress)
            setup.psk_info.key = coap_bin_const_t(length: credentials.key.count, s: session.keyBytes.baseAddress)
            raw = coap_new_client_session_psk2(self.raw, nil, &address, COAP_PROTO_DTLS, &setup)
        } else {
            raw = coap_new_client_session(self.raw, nil, &address, COAP_PROTO_UDP)
        }
        guard let raw else { throw CoAPError(.setup, "libcoap could not create a session to \(host):\(port)") }
        session.attach(raw)
        sessions[raw] = WeakSession(session)
        return session
    }

    func nextToken() -> UInt64 {
        tokenCounter &+= 1
        return tokenCounter
    }

    // MARK: Callbacks from libcoap

    fileprivate func handleResponse(session: OpaquePointer?, received: OpaquePointer?) -> coap_response_t {
        guard let received, let token = tokenValue(received) else { return COAP_RESPONSE_FAIL }
        guard let exchange = pending[token] else {
            // Unknown token: an observation we cancelled, or a late reply after a timeout.
            return COAP_RESPONSE_FAIL
        }
        let response = CoAPContext.response(from: received)
        if exchange.isObservation {
            if response.code.isSuccess {
                exchange.deliver(.success(response))
                // A 2.xx without Observe means the server did not take the registration: it is over.
                if response.observe == nil { finishExchange(token) }
            } else {
                finishExchange(token)
                exchange.finish(.failure(CoAPError(response: response)))
            }
        } else {
            finishExchange(token)
            exchange.finish(response.code.isSuccess
                ? .success(response)
                : .failure(CoAPError(response: response)))
        }
        return COAP_RESPONSE_OK
    }

    fileprivate func handleNack(session: OpaquePointer?, sent: OpaquePointer?, reason: coap_nack_reason_t) {
        let error = CoAPContext.error(for: reason)
        if let sent, let token = tokenValue(sent) {
            if let exchange = pending[token] {
                finishExchange(token)
                exchange.finish(.failure(error))
            }
        } else if let session {
            failAll(session: session, error)
        }
    }

    fileprivate func handleEvent(session: OpaquePointer?, event: coap_event_t) {
        switch event {
        case COAP_EVENT_SERVER_SESSION_NEW:
            serverSessionCount += 1
            if let session, let gate = handshakeGate, coap_session_get_proto(session) == COAP_PROTO_DTLS,
               let remote = coap_session_get_addr_remote(session) {
                var address = [UInt8](repeating: 0, count: 16)
                var port: UInt16 = 0
                let length = address.withUnsafeMutableBufferPointer { nanoedge_coap_address_key(remote, $0.baseAddress, &port) }
                // A handshake that stalls is dropped after a few DTLS retransmissions, not libcoap's 31 s.
                let standard = coap_session_get_max_retransmit(session)
                coap_session_set_max_retransmit(session, UInt16(clamping: handshakeLimits.handshakeRetransmissions))
                gate.sessionCreated(session, peer: PeerKey(address: Array(address.prefix(length)), port: port),
                                    now: Reactor.now(), standardRetransmissions: standard)
            }
        case COAP_EVENT_SERVER_SESSION_DEL:
            serverSessionCount = max(0, serverSessionCount - 1)
            if let session { handshakeGate?.sessionDeleted(session) }
        case COAP_EVENT_DTLS_CONNECTED, COAP_EVENT_SESSION_CONNECTED:
            if let session, coap_session_get_type(session) == COAP_SESSION_TYPE_SERVER,
               let standard = handshakeGate?.sessionConnected(session) {
                coap_session_set_max_retransmit(session, standard)  // CoAP's own retransmissions from here on
            }
            if let session, let owner = sessions[session]?.value { owner.onEvent?(.connected) }
        case COAP_EVENT_DTLS_ERROR, COAP_EVENT_SESSION_FAILED:
            guard let session else { return }
            let error = CoAPError(.dtlsFailed, "DTLS handshake failed: check the device's PSK identity and key, and that the gateway is up")
            failAll(session: session, error)
            if let owner = sessions[session]?.value { owner.onEvent?(.failed(error.message)) }
        case COAP_EVENT_DTLS_CLOSED, COAP_EVENT_SESSION_CLOSED:
            guard let session else { return }
            failAll(session: session, CoAPError(.notDelivered, "the session to the peer closed"))
            if let owner = sessions[session]?.value { owner.onEvent?(.closed) }
        default:
            break
        }
    }

    func failAll(session: OpaquePointer, _ error: CoAPError) {
        for (token, exchange) in pending where exchange.session == session {
            finishExchange(token)
            exchange.finish(.failure(error))
        }
    }

    func register(_ exchange: PendingExchange, token: UInt64, timeoutMilliseconds: Int64?) {
        pending[token] = exchange
        if let timeoutMilliseconds {
            exchange.timer = reactor.schedule(afterMilliseconds: timeoutMilliseconds) { [weak self] in
                guard let self, let exchange = self.pending[token] else { return }
                self.pending[token] = nil
                exchange.finish(.failure(CoAPError(.timeout, "no response within \(timeoutMilliseconds) ms")))
            }
        }
    }

    func finishExchange(_ token: UInt64) {
        guard let exchange = pending.removeValue(forKey: token) else { return }
        if let timer = exchange.timer { reactor.cancel(timer) }
    }

    func forget(session: OpaquePointer) { sessions[session] = nil }

    private func tokenValue(_ pdu: OpaquePointer) -> UInt64? {
        let token = coap_pdu_get_token(pdu)
        guard token.length == 8, let bytes = token.s else { return nil }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[i]) }
        return value
    }

    static func payload(of pdu: OpaquePointer) -> [UInt8] {
        var length = 0
        var data: UnsafePointer<UInt8>?
        var offset = 0
        var total = 0
        guard coap_get_data_large(pdu, &length, &data, &offset, &total) != 0, let data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    static func response(from pdu: OpaquePointer) -> CoAPResponse {
        let code = CoAPCode(rawValue: UInt8(truncatingIfNeeded: coap_pdu_get_code(pdu).rawValue))
        var response = CoAPResponse(code, payload: payload(of: pdu))
        var value: UInt32 = 0
        if nanoedge_coap_uint_option(pdu, UInt16(COAP_OPTION_CONTENT_FORMAT), &value) != 0 {
            response.contentFormat = UInt16(truncatingIfNeeded: value)
        }
        if nanoedge_coap_uint_option(pdu, UInt16(COAP_OPTION_OBSERVE), &value) != 0 {
            response.observe = value
        }
        if nanoedge_coap_uint_option(pdu, UInt16(COAP_OPTION_MAXAGE), &value) != 0 {
            response.maxAge = value
        }
        return response
    }

    static func error(for reason: coap_nack_reason_t) -> CoAPError {
        switch reason {
        case COAP_NACK_TOO_MANY_RETRIES:
            CoAPError(.notDelivered, "no acknowledgement after libcoap's retransmissions: is the peer reachable?")
        case COAP_NACK_TLS_FAILED:
            CoAPError(.dtlsFailed, "DTLS handshake failed: check the PSK identity and key")
        case COAP_NACK_RST:
            CoAPError(.reset, "the peer reset the exchange")
        default:
            CoAPError(.notDelivered, "the message could not be delivered (network unreachable?)")
        }
    }
}

/// libcoap sessions point back at their owner without keeping it alive.
struct WeakSession {
    weak var value: CoAPSession?
    init(_ value: CoAPSession) { self.value = value }
}

// MARK: C entry points

private let coapResponseHandler: coap_response_handler_t = { session, _, received, _ in
    guard let context = CoAPContext.from(session: session) else { return COAP_RESPONSE_FAIL }
    return context.handleResponse(session: session, received: received)
}

private let coapNackHandler: coap_nack_handler_t = { session, sent, reason, _ in
    CoAPContext.from(session: session)?.handleNack(session: session, sent: sent,
                                                   reason: reason)
}

private let coapEventHandler: coap_event_handler_t = { session, event in
    CoAPContext.from(session: session)?.handleEvent(session: session, event: event)
    return 0
}

private func gate(of ssl: OpaquePointer) -> DTLSHandshakeGate? {
    guard let owner = nanoedge_cookie_owner(ssl, CoAPContext.cookieIndexForCallbacks) else { return nil }
    return Unmanaged<DTLSHandshakeGate>.fromOpaque(owner).takeUnretainedValue()
}

private let gateGenerateCookie: nanoedge_cookie_generate_cb = { ssl, out, length in
    // OpenSSL's buffer holds DTLS1_COOKIE_LENGTH (255) bytes; the gate's cookies are 32.
    guard let ssl, let out, let length, let cookie = gate(of: ssl)?.cookieForCurrentPeer() else { return 0 }
    out.update(from: cookie, count: cookie.count)
    length.pointee = UInt32(cookie.count)
    return 1
}

private let gateVerifyCookie: nanoedge_cookie_verify_cb = { ssl, cookie, length in
    guard let ssl, let cookie, let gate = gate(of: ssl) else { return 0 }
    return gate.verifyCookie(Array(UnsafeBufferPointer(start: cookie, count: Int(length)))) ? 1 : 0
}

private let coapValidateIdentity: coap_dtls_id_callback_t = { identity, _, arg in
    guard let identity, let arg else { return nil }
    let context = Unmanaged<CoAPContext>.fromOpaque(arg).takeUnretainedValue()
    let name = String(decoding: UnsafeBufferPointer(start: identity.pointee.s, count: identity.pointee.length),
                      as: UTF8.self)
    return context.lookupKey(identity: name)
}
