import ArgumentParser
import CoAP
import CryptoEVP
import Foundation
import JSON
import Reactor
import Site

extension DevicesCommand {
    /// What a device sees: it observes its deployment resource on the update server and prints each
    /// assignment as it arrives, with the wall-clock time. For operators checking push, and for the
    /// push-latency benchmark.
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "Observe a device's assignment over CoAP/DTLS with its credentials, printing each notification.",
            discussion: "Each line is `EPOCH_MS TARGET` (or `EPOCH_MS -` for no assignment); --json prints the whole body.")

        @Argument(help: "The device id (its DTLS identity).") var id: String
        @Option(help: ArgumentHelp("The update server's push address.", valueName: "host:port")) var coap: String = "127.0.0.1:5686"
        @Option(help: ArgumentHelp("The device's key file (hex, as `devices add` writes it).", valueName: "file")) var pskFile: String
        @Option(help: "Stop after this many notifications (default: run until interrupted).") var count: Int?
        @Flag(help: "Print the assignment JSON after the time.") var json = false

        func run() async throws {
            try await reportingFailures {
                let address = try ListenAddress.parse(coap)
                guard let key = Hex.decode(try readTextFile(pskFile)) else { throw CommandFailure("\(pskFile) does not hold a hex key") }
                let client = try await CoAPClient.connect(host: address.host, port: address.port,
                                                          credentials: PSKCredentials(identity: id, key: key))
                defer { client.close() }
                var seen = 0
                for await result in client.observe("dev/\(id)/deployment") {
                    let response = try result.get()
                    let body = try JSON.parse(response.payload)
                    let target = body["target"]?.stringValue ?? "-"
                    print("\(Reactor.wallClock()) \(json ? body.serialized() : TerminalText.safe(target))")
                    flushOutput()
                    seen += 1
                    if let count, seen >= count { break }
                }
            }
        }
    }
}
