import Foundation
import Gateway
import Site
import Testing

/// libcoap's own `coap-client-openssl` against our gateway. The tool exits 0 even on errors, so the
/// tests read what it prints.
@Suite(.serialized, .timeLimit(.minutes(3))) struct LibcoapClientInteropTests {
    func coapClient(_ arguments: [String]) throws -> String {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/coap-client-openssl")
        process.arguments = ["-B", "3"] + arguments
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    @Test func validDevicePSKReadsWellKnownCoreAndARegistryResource() throws {
        let gateway = try RunningGateway()
        let base = "coaps://127.0.0.1:\(gateway.port)"
        let key = String(decoding: RunningGateway.keys["tool-1"]!, as: UTF8.self)

        let core = try coapClient(["-u", "tool-1", "-k", key, base + "/.well-known/core"])
        for path in ["</register>", "</events>", "</content>", "</registry/persons>", "</registry/rooms>"] {
            #expect(core.contains(path), "\(path) listed in: \(core)")
        }
        #expect(core.contains("rt=\"nanoedge.register\""))
        #expect(core.contains("ct=50"))

        let rooms = try coapClient(["-u", "tool-1", "-k", key, base + "/registry/rooms?id=entrance"])
        #expect(rooms.contains("\"kind\":\"entrance\""), "registry record in: \(rooms)")
    }

    @Test func wrongKeyGetsNothing() throws {
        let gateway = try RunningGateway()
        let output = try coapClient(["-u", "tool-1", "-k", "not-the-key", "coaps://127.0.0.1:\(gateway.port)/registry/rooms"])
        #expect(!output.contains("entrance"), "no registry data with a wrong key: \(output)")
        #expect(!output.contains("</register>"))
        let unknown = try coapClient(["-u", "nobody", "-k", "whatever", "coaps://127.0.0.1:\(gateway.port)/.well-known/core"])
        #expect(!unknown.contains("</register>"), "nothing for an unknown identity: \(unknown)")
    }
}
