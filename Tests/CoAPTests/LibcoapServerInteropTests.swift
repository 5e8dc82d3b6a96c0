import CoAP
import Foundation
import Testing

/// Our client against libcoap's own `coap-server-openssl`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LibcoapServerInteropTests {
    static let key = Array("interop-secret".utf8)

    /// Starts coap-server-openssl; it listens for DTLS on port+1.
    func startServer() async throws -> (ChildProcess, UInt16) {
        var port = freeUDPPort()
        while port == UInt16.max { port = freeUDPPort() }
        let server = try ChildProcess("/usr/bin/coap-server-openssl",
                                      ["-A", "127.0.0.1", "-p", "\(port)", "-k", "interop-secret", "-d", "10"])
        try await Task.sleep(nanoseconds: 300_000_000)
        return (server, port + 1)
    }

    @Test func getOverDTLS() async throws {
        let (server, port) = try await startServer()
        defer { server.stop() }
        let client = try await CoAPClient.connect(host: "127.0.0.1", port: port,
                                                  credentials: PSKCredentials(identity: "nanoedge-test", key: Self.key))
        defer { client.close() }
        let response = try await client.request(CoAPRequest(.get, "/time"))
        #expect(response.code == .content)
        // coap-server's /time answers with a date such as "Nov 22 03:40:01".
        #expect(response.text.count >= 8)
    }

    @Test func observeTimeGivesNotifications() async throws {
        let (server, port) = try await startServer()
        defer { server.stop() }
        let client = try await CoAPClient.connect(host: "127.0.0.1", port: port,
                                                  credentials: PSKCredentials(identity: "nanoedge-test", key: Self.key))
        defer { client.close() }
        var observeNumbers: [UInt32] = []
        for await result in client.observe("/time") {
            let response = try result.get()
            #expect(response.code == .content)
            if let number = response.observe { observeNumbers.append(number) }
            if observeNumbers.count == 3 { break }
        }
        #expect(observeNumbers.count == 3)
        #expect(Set(observeNumbers).count == 3, "each notification carries a new Observe number")
    }

    @Test func blockwiseRoundTripOf3000Bytes() async throws {
        let (server, port) = try await startServer()
        defer { server.stop() }
        let client = try await CoAPClient.connect(host: "127.0.0.1", port: port,
                                                  credentials: PSKCredentials(identity: "nanoedge-test", key: Self.key))
        defer { client.close() }
        let body = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let put = try await client.request(CoAPRequest(.put, "/example_data", payload: body,
                                                       contentFormat: ContentFormat.octetStream))
        #expect(put.code == .changed || put.code == .created)
        let get = try await client.request(CoAPRequest(.get, "/example_data"))
        #expect(get.payload.count == 3000)
        #expect(get.payload == body)
    }

    @Test func wrongKeyFailsTheHandshake() async throws {
        let (server, port) = try await startServer()
        defer { server.stop() }
        let client = try await CoAPClient.connect(host: "127.0.0.1", port: port,
                                                  credentials: PSKCredentials(identity: "nanoedge-test", key: Array("wrong".utf8)),
                                                  ackTimeoutMilliseconds: 500, maxRetransmit: 1)
        defer { client.close() }
        do {
            _ = try await client.request(CoAPRequest(.get, "/time"), timeoutMilliseconds: 5000)
            Issue.record("a request with the wrong key must not succeed")
        } catch {
            #expect(error.kind == .dtlsFailed || error.kind == .timeout || error.kind == .notDelivered)
        }
    }
}
