import Foundation
import JSON
import Site
import SiteSimulation
import Testing

/// The gateway's HTTP side on a running simulated site: /metrics read by the Prometheus reference
/// parser, the site page in headless Chromium, and the export stream.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SiteWebTests {
    static func run(_ executable: String, _ arguments: [String], timeout: Int = 60) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["\(timeout)", executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func get(_ url: String, maxTime: Int = 10) throws -> String {
        let result = try run("/usr/bin/curl", ["-sS", "--max-time", "\(maxTime)", url], timeout: maxTime + 5)
        return result.output
    }

    func startSite(_ name: String) throws -> (SimulatedSite, String) {
        let site = try makeSite(name)
        let port = UInt16.random(in: 30_000...39_000)
        site.httpPort = port
        try site.start()
        let base = "http://127.0.0.1:\(port)"
        try site.waitFor("the gateway's HTTP side") { (try? Self.get(base + "/api/devices", maxTime: 2))?.hasPrefix("[") == true }
        return (site, base)
    }

    @Test func metricsAreValidPrometheusTextAndExportsStreamLiveRows() throws {
        let (site, base) = try startSite("metrics")
        defer { site.stopAll() }
        let visit = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        #expect(visit.statuses.last == "PRESENTED")
        try site.waitFor("heartbeats sampled") { try Self.get(base + "/metrics").contains("nanoedge_devices_online 3") }
        let text = try Self.get(base + "/metrics")
        let script = Paths.repository + "/Tests/EndToEndTests/python/parse_metrics.py"
        let checked = try Self.runWithInput("/usr/bin/env", ["python3", script], input: text)
        try #require(checked.status == 0, "the Prometheus parser rejects /metrics: \(checked.output)\n\(text)")
        let samples = try JSON.parse(Array(checked.output.utf8))
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.arrayValue?.first { sample in
                sample["name"]?.stringValue == name
                    && labels.allSatisfy { sample["labels"]?[$0.key]?.stringValue == $0.value }
            }?["value"]?.doubleValue
        }
        #expect(value("nanoedge_visit_statuses_total", ["status": "PRESENTED"]) == 1)
        #expect(value("nanoedge_visit_statuses_total", ["status": "AUTHENTICATED"]) == 1)
        #expect((value("nanoedge_coap_requests_total", ["resource": "events", "code": "2.01"]) ?? 0) >= 4)
        #expect((value("nanoedge_coap_requests_total", ["resource": "register", "code": "2.04"]) ?? 0) >= 3)
        #expect((value("nanoedge_dtls_sessions") ?? 0) >= 3, "one DTLS session per agent at least")
        #expect(value("nanoedge_agent_event_buffer_depth", ["device": "entrance-1"]) == 0)
        #expect((value("nanoedge_device_events_total", ["kind": "motion"]) ?? 0) >= 2)

        // The export stream, on the same site.
        let http = try Self.get(base + "/export/visits?format=csv")
        let cli = try CLIFixture.succeed(["export", "visits", "--format", "csv", "--db", site.databasePath]).stdout
        #expect(parseCSV(http) == parseCSV(cli))
        #expect(!http.lowercased().contains(SimulatedSite.visitors[0].address.lowercased()))

        // A follow stream sees a motion that happens after it started.
        let before = try Self.get(base + "/export/presence").split(separator: "\n").count
        let stream = Process()
        stream.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        stream.arguments = ["-sS", "-N", "--max-time", "4", base + "/export/presence?follow=1"]
        let pipe = Pipe()
        stream.standardOutput = pipe
        try stream.run()
        usleep(800_000)
        _ = try site.board("entrance-1").send("pir pulse 100")
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        stream.waitUntilExit()
        let rows = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try JSON.parse(Array($0.utf8)) }
        #expect(rows.count >= before + 2, "the pulse's start and end arrived on the open stream (\(rows.count) rows, \(before) before)")
        #expect(rows.allSatisfy { $0["type"] == "presence" })
    }

    @Test func thePageShowsDevicesAndVisitsInHeadlessChromium() throws {
        let chromium = "/usr/bin/chromium"
        try #require(FileManager.default.isExecutableFile(atPath: chromium), "chromium is installed by `make deps`")
        let (site, base) = try startSite("page")
        defer { site.stopAll() }
        _ = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        _ = try site.runVisitor(address: SimulatedSite.strangerAddress)

        let profile = NSTemporaryDirectory() + "nanoedge-chromium-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let common = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--user-data-dir=\(profile)", "--window-size=1280,900"]
        // Virtual time lets the page's refresh timer fire, so the DOM shows the script at work.
        let dom = try Self.run(chromium, common + ["--virtual-time-budget=8000", "--dump-dom", base + "/"], timeout: 90)
        try #require(dom.status == 0, "chromium failed: \(dom.output)")
        for id in ["entrance-1", "corridor-1", "room-1"] {
            #expect(dom.output.contains("data-device=\"\(id)\""), "device \(id) on the page")
        }
        #expect(dom.output.contains("3 of 3 online"))
        #expect(dom.output.contains(">PRESENTED<"))
        #expect(dom.output.contains(">NOT AUTHENTICATED<"))
        #expect(dom.output.contains("(live)"), "the refresh script replaced the sections")

        let artifacts = Paths.repository + "/.build/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/site-page.png"
        try? FileManager.default.removeItem(atPath: shot)
        _ = try Self.run(chromium, common + ["--screenshot=\(shot)", base + "/"], timeout: 90)
        let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        #expect(size > 10_000, "a screenshot was saved to \(shot)")
    }
}

extension SiteWebTests {
    static func runWithInput(_ executable: String, _ arguments: [String], input: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
