import Reactor
import Synchronization

/// An async client for one peer, for tools and tests. It runs its own reactor thread that owns the
/// libcoap context; every call hands work to that thread, so it is safe from any task.
public final class CoAPClient: Sendable {
    private final class State: @unchecked Sendable {
        // Touched only on `reactor`'s thread.
        var context: CoAPContext?
        var session: CoAPSession?
    }

    public let reactor: Reactor
    private let state = State()

    public let host: String
    public let port: UInt16

    private init(reactor: Reactor, host: String, port: UInt16) {
        self.reactor = reactor
        self.host = host
        self.port = port
    }

    /// Starts the client thread and opens a session (DTLS-PSK with `credentials`, plain UDP without).
    public static func connect(host: String, port: UInt16, credentials: PSKCredentials?,
                               ackTimeoutMilliseconds: Int = 2000, maxRetransmit: Int = 4) async throws(CoAPError) -> CoAPClient {
        let client = CoAPClient(reactor: Reactor.startThread(), host: host, port: port)
        let state = client.state
        let reactor = client.reactor
        let result: Result<Void, CoAPError> = await withCheckedContinuation { continuation in
            reactor.execute {
                do throws(CoAPError) {
                    let context = try CoAPContext(reactor: reactor)
                    let session = try context.session(host: host, port: port, credentials: credentials)
                    session.setRetransmission(ackTimeoutMilliseconds: ackTimeoutMilliseconds, maxRetransmit: maxRetransmit)
                    state.context = context
                    state.session = session
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        if case .failure(let error) = result {
            client.close()
            throw error
        }
        return client
    }

    /// Sends one request and waits for its response. 4.xx/5.xx answers throw `.response(code)`.
    public func request(_ request: CoAPRequest, timeoutMilliseconds: Int64 = 10_000) async throws(CoAPError) -> CoAPResponse {
        let state = self.state
        let result: Result<CoAPResponse, CoAPError> = await withCheckedContinuation { continuation in
            reactor.execute {
                guard let session = state.session else {
                    continuation.resume(returning: .failure(CoAPError(.cancelled, "client closed")))
                    return
                }
                session.send(request, timeoutMilliseconds: timeoutMilliseconds) { continuation.resume(returning: $0) }
            }
        }
        return try result.get()
    }

    /// Observes `path`; the stream yields the first response and each notification, and ends on
    /// error or when the consumer stops iterating.
    public func observe(_ path: String, query: String = "") -> AsyncStream<Result<CoAPResponse, CoAPError>> {
        let state = self.state
        let reactor = self.reactor
        return AsyncStream { continuation in
            final class Holder: @unchecked Sendable { var observation: CoAPObservation? }
            let holder = Holder()
            reactor.execute {
                guard let session = state.session else {
                    continuation.yield(.failure(CoAPError(.cancelled, "client closed")))
                    continuation.finish()
                    return
                }
                holder.observation = session.observe(path, query: query) { result in
                    continuation.yield(result)
                    if case .failure = result { continuation.finish() }
                }
            }
            continuation.onTermination = { _ in
                reactor.execute { holder.observation?.cancel() }
            }
        }
    }

    /// Closes the session and stops the client thread.
    public func close() {
        let state = self.state
        let reactor = self.reactor
        reactor.execute {
            state.session?.close()
            state.session = nil
            state.context = nil
            reactor.stop()
        }
    }
}
