import CoAP
import Foundation
import Gateway
import JSON
import Site
import Testing

/// Issue 11, class 1: forged DTLS ClientHellos from many source ports (no cookie round trip) must not
/// lock devices out. Before the handshake gate, 101 such hellos filled libcoap's 100 handshake slots
/// for 30 s and every new handshake was ignored.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HandshakeFloodTests {
    static let flood = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Benchmarks/dtls-flood.py").standardizedFileURL.path

    /// Starts Benchmarks/dtls-flood.py against the gateway; it stops by itself after `seconds`.
    func startFlood(port: UInt16, rate: Int, seconds: Double) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.flood, "--target", "127.0.0.1:\(port)", "--rate", "\(rate)",
                             "--duration", "\(seconds)"]
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return process
    }

    /// coap-client-openssl's DTLS handshake and one GET; returns what it printed and how long it took.
    func timedCoapClient(port: UInt16, identity: String, key: String, path: String) throws -> (String, Double) {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/coap-client-openssl")
        process.arguments = ["-B", "5", "-u", identity, "-k", key, "coaps://127.0.0.1:\(port)/\(path)"]
        process.standardOutput = pipe
        process.standardError = pipe
        let start = Date()
        try process.run()
        process.waitUntilExit()
        let elapsed = Date().timeIntervalSince(start)
        return (String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), elapsed)
    }

    @Test func goodClientsHandshakeWithinThreeSecondsDuringA2000PerSecondHelloFlood() async throws {
        let gateway = try RunningGateway()
        // A device registered before the flood: its session must survive it.
        let device = try await gateway.client("entrance-1")
        defer { device.close() }
        #expect(try await device.request(post(SitePaths.register, registration.json)).code == .changed)

        let flood = try startFlood(port: gateway.port, rate: 2000, seconds: 8)
        defer { if flood.isRunning { flood.terminate() }; flood.waitUntilExit() }
        // Well past the 101 hellos that used to shut the door.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(flood.isRunning, "the flood still runs while the good clients connect")

        // libcoap's own client, with a provisioned PSK.
        let key = String(decoding: RunningGateway.keys["tool-1"]!, as: UTF8.self)
        let (output, seconds) = try timedCoapClient(port: gateway.port, identity: "tool-1", key: key,
                                                     path: "registry/rooms?id=entrance")
        #expect(output.contains("\"kind\":\"entrance\""), "coap-client got the room during the flood: \(output)")
        #expect(seconds < 3, "coap-client took \(seconds) s during the flood")

        // The project's own client: a fresh DTLS session and a request.
        let start = ContinuousClock.now
        let admin = try await gateway.client("admin")
        defer { admin.close() }
        let rooms = try await admin.request(CoAPRequest(.get, "registry/rooms", query: "id=entrance"),
                                            timeoutMilliseconds: 3000)
        let took = ContinuousClock.now - start
        #expect(rooms.code == .content)
        #expect(took < .seconds(3), "a new session and a request took \(took) during the flood")

        // The registered device keeps its session: it registers again over the same one.
        #expect(try await device.request(post(SitePaths.register, registration.json), timeoutMilliseconds: 3000).code == .changed)
        #expect(flood.isRunning, "the measurements above were taken under the flood")
    }
}
