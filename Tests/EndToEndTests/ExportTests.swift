import CryptoEVP
import Foundation
import Gateway
import JSON
import Site
import Testing

/// `nanoedge export` against a site database with known records, read back in both formats.
@Suite struct ExportTests {
    let directory: CLIFixture.TemporaryDirectory
    var dbPath: String { directory.path + "/site.db" }
    let siteKey = Array(repeating: UInt8(0x5A), count: 32)
    // 2026-11-21T10:00:00Z
    let base: Int64 = 1_795_255_200_000

    init() throws {
        directory = try CLIFixture.TemporaryDirectory()
        let store = try SiteStore(path: directory.path + "/site.db")
        let visit = try store.createVisit(device: "entrance-1", at: base)
        for (offset, status) in [(0, VisitStatus(.initial)), (1, VisitStatus(.detected)),
                                 (2, VisitStatus(.scanned)), (3, VisitStatus(.authenticated))] {
            _ = try store.appendVisitLog(VisitLogEntry(visit: visit, status: status, at: base + Int64(offset), detail: ""))
        }
        try store.updateVisit(id: visit, person: "alice", meeting: "weekly, \"sync\"", room: "room-1")
        try store.closeVisit(id: visit, at: base + 60_000)
        let late = try store.createVisit(device: "entrance-1", at: base + 7_200_000)
        _ = try store.appendVisitLog(VisitLogEntry(visit: late, status: VisitStatus(.initial), at: base + 7_200_000, detail: ""))

        let hashed = TagHasher(siteKey: siteKey).tagID(forAddress: "AA:BB:CC:DD:EE:01")
        let events: [(Int64, String, JSON)] = [
            (1, "motion", ["state": "start"]),
            (2, "scan", ["scan": 1, "visit": .int(visit), "tags": [["id": .string(hashed), "rssi": -60]]]),
            // An agent configured with raw_addresses = true sent an address as it is.
            (3, "scan", ["scan": 2, "visit": .int(visit), "tags": [["id": "aa:bb:cc:dd:ee:02", "rssi": -71],
                                                                  ["id": .string(hashed), "rssi": -58]]]),
            (4, "motion", ["state": "end"]),
        ]
        for (seq, kind, body) in events {
            _ = try store.appendDeviceEvent(DeviceEventRecord(device: "entrance-1", epoch: "e1", seq: seq, kind: kind,
                                                              at: base + seq * 1000, body: body.serialized(),
                                                              receivedAt: base + seq * 1000))
        }
        _ = FileManager.default.createFile(atPath: directory.path + "/site.key",
                                       contents: Data((Hex.encode(siteKey) + "\n").utf8))
    }

    private func export(_ arguments: [String]) throws -> String {
        try CLIFixture.succeed(["export"] + arguments + ["--db", dbPath]).stdout
    }

    private func lines(_ text: String) throws -> [JSON] {
        try text.split(separator: "\n").map { try JSON.parse(Array($0.utf8)) }
    }

    @Test func visitsAsJSONLinesInRange() throws {
        let rows = try lines(try export(["visits", "--since", "2026-11-21T09:00Z", "--until", "2026-11-21T11:00Z"]))
        #expect(rows.count == 1)
        #expect(rows[0]["person"] == "alice")
        #expect(rows[0]["status"] == "AUTHENTICATED")
        #expect(rows[0]["statuses"] == ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED"])
        #expect(rows[0]["opened_at"] == "2026-11-21T10:00:00.000Z")
        let all = try lines(try export(["visits"]))
        #expect(all.count == 2)
    }

    @Test func visitsAsCSVRoundTrip() throws {
        let records = parseCSV(try export(["visits", "--format", "csv"]))
        #expect(records.first == ["type", "id", "device", "opened_at", "closed_at", "person", "meeting", "room", "status", "statuses"])
        #expect(records.count == 3)
        let first = records[1]
        #expect(first[5] == "alice")
        #expect(first[6] == "weekly, \"sync\"")
        #expect(try JSON.parse(Array(first[9].utf8)) == ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED"])
        #expect(records[2][4] == "")  // still open
    }

    @Test func presenceRows() throws {
        let rows = try lines(try export(["presence"]))
        #expect(rows.map { $0["state"] } == ["start", "end"])
        #expect(rows.allSatisfy { $0["device"] == "entrance-1" && $0["type"] == "presence" })
    }

    @Test func scansNeverCarryARawAddress() throws {
        let hashed = TagHasher(siteKey: siteKey).tagID(forAddress: "AA:BB:CC:DD:EE:02")
        let withKey = try export(["scans", "--site-key", directory.path + "/site.key"])
        let without = try export(["scans"])
        for text in [withKey, without] {
            #expect(!text.lowercased().contains("aa:bb:cc:dd:ee"))
        }
        let rows = try lines(withKey)
        #expect(rows.count == 2)
        #expect(rows[1]["tags"]?[0]?["id"] == .string(hashed))
        #expect(rows[1]["tag_count"] == 2)
        #expect(rows[1]["strongest_rssi"] == -58)
        #expect(try lines(without)[1]["tags"]?[0]?["id"] == "redacted")
        let csv = parseCSV(try export(["scans", "--format", "csv", "--site-key", directory.path + "/site.key"]))
        #expect(csv[2][5] == "2")
        #expect(csv[2][7].contains(hashed))
    }

    @Test func toAFileAndBadRanges() throws {
        let out = directory.path + "/visits.csv"
        let result = try CLIFixture.succeed(["export", "visits", "--format", "csv", "--out", out, "--db", dbPath])
        #expect(result.stderr.contains("exported 2 visits row(s)"))
        #expect(parseCSV(try String(contentsOfFile: out, encoding: .utf8)).count == 3)
        let bad = try CLIFixture.run(["export", "visits", "--since", "now", "--until=-1h", "--db", dbPath])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--since must be before --until"))
        let follow = try CLIFixture.run(["export", "visits", "--follow", "--db", dbPath])
        #expect(follow.status != 0)
    }
}

/// RFC 4180 records.
func parseCSV(_ text: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var chars = Array(text)[...]
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" {
                if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
            } else { field.append(c) }
        } else if c == "\"" { quoted = true }
        else if c == "," { record.append(field); field = "" }
        else if c == "\n" { record.append(field); records.append(record); record = []; field = "" }
        else { field.append(c) }
    }
    if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
    return records
}
