import CoAP
import Foundation
import Reactor
import Testing

final class Holder: @unchecked Sendable { var context: CoAPContext? }

/// Our server and our client over DTLS, in one process: each side on its own reactor thread.
final class LocalServer: @unchecked Sendable {
    let reactor = Reactor.startThread()
    let port = freeUDPPort()
    static let key = Array("local-server-key".utf8)

    init(_ setUp: @escaping @Sendable (CoAPContext) throws -> Void) async throws {
        let reactor = self.reactor
        let port = self.port
        let holder = Holder()
        let result: Result<Void, CoAPError> = await withCheckedContinuation { continuation in
            reactor.execute {
                do {
                    let context = try CoAPContext(reactor: reactor)
                    try context.listen(host: "127.0.0.1", port: port, security: .psk(hint: "test") { identity in
                        identity == "client" ? LocalServer.key : nil
                    })
                    try setUp(context)
                    holder.context = context
                    continuation.resume(returning: .success(()))
                } catch let error as CoAPError {
                    continuation.resume(returning: .failure(error))
                } catch {
                    continuation.resume(returning: .failure(CoAPError(.setup, "\(error)")))
                }
            }
        }
        try result.get()
        self.holder = holder
    }

    private var holder: Holder?

    func client() async throws -> CoAPClient {
        try await CoAPClient.connect(host: "127.0.0.1", port: port,
                                     credentials: PSKCredentials(identity: "client", key: Self.key))
    }

    deinit {
        let reactor = self.reactor
        let holder = self.holder
        // The context must be freed on its own loop thread, before the loop stops.
        reactor.execute {
            holder?.context = nil
            reactor.stop()
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct OwnServerTests {
    @Test func blockwiseResponseWithAQueryArrivesWhole() async throws {
        let body = (0..<5000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let server = try await LocalServer { context in
            context.addResource("content", methods: [.get]) { request in
                guard request.queryValue("id") == "7" else { return CoAPResponse(.notFound) }
                return CoAPResponse(.content, payload: body, contentFormat: ContentFormat.octetStream)
            }
        }
        let client = try await server.client()
        defer { client.close() }
        let response = try await client.request(CoAPRequest(.get, "content", query: "id=7"))
        #expect(response.payload.count == body.count)
        #expect(response.payload == body)
    }

    @Test func blockwiseRequestBodyArrivesWholeAndIdentityIsKnown() async throws {
        let server = try await LocalServer { context in
            context.addResource("echo", methods: [.post, .put]) { request in
                CoAPResponse(.changed, payload: Array((request.identity ?? "?").utf8) + [0] + request.payload)
            }
        }
        let client = try await server.client()
        defer { client.close() }
        let body = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let response = try await client.request(CoAPRequest(.post, "echo", payload: body))
        #expect(response.code == .changed)
        #expect(response.payload == Array("client".utf8) + [0] + body)
    }

    @Test func methodsAndErrorsCarryTheirCodes() async throws {
        let server = try await LocalServer { context in
            context.addResource("thing", methods: [.get, .delete]) { request in
                request.method == .get ? CoAPResponse(.content, text: "here") : CoAPResponse(.deleted)
            }
        }
        let client = try await server.client()
        defer { client.close() }
        #expect(try await client.request(CoAPRequest(.get, "thing")).text == "here")
        #expect(try await client.request(CoAPRequest(.delete, "thing")).code == .deleted)
        await #expect { try await client.request(CoAPRequest(.put, "thing")) } throws: { error in
            (error as? CoAPError)?.code == .methodNotAllowed
        }
        await #expect { try await client.request(CoAPRequest(.get, "missing")) } throws: { error in
            (error as? CoAPError)?.code == .notFound
        }
        let non = try await client.request(CoAPRequest(.get, "thing", confirmable: false))
        #expect(non.text == "here")
    }

    @Test func observersGetEachNewState() async throws {
        final class Counter: @unchecked Sendable { var value = 0; var resource: CoAPResource? }
        let counter = Counter()
        let server = try await LocalServer { context in
            counter.resource = context.addResource("counter", observable: true) { _ in
                CoAPResponse(.content, text: "\(counter.value)")
            }
        }
        let client = try await server.client()
        defer { client.close() }
        var seen: [String] = []
        for await result in client.observe("counter") {
            let text = try result.get().text
            seen.append(text)
            if seen.count == 3 { break }
            server.reactor.execute {
                counter.value += 1
                counter.resource?.notifyObservers()
            }
        }
        #expect(seen == ["0", "1", "2"])
    }
}
