import CCoAP
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// How many DTLS handshakes a server lets libcoap hold, and how fast one source may start them.
///
/// libcoap (4.3.1 and 4.3.5 alike) keeps a session for every ClientHello from a new address and
/// port, before the cookie round trip, and frees it only 30 s later, one per later packet. Past
/// `max_handshake_sessions` it ignores every new ClientHello, so 101 forged hellos (the default
/// limit is 100) shut the door for 30 s. The gate in front of it answers the cookie exchange itself,
/// statelessly, and only a ClientHello that returns a valid cookie reaches libcoap, within these limits.
/// libcoap's own cookie check is handed to the gate too, so a client does one round trip, not two.
public struct HandshakeLimits: Sendable, Equatable {
    /// libcoap's `max_handshake_sessions`: the gate never admits more, so libcoap never refuses one.
    public var maxHandshakes: Int
    /// Held back for addresses that completed a handshake before (a Pi reconnecting after a blip).
    public var reservedForKnownAddresses: Int
    /// Handshakes one source address may have in libcoap at once.
    public var perAddressInFlight: Int
    /// New handshakes per source address: the token bucket.
    public var perAddress: SourceRateLimiter.Limits
    /// Addresses remembered as having completed a handshake.
    public var knownAddressCapacity: Int
    /// DTLS retransmissions (1 s, then doubling) before libcoap drops a handshake: 2 gives up after
    /// about 7 s instead of libcoap's 31 s. An established session gets libcoap's default back.
    public var handshakeRetransmissions: Int
    /// libcoap frees a half-open handshake after 30 s (COAP_PARTIAL_SESSION_TIMEOUT_TICKS, fixed at
    /// build time); past this age the gate counts on that happening at the next packet it passes.
    public var libcoapHalfOpenMilliseconds: Int64

    public init(maxHandshakes: Int = 64, reservedForKnownAddresses: Int = 16, perAddressInFlight: Int = 4,
                perAddress: SourceRateLimiter.Limits = .init(burst: 8, perSecond: 2, capacity: 1024),
                knownAddressCapacity: Int = 1024, handshakeRetransmissions: Int = 2,
                libcoapHalfOpenMilliseconds: Int64 = 31_000) {
        precondition(maxHandshakes > reservedForKnownAddresses && reservedForKnownAddresses >= 0,
                     "maxHandshakes must be above reservedForKnownAddresses")
        precondition(perAddressInFlight > 0 && knownAddressCapacity > 0 && handshakeRetransmissions > 0,
                     "handshake limits must be above 0")
        self.handshakeRetransmissions = handshakeRetransmissions
        self.maxHandshakes = maxHandshakes
        self.reservedForKnownAddresses = reservedForKnownAddresses
        self.perAddressInFlight = perAddressInFlight
        self.perAddress = perAddress
        self.knownAddressCapacity = knownAddressCapacity
        self.libcoapHalfOpenMilliseconds = libcoapHalfOpenMilliseconds
    }
}

/// What the gate did, for logs and tests.
public struct HandshakeGateStats: Sendable, Equatable {
    /// ClientHellos without a valid cookie, answered with a HelloVerifyRequest and forgotten.
    public var cookiesSent = 0
    /// ClientHellos with a valid cookie handed to libcoap.
    public var admitted = 0
    /// ClientHellos with a valid cookie refused by the per-address rate limit.
    public var refusedRate = 0
    /// ClientHellos with a valid cookie refused because too many handshakes are open.
    public var refusedFull = 0
    /// Malformed handshake openers dropped.
    public var dropped = 0
    /// Handshakes libcoap holds now (before and during the handshake, not established sessions).
    public var inFlight = 0
}

/// A peer: address bytes and port.
struct PeerKey: Hashable {
    var address: [UInt8]
    var port: UInt16
}

/// Decides which datagrams on DTLS listen sockets libcoap may see. Runs on the context's reactor thread.
///
/// Per-peer state starts only once a ClientHello returns a cookie this gate issued: the cookie is an
/// HMAC of the peer's address, port and a time window under a secret drawn at start, so issuing and
/// checking it needs no table. Forged hellos from any number of ports get a HelloVerifyRequest and
/// leave nothing behind. Everything else (records from peers libcoap knows, and anything that is not a
/// ClientHello, which libcoap drops without state) passes untouched.
final class DTLSHandshakeGate {
    private(set) var limits: HandshakeLimits
    private(set) var stats = HandshakeGateStats()
    /// Listen sockets and the data libcoap registered them with in its epoll set.
    private(set) var sockets: [(fd: Int32, epollData: UInt64)] = []
    private let secret: [UInt8]
    private var rate: SourceRateLimiter
    /// libcoap's server sessions on DTLS endpoints, from SERVER_SESSION_NEW to SERVER_SESSION_DEL.
    private var sessions: [OpaquePointer: Tracked] = [:]
    private var byPeer: [PeerKey: OpaquePointer] = [:]
    private var inFlightByAddress: [[UInt8]: Int] = [:]
    private var known = KnownAddresses()
    private var buffer = [UInt8](repeating: 0, count: 2048)
    private static let windowMilliseconds: Int64 = 16_384
    private static let cookieLength = 32
    /// Datagrams taken per call, so a flood cannot keep the loop from its other work.
    private static let batch = 256

    /// Peers whose datagram libcoap is reading now: its cookie check asks about them.
    private(set) var currentPeers: [PeerKey] = []

    private struct Tracked {
        var peer: PeerKey
        var connected: Bool
        var lastActivity: Int64
        var standardRetransmissions: UInt16
    }

    enum Head: Equatable {
        /// Nothing waits that libcoap should read.
        case empty
        /// These peers' datagrams wait at the heads of their sockets, for libcoap.
        case pass([PeerKey])
        /// The batch ran out: libcoap must not read now, or it would take a datagram not yet looked at.
        case more
    }

    init(limits: HandshakeLimits) {
        self.limits = limits
        rate = SourceRateLimiter(limits.perAddress)
        var rng = SystemRandomNumberGenerator()
        secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    func update(limits: HandshakeLimits) {
        self.limits = limits
        rate = SourceRateLimiter(limits.perAddress)
    }

    func add(socket fd: Int32, epollData: UInt64) { sockets.append((fd, epollData)) }
    /// Entries in the gate's per-peer and per-address tables: nothing before a cookie comes back.
    var peerStateCount: Int { sessions.count + rate.count + known.count }
    var isEmpty: Bool { sockets.isEmpty }

    // MARK: libcoap's session events

    /// libcoap's verify callback: a cookie this gate issued to one of the peers being read.
    func verifyCookie(_ cookie: [UInt8]) -> Bool {
        let now = Reactor.now()
        return currentPeers.contains { cookieIsValid(cookie[...], peer: $0, now: now) }
    }

    /// libcoap's generate callback (it only runs if a cookie-less hello got through): this gate's cookie.
    func cookieForCurrentPeer() -> [UInt8]? {
        guard let peer = currentPeers.first else { return nil }
        let cookie = cookie(peer: peer, window: Reactor.now() / DTLSHandshakeGate.windowMilliseconds)
        return cookie.isEmpty ? nil : cookie
    }

    func sessionCreated(_ session: OpaquePointer, peer: PeerKey, now: Int64, standardRetransmissions: UInt16) {
        if let old = byPeer[peer], old != session { sessionDeleted(old) }
        sessions[session] = Tracked(peer: peer, connected: false, lastActivity: now,
                                    standardRetransmissions: standardRetransmissions)
        byPeer[peer] = session
        inFlightByAddress[peer.address, default: 0] += 1
        stats.inFlight += 1
    }

    /// Returns the session's retransmission count from before its handshake, to restore.
    func sessionConnected(_ session: OpaquePointer) -> UInt16? {
        guard var tracked = sessions[session], !tracked.connected else { return nil }
        tracked.connected = true
        sessions[session] = tracked
        leaveFlight(tracked.peer.address)
        known.insert(tracked.peer.address, capacity: limits.knownAddressCapacity)
        return tracked.standardRetransmissions
    }

    func sessionDeleted(_ session: OpaquePointer) {
        guard let tracked = sessions.removeValue(forKey: session) else { return }
        if byPeer[tracked.peer] == session { byPeer[tracked.peer] = nil }
        if !tracked.connected { leaveFlight(tracked.peer.address) }
    }

    private func leaveFlight(_ address: [UInt8]) {
        stats.inFlight -= 1
        let left = (inFlightByAddress[address] ?? 1) - 1
        inFlightByAddress[address] = left > 0 ? left : nil
    }

    // MARK: Datagrams

    /// Runs `read` (libcoap's I/O) with `peers` as the ones whose cookies it may check.
    func reading(_ peers: [PeerKey], _ read: () -> Void) {
        currentPeers = peers
        defer { currentPeers = [] }
        read()
    }

    /// Takes the handshake openers libcoap must not see off the head of a socket.
    func filter(fd: Int32, now: Int64) -> Head {
        var address = [UInt8](repeating: 0, count: 16)
        for _ in 0..<DTLSHandshakeGate.batch {
            var addressLength = 0
            var port: UInt16 = 0
            let length = buffer.withUnsafeMutableBufferPointer { data in
                address.withUnsafeMutableBufferPointer { key in
                    nanoedge_peek_datagram(fd, data.baseAddress, data.count, key.baseAddress, &addressLength, &port)
                }
            }
            guard length > 0 else { return .empty }
            let peer = PeerKey(address: Array(address.prefix(addressLength)), port: port)
            let size = min(length, buffer.count)
            switch decide(buffer[..<size], truncated: length > buffer.count, peer: peer, now: now) {
            case .pass:
                return .pass([peer])
            case .drop:
                nanoedge_take_datagram(fd, nil, 0)
            case .reply(let reply):
                reply.withUnsafeBufferPointer { nanoedge_take_datagram(fd, $0.baseAddress, $0.count) }
            }
        }
        return .more
    }

    enum Decision: Equatable {
        case pass
        case drop
        case reply([UInt8])
    }

    /// The whole policy for one datagram from `peer`.
    func decide(_ datagram: ArraySlice<UInt8>, truncated: Bool, peer: PeerKey, now: Int64) -> Decision {
        if let session = byPeer[peer] {
            sessions[session]?.lastActivity = now
            return .pass
        }
        // What libcoap takes as the start of a new session: handshake record, ClientHello type.
        let d = datagram
        guard d.count >= 14, d[d.startIndex] == 22, d[d.startIndex + 13] == 1 else { return .pass }
        guard !truncated, !peer.address.isEmpty, let hello = ClientHello(d) else {
            stats.dropped += 1
            return .drop
        }
        guard hello.cookie.count == DTLSHandshakeGate.cookieLength, cookieIsValid(hello.cookie, peer: peer, now: now) else {
            stats.cookiesSent += 1
            return .reply(helloVerifyRequest(recordSequence: hello.recordSequence,
                                             cookie: cookie(peer: peer, window: now / DTLSHandshakeGate.windowMilliseconds)))
        }
        // The peer answered from its own address: from here on it may cost state, within limits.
        let isKnown = known.contains(peer.address)
        let ceiling = isKnown ? limits.maxHandshakes : limits.maxHandshakes - limits.reservedForKnownAddresses
        let full = stats.inFlight >= ceiling
        // libcoap frees one half-open session older than 30 s when it sees a new peer, so a stale one
        // makes room for this one even at the ceiling (and never takes libcoap past maxHandshakes).
        if full && !(stats.inFlight < limits.maxHandshakes && hasStaleHandshake(now: now)) {
            stats.refusedFull += 1
            return .drop
        }
        if inFlightByAddress[peer.address, default: 0] >= limits.perAddressInFlight {
            stats.refusedFull += 1
            return .drop
        }
        guard rate.allow(peer.address, now: now) else {
            stats.refusedRate += 1
            return .drop
        }
        stats.admitted += 1
        return .pass
    }

    private func hasStaleHandshake(now: Int64) -> Bool {
        sessions.values.contains { !$0.connected && now - $0.lastActivity > limits.libcoapHalfOpenMilliseconds }
    }

    // MARK: Cookies

    func cookie(peer: PeerKey, window: Int64) -> [UInt8] {
        var input = [UInt8]()
        input.reserveCapacity(26)
        for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: window >> Int64(shift))) }
        input.append(UInt8(peer.port >> 8))
        input.append(UInt8(peer.port & 0xff))
        input.append(contentsOf: peer.address)
        var out = [UInt8](repeating: 0, count: 32)
        let ok = secret.withUnsafeBufferPointer { key in
            input.withUnsafeBufferPointer { data in
                out.withUnsafeMutableBufferPointer { mac in
                    nanoedge_hmac_sha256(key.baseAddress, key.count, data.baseAddress, data.count, mac.baseAddress)
                }
            }
        }
        // Without HMAC no cookie can verify, so no hello gets through: fail closed.
        return ok == 1 ? Array(out.prefix(DTLSHandshakeGate.cookieLength)) : []
    }

    /// A cookie from this window or the one before, so one issued just before a window turns still works.
    private func cookieIsValid(_ cookie: ArraySlice<UInt8>, peer: PeerKey, now: Int64) -> Bool {
        let window = now / DTLSHandshakeGate.windowMilliseconds
        let given = Array(cookie)
        for w in [window, window - 1] {
            let expected = self.cookie(peer: peer, window: w)
            guard expected.count == given.count else { continue }
            let same = expected.withUnsafeBufferPointer { a in
                given.withUnsafeBufferPointer { b in nanoedge_equal_secret(a.baseAddress, b.baseAddress, a.count) }
            }
            if same == 1 { return true }
        }
        return false
    }

    /// RFC 6347 4.2.1: version DTLS 1.0 in the record and the message, the ClientHello's record sequence number.
    func helloVerifyRequest(recordSequence: ArraySlice<UInt8>, cookie: [UInt8]) -> [UInt8] {
        let bodyLength = 3 + cookie.count
        var out: [UInt8] = [22, 0xfe, 0xff, 0, 0]
        out.append(contentsOf: recordSequence)
        let handshakeLength = 12 + bodyLength
        out += [UInt8(handshakeLength >> 8), UInt8(handshakeLength & 0xff)]
        let length24: [UInt8] = [0, UInt8(bodyLength >> 8), UInt8(bodyLength & 0xff)]
        out.append(3)  // hello_verify_request
        out += length24
        out += [0, 0]  // message_seq
        out += [0, 0, 0]  // fragment_offset
        out += length24  // fragment_length
        out += [0xfe, 0xff, UInt8(cookie.count)]
        out += cookie
        return out
    }
}

/// The fields of an unfragmented DTLS ClientHello the gate needs, with bounds checked.
struct ClientHello {
    var recordSequence: ArraySlice<UInt8>
    var cookie: ArraySlice<UInt8>

    init?(_ d: ArraySlice<UInt8>) {
        let s = d.startIndex
        guard d.count >= 13 + 12 + 2 + 32 + 1 + 1 else { return nil }
        guard d[s] == 22, d[s + 1] == 0xfe, d[s + 3] == 0, d[s + 4] == 0 else { return nil }  // epoch 0
        let recordLength = Int(d[s + 11]) << 8 | Int(d[s + 12])
        guard 13 + recordLength <= d.count, recordLength >= 12 else { return nil }
        let h = s + 13
        guard d[h] == 1 else { return nil }
        let length = Int(d[h + 1]) << 16 | Int(d[h + 2]) << 8 | Int(d[h + 3])
        let offset = Int(d[h + 6]) << 16 | Int(d[h + 7]) << 8 | Int(d[h + 8])
        let fragment = Int(d[h + 9]) << 16 | Int(d[h + 10]) << 8 | Int(d[h + 11])
        // OpenSSL's DTLSv1_listen refuses fragmented ClientHellos too.
        guard offset == 0, fragment == length, 12 + length <= recordLength else { return nil }
        let body = h + 12
        let end = body + length
        var i = body + 2 + 32
        guard i < end else { return nil }
        i += 1 + Int(d[i])  // session_id
        guard i < end else { return nil }
        let cookieLength = Int(d[i])
        guard i + 1 + cookieLength <= end else { return nil }
        recordSequence = d[(s + 5)..<(s + 11)]
        cookie = d[(i + 1)..<(i + 1 + cookieLength)]
    }
}

/// Addresses that completed a handshake, oldest forgotten first.
private struct KnownAddresses {
    private var order: [[UInt8]] = []
    private var members: Set<[UInt8]> = []

    var count: Int { members.count }

    func contains(_ address: [UInt8]) -> Bool { members.contains(address) }

    mutating func insert(_ address: [UInt8], capacity: Int) {
        guard members.insert(address).inserted else { return }
        order.append(address)
        if order.count > capacity {
            let drop = order.count - capacity
            for old in order.prefix(drop) { members.remove(old) }
            order.removeFirst(drop)
        }
    }
}
