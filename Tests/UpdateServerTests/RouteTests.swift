import CryptoEVP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSON
import OCI
import OCITools
import Releases
import Testing
import UpdateServer
import UpdateStore

let agentQuery = "kind=binary&name=nanoedge-agent&board=rpi4b&board=rpi5"

/// The HTTP API through the real router, without sockets (`app.test(.router)`).
@Suite(.serialized, .timeLimit(.minutes(3))) struct RouteTests {
    @Test(arguments: Backend.allCases)
    func releaseIsSignedIntoTUFMetadataAndServedWithRanges(backend: Backend) async throws {
        let fixture = try ServerFixture(backend)
        let service = try await fixture.service()
        let artifact = elfExecutable()
        try await fixture.application(service).test(.router) { client in
            let (status, body) = try await client.release(agentQuery + "&version=1.2.0&security_counter=2", artifact)
            #expect(status == .created, "\(body?.serialized() ?? "")")
            let sha = Hex.encode(Digest.sha256(artifact))
            #expect(body?["sha256"]?.stringValue == sha)
            #expect(body?["target"]?.stringValue == "nanoedge-agent-1.2.0")

            // The timestamp names a snapshot that names the targets metadata that lists the release.
            let timestamp = try await client.execute(uri: "/metadata/timestamp.json", method: .get) { try JSON.parse(Array($0.body.readableBytesView)) }
            let snapshotVersion = try #require(timestamp["signed"]?["meta"]?["snapshot.json"]?["version"]?.intValue)
            let snapshot = try await client.execute(uri: "/metadata/\(snapshotVersion).snapshot.json", method: .get) {
                try JSON.parse(Array($0.body.readableBytesView))
            }
            let targetsVersion = try #require(snapshot["signed"]?["meta"]?["targets.json"]?["version"]?.intValue)
            let targets = try await client.execute(uri: "/metadata/\(targetsVersion).targets.json", method: .get) {
                try JSON.parse(Array($0.body.readableBytesView))
            }
            let entry = try #require(targets["signed"]?["targets"]?["nanoedge-agent-1.2.0"])
            #expect(entry["length"]?.intValue == Int64(artifact.count))
            #expect(entry["hashes"]?["sha256"]?.stringValue == sha)
            #expect(entry["custom"]?["security_counter"]?.intValue == 2)
            #expect(entry["custom"]?["boards"] == ["rpi4b", "rpi5"])
            #expect(targets["signatures"]?.arrayValue?.count == 1)

            // The whole file, then a range, a suffix range, a range past the end, and a conditional GET.
            let path = "/targets/\(sha).nanoedge-agent-1.2.0"
            let etag = try await client.execute(uri: path, method: .get) { response -> String? in
                #expect(response.status == .ok)
                #expect(Array(response.body.readableBytesView) == artifact)
                #expect(response.headers[.contentLength] == String(artifact.count))
                #expect(response.headers[.acceptRanges] == "bytes")
                return response.headers[.eTag]
            }
            #expect(etag == "\"\(sha)\"")
            try await client.execute(uri: path, method: .get, headers: [.range: "bytes=100-199"]) { response in
                #expect(response.status == .partialContent)
                #expect(Array(response.body.readableBytesView) == Array(artifact[100...199]))
                #expect(response.headers[.contentRange] == "bytes 100-199/\(artifact.count)")
                #expect(response.headers[.contentLength] == "100")
            }
            try await client.execute(uri: path, method: .get, headers: [.range: "bytes=-10"]) { response in
                #expect(response.status == .partialContent)
                #expect(Array(response.body.readableBytesView) == Array(artifact.suffix(10)))
            }
            try await client.execute(uri: path, method: .get, headers: [.range: "bytes=\(artifact.count)-"]) { response in
                #expect(response.status == .rangeNotSatisfiable)
                #expect(response.headers[.contentRange] == "bytes */\(artifact.count)")
            }
            try await client.execute(uri: path, method: .get, headers: [.ifNoneMatch: etag!]) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/targets/nanoedge-agent-1.2.0", method: .get, headers: [.range: "bytes=0-3"]) { response in
                #expect(response.status == .partialContent)
                #expect(Array(response.body.readableBytesView) == [0x7F, 0x45, 0x4C, 0x46])
            }
            try await client.execute(uri: "/targets/\(String(repeating: "0", count: 64)).nanoedge-agent-1.2.0", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/metadata/..%2Fkeys", method: .get) { response in
                #expect(response.status == .notFound)
            }
            // A "/" joined to a combining or prepend scalar is still a separator.
            for uri in ["/targets/\(sha).nanoedge-agent-1.2.0/\u{301}", "/targets/\(sha).\u{600}/..",
                        "/metadata/\u{600}/root.json"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .notFound, "\(uri)")
                }
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func badUploadsAreRefusedAndStoreNothing(backend: Backend) async throws {
        let fixture = try ServerFixture(backend)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client in
            let artifact = elfExecutable()
            func refused(_ query: String, _ bytes: [UInt8], digest: [UInt8]? = nil, _ expected: HTTPResponse.Status,
                         _ message: String) async throws {
                let (status, body) = try await client.release(query, bytes, declaredSHA256: digest)
                #expect(status == expected, "\(query): \(body?.serialized() ?? "")")
                let error = body?["error"]?.stringValue ?? ""
                #expect(error.contains(message), "\(error)")
            }
            // Corrupt: the bytes do not match the digest the client computed.
            var corrupt = artifact
            corrupt[2000] ^= 0xFF
            try await refused(agentQuery + "&version=1.0.0", corrupt, digest: Digest.sha256(artifact), .badRequest, "the upload is corrupt")
            // Truncated: the client's digest covers more than arrived.
            try await refused(agentQuery + "&version=1.0.0", Array(artifact.prefix(1000)), digest: Digest.sha256(artifact),
                              .badRequest, "corrupt")
            try await refused(agentQuery + "&version=1.0.0", Array("#!/bin/sh\necho hi\n".utf8), .badRequest, "ELF magic")
            try await refused(agentQuery + "&version=1.0.0", elfExecutable(machine: 62), .badRequest, "ELF executable for x86_64")
            try await refused("kind=binary&name=nanoedge-agent&board=rpi9&version=1.0.0", artifact, .badRequest, "unknown board \"rpi9\"")
            try await refused(agentQuery + "&version=1.0", artifact, .badRequest, "SemVer")
            try await refused(agentQuery + "&version=1.0.0&health_window=0", artifact, .badRequest, "health_window")
            try await refused("kind=tarball&name=x&board=rpi4b&version=1.0.0", artifact, .badRequest, "kind=binary or kind=oci")
            try await refused(agentQuery + "&version=1.0.0", [], .badRequest, "empty")
            let (_, releases) = try await client.api("/api/v1/releases")
            #expect(releases?.arrayValue?.isEmpty == true)
            #expect(fixture.storedFiles().isEmpty)
            // The simulator board takes any architecture.
            let (status, _) = try await client.release("kind=binary&name=sim-agent&board=sim&version=1.0.0", elfExecutable(machine: 62))
            #expect(status == .created)
        }
    }

    @Test(arguments: Backend.allCases)
    func downgradesNeedTheFlagAndNeverLowerTheSecurityCounter(backend: Backend) async throws {
        let fixture = try ServerFixture(backend)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client in
            #expect(try await client.release(agentQuery + "&version=2.0.0&security_counter=5", elfExecutable(seed: 1)).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "office"]).0 == .created)
            #expect(try await client.api("/api/v1/deployments", .post,
                                         json: ["target": "nanoedge-agent-2.0.0", "group": "office", "waves": ["100%"]]).0 == .created)
            let (refused, body) = try await client.release(agentQuery + "&version=1.9.0&security_counter=5", elfExecutable(seed: 2))
            #expect(refused == .conflict)
            #expect(body?["error"]?.stringValue?.contains("--allow-downgrade") == true)
            let (lowCounter, counterBody) = try await client.release(agentQuery + "&version=1.9.0&security_counter=4&allow_downgrade=true",
                                                                     elfExecutable(seed: 3))
            #expect(lowCounter == .conflict)
            #expect(counterBody?["error"]?.stringValue?.contains("security counter 4 is lower than 5") == true)
            #expect(try await client.release(agentQuery + "&version=1.9.0&security_counter=5&allow_downgrade=true",
                                             elfExecutable(seed: 4)).0 == .created)
            // Deploying the older release to the group needs the flag too.
            let (deploy, deployBody) = try await client.api("/api/v1/deployments", .post,
                                                            json: ["target": "nanoedge-agent-1.9.0", "group": "office", "waves": ["100%"]])
            #expect(deploy == .conflict, "\(deployBody?.serialized() ?? "")")
            #expect(try await client.api("/api/v1/deployments", .post,
                                         json: ["target": "nanoedge-agent-1.9.0", "group": "office", "waves": ["100%"],
                                                "allow_downgrade": true]).0 == .created)
            let (_, releases) = try await client.api("/api/v1/releases")
            let targets = Set(releases?.arrayValue?.map { $0["target"]?.stringValue ?? "" } ?? [])
            #expect(targets == ["nanoedge-agent-2.0.0", "nanoedge-agent-1.9.0"])
        }
    }

    @Test func aSoakNearInt64MaxIsRefusedAndTheServerKeepsServing() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client in
            #expect(try await client.release(agentQuery + "&version=2.0.0", elfExecutable(seed: 1)).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "office"]).0 == .created)
            for soak in [Int64.max, Int64.max / 1000 + 1, 31_622_401, -1] {
                let (status, body) = try await client.api("/api/v1/deployments", .post, json:
                    ["target": "nanoedge-agent-2.0.0", "group": "office", "waves": ["100%"], "soak_s": .int(soak)])
                #expect(status == .badRequest)
                #expect(body?["error"]?.stringValue?.contains("'soak_s'") == true)
            }
            #expect(try await client.api("/api/v1/deployments", .post, json:
                ["target": "nanoedge-agent-2.0.0", "group": "office", "waves": ["100%"],
                 "soak_s": 31_622_400]).0 == .created)
            _ = await service.tick()
            #expect(try await client.api("/api/v1/deployments").0 == .ok)
        }
    }

    @Test func wrongAdminTokenIsRefused() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client in
            for token in [nil, "nea_" + String(repeating: "00", count: 32), "ned_device"] as [String?] {
                let (status, body) = try await client.api("/api/v1/groups", .post, json: ["name": "office"], token: token)
                #expect(status == .unauthorized)
                #expect(body?["error"]?.stringValue?.isEmpty == false)
            }
            let (status, _) = try await client.release(agentQuery + "&version=1.0.0", elfExecutable(), token: "nea_wrong")
            #expect(status == .unauthorized)
            let (_, groups) = try await client.api("/api/v1/groups")
            #expect(groups?.arrayValue?.isEmpty == true)
            #expect(fixture.storedFiles().isEmpty)
        }
    }

    /// Off loopback the admin listener asks for an admin token: Bearer for scrapers, the basic-auth
    /// password for a browser.
    @Test func adminPagesOffLoopbackNeedAnAdminToken() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        try await fixture.adminApplication(service, requireToken: true).test(.router) { admin in
            let basic = "Basic " + Data("ops:\(ServerFixture.adminToken)".utf8).base64EncodedString()
            let wrong = "Basic " + Data("ops:nea_wrong".utf8).base64EncodedString()
            for path in ["/", "/metrics"] {
                for header in [nil, wrong, "Bearer ned_device"] as [String?] {
                    let headers: HTTPFields = header.map { [.authorization: $0] } ?? [:]
                    try await admin.execute(uri: path, method: .get, headers: headers) { response in
                        #expect(response.status == .unauthorized, "\(path) with \(header ?? "no token")")
                        #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
                    }
                }
                for header in [basic, "Bearer \(ServerFixture.adminToken)"] {
                    try await admin.execute(uri: path, method: .get, headers: [.authorization: header]) { response in
                        #expect(response.status == .ok, "\(path) with \(header)")
                    }
                }
            }
        }
    }

    @Test func missingOnlineKeyStopsTheServerFromStarting() async throws {
        let fixture = try ServerFixture(.sqlite, onlineKeys: ["targets", "snapshot"])
        let error = await #expect(throws: ServerError.self) { try await fixture.service() }
        #expect(error?.message.contains("the signing key for timestamp is missing") == true, "\(error?.message ?? "")")
    }

    @Test func expiredRootRefusesReleasesAndStoresNothing() async throws {
        let fixture = try ServerFixture(.sqlite, rootExpirySeconds: 3600)
        let service = try await fixture.service()
        fixture.clock.advance(milliseconds: 2 * 3_600_000)
        try await fixture.application(service).test(.router) { client in
            let (status, body) = try await client.release(agentQuery + "&version=1.0.0", elfExecutable())
            #expect(status == .serviceUnavailable)
            #expect(body?["error"]?.stringValue?.contains("root metadata (v1) expired") == true)
            let (_, releases) = try await client.api("/api/v1/releases")
            #expect(releases?.arrayValue?.isEmpty == true)
        }
        #expect(fixture.storedFiles().isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func devicesCheckInReportAndGetTheirAssignment(backend: Backend) async throws {
        let fixture = try ServerFixture(backend)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client in
            #expect(try await client.release(agentQuery + "&version=1.0.0", elfExecutable()).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "office"]).0 == .created)
            var tokens: [String] = []
            for index in 0..<4 {
                let (status, body) = try await client.api("/api/v1/devices", .post,
                                                          json: ["id": .string("pi-\(index)"), "board": "rpi4b", "group": "office"])
                #expect(status == .created)
                tokens.append(try #require(body?["token"]?.stringValue))
                #expect(body?["psk"]?.stringValue?.count == 64)
            }
            #expect(try await client.api("/api/v1/devices", .post, json: ["id": "pi-x", "board": "rpi9", "group": "office"]).0 == .badRequest)
            let (created, deployment) = try await client.api("/api/v1/deployments", .post,
                json: ["target": "nanoedge-agent-1.0.0", "group": "office", "waves": ["2"], "max_failures": "0"])
            #expect(created == .created)
            let id = try #require(deployment?["id"]?.intValue)
            #expect(deployment?["waves"]?.intValue == 2)

            let checkIn: JSON = ["version": "0.9.0", "slot": "a", "health": "ok"]
            let (ok, assignment) = try await client.api("/api/v1/device/checkin", .post, json: checkIn, token: tokens[0])
            #expect(ok == .ok)
            #expect(assignment?["target"]?.stringValue == "nanoedge-agent-1.0.0")
            #expect(assignment?["custom"]?["version"]?.stringValue == "1.0.0")
            let (_, later) = try await client.api("/api/v1/device/checkin", .post, json: checkIn, token: tokens[3])
            #expect(later?["target"]?.isNull == true, "the second wave has not started")

            // Malformed reports: a clear 400 and no change.
            for bad: JSON in [["deployment": .int(id), "target": "nanoedge-agent-1.0.0", "outcome": "maybe"],
                              ["deployment": .int(id), "outcome": "success"],
                              ["deployment": .int(id), "target": "nanoedge-agent-1.0.0", "outcome": "failure"]] {
                let (status, body) = try await client.api("/api/v1/device/report", .post, json: bad, token: tokens[0])
                #expect(status == .badRequest)
                #expect(body?["error"]?.stringValue?.isEmpty == false)
            }
            try await client.execute(uri: "/api/v1/device/report", method: .post,
                                     headers: [.authorization: "Bearer \(tokens[0])", .contentType: "application/json"],
                                     body: ByteBuffer(string: "{\"deployment\": 1, ")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("malformed JSON"))
            }
            let (notReached, _) = try await client.api("/api/v1/device/report", .post,
                json: ["deployment": .int(id), "target": "nanoedge-agent-1.0.0", "outcome": "success"], token: tokens[3])
            #expect(notReached == .badRequest)
            let (_, unchanged) = try await client.api("/api/v1/deployments/\(id)")
            #expect(unchanged?["succeeded"]?.intValue == 0)
            #expect(unchanged?["failed"]?.intValue == 0)

            for token in tokens.prefix(2) {
                let report: JSON = ["deployment": .int(id), "target": "nanoedge-agent-1.0.0", "outcome": "success"]
                #expect(try await client.api("/api/v1/device/report", .post, json: report, token: token).0 == .ok)
            }
            let (_, now) = try await client.api("/api/v1/device/checkin", .post, json: checkIn, token: tokens[3])
            #expect(now?["target"]?.stringValue == "nanoedge-agent-1.0.0", "the second wave started")
            let (_, status) = try await client.api("/api/v1/deployments/\(id)")
            #expect(status?["wave"]?.intValue == 2)
            #expect(status?["devices"]?.arrayValue?.count == 4)
            let (_, device) = try await client.api("/api/v1/devices/pi-0")
            #expect(device?["version"]?.stringValue == "0.9.0")
            #expect(device?["assignment"]?["target"]?.stringValue == "nanoedge-agent-1.0.0")

            #expect(try await client.api("/api/v1/device/checkin", .post, json: checkIn, token: "ned_nobody").0 == .unauthorized)
            #expect(try await client.api("/api/v1/device/checkin", .post, json: checkIn, token: ServerFixture.adminToken).0 == .unauthorized)
            // The fleet page is on the admin listener only; the port every device reaches has no page.
            for path in ["/", "/metrics"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .notFound, "the device port serves \(path)")
                }
            }
            let secret = tokens[0]
            try await fixture.adminApplication(service).test(.router) { admin in
                try await admin.execute(uri: "/", method: .get) { response in
                    let html = String(buffer: response.body)
                    #expect(response.status == .ok)
                    #expect(html.contains("pi-0"))
                    #expect(html.contains("nanoedge-agent-1.0.0"))
                    #expect(!html.contains(secret), "the page shows no credentials")
                }
            }
            let (halt, halted) = try await client.api("/api/v1/deployments/\(id)/halt", .post, json: ["reason": "test"])
            #expect(halt == .ok)
            #expect(halted?["status"]?.stringValue == "halted")
            #expect(try await client.api("/api/v1/deployments/\(id)/halt", .post).0 == .conflict)
            #expect(try await client.api("/api/v1/deployments/\(id)/resume", .post).0 == .ok)
        }
    }
}

/// Simulated devices that talk to the server as agents do: check in, install what they are told
/// (here: decide success or failure), report, and check in again.
struct SimulatedFleet {
    var tokens: [String: String] = [:]
    /// What each device runs now.
    var running: [String: String] = [:]

    /// One round: every device checks in; a device with a new assignment reports on it.
    mutating func round(_ client: some TestClientProtocol, failing: Set<String> = [], reporting: Bool = true,
                        seen: inout [String: Set<String>]) async throws {
        for (device, token) in tokens.sorted(by: { $0.key < $1.key }) {
            let checkIn: JSON = ["version": "1.0.0", "slot": "a", "health": "ok",
                                 "target": running[device].map { .string($0) } ?? .null]
            let (status, assignment) = try await client.api("/api/v1/device/checkin", .post, json: checkIn, token: token)
            guard status == .ok, let target = assignment?["target"]?.stringValue,
                  let deployment = assignment?["deployment"]?.intValue else { continue }
            seen[target, default: []].insert(device)
            guard running[device] != target, reporting else { continue }
            let failed = failing.contains(device)
            var report: [String: JSON] = ["deployment": .int(deployment), "target": .string(target),
                                          "outcome": .string(failed ? "failure" : "success")]
            if failed { report["error"] = "health check failed: no registration within 120 s" }
            let (reported, _) = try await client.api("/api/v1/device/report", .post, json: .object(report), token: token)
            #expect(reported == .ok)
            if !failed { running[device] = target }
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct FleetRolloutTests {
    @Test(arguments: Backend.allCases)
    func twentySimulatedDevicesThenAHaltedSecondRollout(backend: Backend) async throws {
        let fixture = try ServerFixture(backend)
        let service = try await fixture.service()
        try await fixture.application(service).test(.router) { client in
            #expect(try await client.release(agentQuery + "&version=1.1.0", elfExecutable(seed: 1)).0 == .created)
            #expect(try await client.release(agentQuery + "&version=1.2.0", elfExecutable(seed: 2)).0 == .created)
            #expect(try await client.api("/api/v1/groups", .post, json: ["name": "fleet"]).0 == .created)
            var fleet = SimulatedFleet()
            for index in 0..<20 {
                let id = String(format: "pi-%02d", index)
                let (_, body) = try await client.api("/api/v1/devices", .post, json: ["id": .string(id), "board": "rpi5", "group": "fleet"])
                fleet.tokens[id] = try #require(body?["token"]?.stringValue)
            }

            // Rollout 1: three waves (10 %, 40 %, the rest) that complete.
            let (_, first) = try await client.api("/api/v1/deployments", .post, json:
                ["target": "nanoedge-agent-1.1.0", "group": "fleet", "waves": ["10%", "40%"], "max_failures": "0"])
            let firstID = try #require(first?["id"]?.intValue)
            #expect(first?["waves"]?.intValue == 3)
            var seen: [String: Set<String>] = [:]
            // Before anyone reports, only the first wave is told.
            try await fleet.round(client, reporting: false, seen: &seen)
            #expect(seen["nanoedge-agent-1.1.0"] == ["pi-00", "pi-01"])
            for _ in 0..<6 {
                try await fleet.round(client, seen: &seen)
                let (_, status) = try await client.api("/api/v1/deployments/\(firstID)")
                if status?["status"]?.stringValue == "completed" { break }
            }
            let (_, done) = try await client.api("/api/v1/deployments/\(firstID)")
            #expect(done?["status"]?.stringValue == "completed")
            #expect(done?["succeeded"]?.intValue == 20)
            #expect(done?["wave"]?.intValue == 3)
            #expect(Set(fleet.running.values) == ["nanoedge-agent-1.1.0"])
            #expect(fleet.running.count == 20)

            // Rollout 2: two of the first wave's five fail, over the threshold of one: it halts, and
            // the other fifteen devices never see 1.2.0.
            let (_, second) = try await client.api("/api/v1/deployments", .post, json:
                ["target": "nanoedge-agent-1.2.0", "group": "fleet", "waves": ["5", "5"], "max_failures": "1"])
            let secondID = try #require(second?["id"]?.intValue)
            seen = [:]
            for _ in 0..<4 {
                try await fleet.round(client, failing: ["pi-00", "pi-03"], seen: &seen)
            }
            let (_, halted) = try await client.api("/api/v1/deployments/\(secondID)")
            #expect(halted?["status"]?.stringValue == "halted")
            #expect(halted?["failed"]?.intValue == 2)
            #expect(halted?["reached"]?.intValue == 5)
            #expect(halted?["halt_reason"]?.stringValue?.contains("2 failures among 5 devices") == true)
            let firstWave: Set<String> = ["pi-00", "pi-01", "pi-02", "pi-03", "pi-04"]
            #expect(seen["nanoedge-agent-1.2.0"] == firstWave)
            for device in fleet.tokens.keys where !firstWave.contains(device) {
                #expect(fleet.running[device] == "nanoedge-agent-1.1.0", "\(device) keeps the old release")
            }
            #expect(fleet.running["pi-00"] == "nanoedge-agent-1.1.0")
            #expect(fleet.running["pi-01"] == "nanoedge-agent-1.2.0")
            let (_, failedDevice) = try await client.api("/api/v1/devices/pi-00")
            #expect(failedDevice?["assignment"]?["target"]?.stringValue == "nanoedge-agent-1.1.0", "a failed device goes back")

            // /metrics tells the same story, in a format the Prometheus reference parser accepts.
            let text = try await fixture.adminApplication(service).test(.router) { admin in
                try await admin.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                    return String(buffer: response.body)
                }
            }
            let samples = try prometheusSamples(text)
            func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
                samples.first { sample in
                    sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
                }?.value
            }
            #expect((value("nanoedge_update_checkins_total") ?? 0) >= 20)
            #expect(value("nanoedge_update_outcomes_total", ["outcome": "success"]) == 23)
            #expect(value("nanoedge_update_outcomes_total", ["outcome": "failure"]) == 2)
            #expect(value("nanoedge_rollout_halted", ["deployment": String(secondID)]) == 1)
            #expect(value("nanoedge_rollout_halted", ["deployment": String(firstID)]) == 0)
            #expect(value("nanoedge_rollout_devices", ["deployment": String(secondID), "outcome": "failure"]) == 2)
            #expect(value("nanoedge_rollout_devices", ["deployment": String(firstID), "outcome": "success"]) == 20)
        }
    }
}

/// An oci-archive (the tar of a layout directory) made with the OCI module's writers; `drop`
/// removes the blobs whose role is named (`layer`, `config`) before packing.
func ociArchive(architecture: String = "arm64", drop: Set<String> = []) throws -> [UInt8] {
    let directory = try TemporaryDirectory()
    let layoutPath = directory.file("layout")
    var writer = try OCILayoutWriter(path: layoutPath)
    var layer = TarWriter()
    layer.addFile("app/run", Array("#!/bin/sh\necho presence\n".utf8), mode: 0o755)
    layer.finish()
    try writer.addImage(layers: [(bytes: layer.bytes, mediaType: OCIMediaType.layer,
                                  diffID: OCIDigest(sha256: Digest.sha256(layer.bytes)))],
                        config: ["Cmd": ["/app/run"]], platform: OCIPlatform(os: "linux", architecture: architecture))
    if drop.contains("layer") {
        try FileManager.default.removeItem(atPath: layoutPath + "/blobs/sha256/" + Hex.encode(Digest.sha256(layer.bytes)))
    }
    var archive = TarWriter()
    archive.addFile("oci-layout", Array(try Data(contentsOf: URL(fileURLWithPath: layoutPath + "/oci-layout"))))
    archive.addFile("index.json", Array(try Data(contentsOf: URL(fileURLWithPath: layoutPath + "/index.json"))))
    archive.addDirectory("blobs")
    archive.addDirectory("blobs/sha256")
    for blob in try FileManager.default.contentsOfDirectory(atPath: layoutPath + "/blobs/sha256").sorted() {
        archive.addFile("blobs/sha256/" + blob, Array(try Data(contentsOf: URL(fileURLWithPath: layoutPath + "/blobs/sha256/" + blob))))
    }
    archive.finish()
    return archive.bytes
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct OCIReleaseTests {
    @Test func ociArchivesAreCheckedBlobByBlob() async throws {
        let fixture = try ServerFixture(.sqlite)
        let service = try await fixture.service()
        let query = "kind=oci&name=presence-app&board=rpi4b&board=rpi5"
        try await fixture.application(service).test(.router) { client in
            let (missing, missingBody) = try await client.release(query + "&version=1.0.0", try ociArchive(drop: ["layer"]))
            #expect(missing == .badRequest)
            #expect(missingBody?["error"]?.stringValue?.contains("missing") == true, "\(missingBody?.serialized() ?? "")")
            let (wrongArch, wrongBody) = try await client.release(query + "&version=1.0.0", try ociArchive(architecture: "amd64"))
            #expect(wrongArch == .badRequest)
            #expect(wrongBody?["error"]?.stringValue?.contains("board rpi4b runs arm64") == true)
            let (notTar, notTarBody) = try await client.release(query + "&version=1.0.0", elfExecutable())
            #expect(notTar == .badRequest)
            #expect(notTarBody?["error"]?.stringValue?.contains("not valid") == true)
            #expect(fixture.storedFiles().isEmpty)
            let (_, none) = try await client.api("/api/v1/releases")
            #expect(none?.arrayValue?.isEmpty == true)

            let archive = try ociArchive()
            let (created, body) = try await client.release(query + "&version=1.0.0", archive)
            #expect(created == .created, "\(body?.serialized() ?? "")")
            #expect(body?["custom"]?["kind"]?.stringValue == "oci")
            #expect(body?["length"]?.intValue == Int64(archive.count))
        }
    }
}
