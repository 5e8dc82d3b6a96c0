import ArgumentParser
import CoAP
import CryptoEVP
import Foundation

/// `nanoedge load`: a CoAP load generator over one DTLS session, for benchmarks. The same generator
/// measures our gateway and libcoap's coap-server, so their figures compare.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Send many GET requests over one DTLS session and report throughput and latency.")

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server DTLS port.") var port: UInt16
    @Option(help: "PSK identity.") var identity: String
    @Option(name: .customLong("key-text"), help: "PSK as text (as libcoap's tools take it).") var keyText: String?
    @Option(name: .customLong("key-file"), help: "File with the PSK in hex (as `nanoedge keys device` writes it).") var keyFile: String?
    @Option(help: "Resource path.") var path: String
    @Option(help: "Query, without '?'.") var query = ""
    @Option(help: "Number of requests.") var requests = 2000
    @Option(help: "Requests in flight at once.") var concurrency = 8
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() async throws {
        let key: [UInt8]
        if let keyText {
            key = Array(keyText.utf8)
        } else if let keyFile, let hex = Hex.decode(try String(contentsOfFile: keyFile, encoding: .utf8)) {
            key = hex
        } else {
            throw ValidationError("give --key-text or a --key-file with a hex key")
        }
        let client = try await CoAPClient.connect(host: host, port: port,
                                                  credentials: PSKCredentials(identity: identity, key: key))
        defer { client.close() }
        _ = try await client.request(CoAPRequest(.get, path, query: query))  // handshake outside the timing
        let request = CoAPRequest(.get, path, query: query)
        let started = DispatchTime.now().uptimeNanoseconds
        let results = await withTaskGroup(of: [Double?].self) { group in
            let perWorker = requests / concurrency
            for _ in 0..<concurrency {
                group.addTask {
                    var latencies: [Double?] = []
                    for _ in 0..<perWorker {
                        let start = DispatchTime.now().uptimeNanoseconds
                        let ok = (try? await client.request(request, timeoutMilliseconds: 5000)) != nil
                        latencies.append(ok ? Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 : nil)
                    }
                    return latencies
                }
            }
            var all: [Double?] = []
            for await part in group { all += part }
            return all
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let ok = results.compactMap { $0 }.sorted()
        let errors = results.count - ok.count
        func percentile(_ p: Double) -> Double { ok.isEmpty ? 0 : ok[min(ok.count - 1, Int(Double(ok.count) * p))] }
        let rate = Double(ok.count) / seconds
        if json {
            print(#"{"requests":\#(results.count),"errors":\#(errors),"seconds":\#(seconds),"per_second":\#(rate),"p50_ms":\#(percentile(0.5)),"p99_ms":\#(percentile(0.99))}"#)
        } else {
            print(String(format: "%d requests, %d errors, %.2f s: %.0f req/s, p50 %.2f ms, p99 %.2f ms",
                         results.count, errors, seconds, rate, percentile(0.5), percentile(0.99)))
        }
    }
}
