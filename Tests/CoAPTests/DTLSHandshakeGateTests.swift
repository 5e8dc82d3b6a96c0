@testable import CoAP
import Reactor
import Testing

/// A DTLS 1.2 ClientHello as Benchmarks/dtls-flood.py sends it, with an optional cookie.
func clientHello(cookie: [UInt8] = [], sequence: UInt8 = 7) -> [UInt8] {
    var body: [UInt8] = [0xfe, 0xfd] + [UInt8](repeating: 0xab, count: 32) + [0]
    body += [UInt8(cookie.count)] + cookie
    body += [0, 4, 0xc0, 0xa8, 0x00, 0xae, 1, 0]
    let length: [UInt8] = [0, UInt8(body.count >> 8), UInt8(body.count & 0xff)]
    let handshake: [UInt8] = [1] + length + [0, 0, 0, 0, 0] + length + body
    return [22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, sequence, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xff)]
        + handshake
}

@Suite struct DTLSHandshakeGateTests {
    let peer = PeerKey(address: [127, 0, 0, 1], port: 40000)

    /// The cookie out of a HelloVerifyRequest the gate sent.
    func cookie(of reply: DTLSHandshakeGate.Decision) -> [UInt8]? {
        guard case .reply(let bytes) = reply, bytes.count > 28, bytes[0] == 22, bytes[13] == 3 else { return nil }
        return Array(bytes[28...])
    }

    @Test func aHelloWithoutCookieGetsAHelloVerifyRequestAndLeavesNoState() throws {
        let gate = DTLSHandshakeGate(limits: HandshakeLimits())
        for port in UInt16(1000)..<UInt16(11_000) {
            let decision = gate.decide(clientHello()[...], truncated: false,
                                       peer: PeerKey(address: [10, 0, 0, 9], port: port), now: 1000)
            #expect(cookie(of: decision)?.count == 32)
        }
        #expect(gate.peerStateCount == 0, "10,000 forged hellos left no per-peer state")
        #expect(gate.stats.cookiesSent == 10_000)
        #expect(gate.stats.admitted == 0)
    }

    @Test func theHelloVerifyRequestIsWellFormed() throws {
        let gate = DTLSHandshakeGate(limits: HandshakeLimits())
        guard case .reply(let reply) = gate.decide(clientHello(sequence: 42)[...], truncated: false, peer: peer, now: 5) else {
            Issue.record("no HelloVerifyRequest")
            return
        }
        #expect(Array(reply[0..<5]) == [22, 0xfe, 0xff, 0, 0])  // handshake, DTLS 1.0, epoch 0
        #expect(Array(reply[5..<11]) == [0, 0, 0, 0, 0, 42])  // the ClientHello's record sequence number
        #expect(Int(reply[11]) << 8 | Int(reply[12]) == reply.count - 13)
        #expect(reply[13] == 3)  // hello_verify_request
        #expect(Array(reply[25..<27]) == [0xfe, 0xff])
        #expect(Int(reply[27]) == reply.count - 28)
    }

    @Test func onlyTheCookieIssuedToThatAddressAndPortPasses() throws {
        let gate = DTLSHandshakeGate(limits: HandshakeLimits())
        let issued = try #require(cookie(of: gate.decide(clientHello()[...], truncated: false, peer: peer, now: 1000)))
        #expect(gate.decide(clientHello(cookie: issued)[...], truncated: false, peer: peer, now: 1200) == .pass)
        let otherPort = PeerKey(address: peer.address, port: peer.port + 1)
        #expect(cookie(of: gate.decide(clientHello(cookie: issued)[...], truncated: false, peer: otherPort, now: 1200)) != nil)
        let forged = [UInt8](repeating: 0x5a, count: 32)
        #expect(cookie(of: gate.decide(clientHello(cookie: forged)[...], truncated: false, peer: peer, now: 1200)) != nil)
        // Two windows of 16 s later the cookie is stale.
        #expect(cookie(of: gate.decide(clientHello(cookie: issued)[...], truncated: false, peer: peer, now: 1000 + 40_000)) != nil)
        // libcoap's own check (on the monotonic clock), for the peer being read now.
        let fresh = try #require(cookie(of: gate.decide(clientHello()[...], truncated: false, peer: peer, now: Reactor.now())))
        gate.reading([peer]) { #expect(gate.verifyCookie(fresh)) }
        #expect(!gate.verifyCookie(fresh), "no peer is being read")
        gate.reading([otherPort]) { #expect(!gate.verifyCookie(fresh)) }
    }

    @Test func malformedOpenersAreDroppedAndOtherRecordsPass() throws {
        let gate = DTLSHandshakeGate(limits: HandshakeLimits())
        let hello = clientHello()
        #expect(gate.decide(hello.prefix(20), truncated: false, peer: peer, now: 1) == .drop)
        #expect(gate.decide(hello[...], truncated: true, peer: peer, now: 1) == .drop)
        var fragmented = hello
        fragmented[22] = 1  // fragment_length no longer equals length
        #expect(gate.decide(fragmented[...], truncated: false, peer: peer, now: 1) == .drop)
        // Application data and alerts: libcoap drops them for unknown peers without making a session.
        let applicationData: [UInt8] = [23, 0xfe, 0xfd, 0, 1] + [UInt8](repeating: 0, count: 20)
        #expect(gate.decide(applicationData[...], truncated: false, peer: peer, now: 1) == .pass)
        #expect(gate.peerStateCount == 0)
    }

    @Test func oneAddressIsRateLimitedAndCappedInFlight() throws {
        let limits = HandshakeLimits(maxHandshakes: 64, reservedForKnownAddresses: 16, perAddressInFlight: 100,
                                     perAddress: .init(burst: 3, perSecond: 1, capacity: 16))
        let gate = DTLSHandshakeGate(limits: limits)
        func admitted(port: UInt16, now: Int64) -> Bool {
            let p = PeerKey(address: [192, 168, 1, 50], port: port)
            guard let c = cookie(of: gate.decide(clientHello()[...], truncated: false, peer: p, now: now)) else { return false }
            return gate.decide(clientHello(cookie: c)[...], truncated: false, peer: p, now: now) == .pass
        }
        #expect((1...5).map { admitted(port: $0, now: 1000) } == [true, true, true, false, false])
        #expect(gate.stats.refusedRate == 2)
        #expect(admitted(port: 6, now: 2000), "one token back after a second")
        // Another address has its own bucket.
        let other = PeerKey(address: [192, 168, 1, 51], port: 9)
        let c = try #require(cookie(of: gate.decide(clientHello()[...], truncated: false, peer: other, now: 2000)))
        #expect(gate.decide(clientHello(cookie: c)[...], truncated: false, peer: other, now: 2000) == .pass)

        let capped = DTLSHandshakeGate(limits: HandshakeLimits(perAddressInFlight: 2))
        for i in 0..<2 {
            capped.sessionCreated(OpaquePointer(bitPattern: 0x1000 + i)!, peer: PeerKey(address: [10, 1, 1, 1], port: UInt16(i)),
                                  now: 0, standardRetransmissions: 4)
        }
        let p = PeerKey(address: [10, 1, 1, 1], port: 77)
        let c2 = try #require(cookie(of: capped.decide(clientHello()[...], truncated: false, peer: p, now: 10)))
        #expect(capped.decide(clientHello(cookie: c2)[...], truncated: false, peer: p, now: 10) == .drop)
        #expect(capped.sessionConnected(OpaquePointer(bitPattern: 0x1000)!) == 4)
        #expect(capped.decide(clientHello(cookie: c2)[...], truncated: false, peer: p, now: 10) == .pass)
    }

    @Test func addressesThatConnectedBeforeKeepTheReservedSlots() throws {
        let gate = DTLSHandshakeGate(limits: HandshakeLimits(maxHandshakes: 8, reservedForKnownAddresses: 4, perAddressInFlight: 8))
        // A device that connected once.
        let device = PeerKey(address: [10, 0, 0, 2], port: 5000)
        let session = OpaquePointer(bitPattern: 0x9000)!
        gate.sessionCreated(session, peer: device, now: 0, standardRetransmissions: 4)
        _ = gate.sessionConnected(session)
        gate.sessionDeleted(session)
        // Four half-open handshakes from elsewhere fill what newcomers may use.
        for i in 0..<4 {
            gate.sessionCreated(OpaquePointer(bitPattern: 0x2000 + i)!, peer: PeerKey(address: [10, 0, 0, UInt8(100 + i)], port: 1),
                                now: 0, standardRetransmissions: 4)
        }
        #expect(gate.stats.inFlight == 4)
        let newcomer = PeerKey(address: [10, 0, 0, 200], port: 1)
        let c1 = try #require(cookie(of: gate.decide(clientHello()[...], truncated: false, peer: newcomer, now: 10)))
        #expect(gate.decide(clientHello(cookie: c1)[...], truncated: false, peer: newcomer, now: 10) == .drop)
        let back = PeerKey(address: device.address, port: 5001)
        let c2 = try #require(cookie(of: gate.decide(clientHello()[...], truncated: false, peer: back, now: 10)))
        #expect(gate.decide(clientHello(cookie: c2)[...], truncated: false, peer: back, now: 10) == .pass)
    }
}

@Suite struct SourceRateLimiterTests {
    @Test func aSourceSpendsItsBurstThenRefills() {
        var limiter = SourceRateLimiter(.init(burst: 2, perSecond: 4, capacity: 8))
        let spent = [limiter.allow([1], now: 0), limiter.allow([1], now: 0), limiter.allow([1], now: 0)]
        #expect(spent == [true, true, false])
        let early = limiter.allow([1], now: 200)  // 0.8 of a token
        #expect(!early)
        let refilled = limiter.allow([1], now: 250)
        #expect(refilled)
        let later = limiter.allow([1], now: Int64.max)
        #expect(later, "a source idle for ages has a full bucket, no overflow")
    }

    @Test func theTableStaysBoundedAndForgetsRefilledSources() {
        var limiter = SourceRateLimiter(.init(burst: 1, perSecond: 1, capacity: 3))
        let first = (0..<3).map { limiter.allow([UInt8($0)], now: 0) }
        #expect(first == [true, true, true])
        let crowded = limiter.allow([9], now: 10)
        #expect(!crowded, "full of sources still paying back")
        #expect(limiter.count == 3)
        let roomy = limiter.allow([9], now: 1000)
        #expect(roomy, "refilled sources are forgotten to make room")
        #expect(limiter.count == 1)
    }
}
