import CoAP
import Foundation
import Reactor
import Testing

/// Host names go through glibc's own files and dns code only (NameLookup): a `.local` name fails
/// with a message that says what to use instead, while /etc/hosts names still resolve.
@Suite struct NameLookupTests {
    /// Opens a DTLS client session to `host` on the reactor's thread; returns the error, if any.
    private func sessionError(_ host: String) async -> CoAPError? {
        let reactor = Reactor.startThread()
        defer { reactor.stop() }
        return await withCheckedContinuation { continuation in
            reactor.execute {
                do {
                    NameLookup.useBuiltInLookupsOnly()
                    let context = try CoAPContext(reactor: reactor)
                    _ = try context.session(host: host, port: 5684,
                                            credentials: PSKCredentials(identity: "pi", key: Array("k".utf8)))
                    continuation.resume(returning: nil)
                } catch let error as CoAPError {
                    continuation.resume(returning: error)
                } catch {
                    continuation.resume(returning: CoAPError(.setup, "\(error)"))
                }
            }
        }
    }

    @Test func mdnsNameFailsWithWhatToDo() async {
        let error = await sessionError("nanoedge-gateway-absent.local")
        #expect(error?.description.contains("cannot resolve nanoedge-gateway-absent.local") == true)
        #expect(error?.description.contains("not mDNS") == true)
    }

    @Test func localhostStillResolves() async {
        #expect(await sessionError("localhost") == nil)
    }
}
