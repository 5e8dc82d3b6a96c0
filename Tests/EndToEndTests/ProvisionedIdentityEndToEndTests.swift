import CoAP
import CryptoEVP
import Foundation
import Gateway
import JSON
import Site
import SiteSimulation
import Testing

/// Issue 11, class 3, over real processes: the gateway and the agents run as on a site, and a
/// compromised corridor Pi (guidance only) tries to make the visit log show Alice AUTHENTICATED.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ProvisionedIdentityEndToEndTests {
    @Test func aGuidancePiCannotCauseAnAuthenticatedVisit() async throws {
        let site = try makeSite("identity")
        defer { site.stopAll() }
        // The corridor agent's config claims the entrance scanner's roles and location.
        let config = site.workDirectory + "/corridor-1.toml"
        let honest = try String(contentsOfFile: config, encoding: .utf8)
        let claiming = honest.replacingOccurrences(of: "location = \"corridor\"", with: "location = \"entrance\"")
            .replacingOccurrences(of: "roles = [\"guidance\"]", with: "roles = [\"presence\", \"scanner\"]")
        #expect(claiming != honest)
        try claiming.write(toFile: config, atomically: true, encoding: .utf8)
        try site.startAll()
        let agentLog = site.workDirectory + "/corridor-1.log"
        // Not a throwing wait: before the fix the claim was taken, and the attack below must still run.
        let agentRefused = (try? site.waitFor("the corridor agent to be refused", timeout: 15) {
            (try? String(contentsOfFile: agentLog, encoding: .utf8))?
                .contains("corridor-1 claims roles presence, scanner but was provisioned with guidance") == true
        }) != nil
        #expect(agentRefused, "agent log: \((try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? "")")
        site.stopAgent("corridor-1")
        let gatewayLog = try String(contentsOfFile: site.workDirectory + "/gateway.log", encoding: .utf8)
        #expect(gatewayLog.contains("registration refused: corridor-1 claims roles presence, scanner"),
                "the gateway logs the refusal: \(gatewayLog)")

        // Now by hand, with the corridor's own key, as code on that Pi would.
        let psk = try String(contentsOfFile: site.workDirectory + "/keys/corridor-1.psk", encoding: .utf8)
        let key = try #require(Hex.decode(psk.trimmingCharacters(in: .whitespacesAndNewlines)))
        let pi = try await CoAPClient.connect(host: "127.0.0.1", port: site.port,
                                              credentials: PSKCredentials(identity: "corridor-1", key: key),
                                              ackTimeoutMilliseconds: 500, maxRetransmit: 2)
        defer { pi.close() }
        func post(_ path: String, _ json: JSON) -> CoAPRequest {
            CoAPRequest(.post, path, payload: json.bytes(), contentFormat: ContentFormat.json)
        }
        func refused(_ request: CoAPRequest) async -> String {
            do {
                let response = try await pi.request(request)
                return "accepted with \(response.code)"
            } catch {
                return error.code == .forbidden ? "refused" : "failed with \(error)"
            }
        }
        let claim = Registration(roles: [.presence, .scanner], location: "entrance", board: "sim", version: "x",
                                 epoch: "attack")
        #expect(await refused(post(SitePaths.register, claim.json)) == "refused")
        #expect(await refused(CoAPRequest(.get, SitePaths.tags)) == "refused", "tag ids are for scanners")

        // Alice's tag id, as an insider who knows her badge's address would compute it.
        let siteKey = try #require(Hex.decode(try String(contentsOfFile: site.workDirectory + "/keys/site.key",
                                                         encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let tag = TagHasher(siteKey: siteKey).tagID(forAddress: SimulatedSite.visitors[0].address)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let motion = DeviceEvent(epoch: "attack", seq: 1, kind: .motion, at: now, fields: ["state": "start"])
        #expect(await refused(post(SitePaths.events, motion.json)) == "refused")
        // Had the motion counted, the gateway would now ask this Pi for the scan of that visit.
        let commands = try? await pi.request(CoAPRequest(.get, SitePaths.commands(device: "corridor-1")))
        let visit = commands.flatMap { try? JSON.parse($0.payload) }?["scan"]?["visit"]?.intValue ?? 1
        let scan = DeviceEvent(epoch: "attack", seq: 2, kind: .scan, at: now,
                               fields: ["visit": .int(visit), "tags": [["id": .string(tag), "rssi": -40]]])
        #expect(await refused(post(SitePaths.events, scan.json)) == "refused")

        usleep(300_000)
        let log = try site.visitLog().map { "\($0.status) \($0.detail)" }
        #expect(!log.contains { $0.hasPrefix("AUTHENTICATED") }, "visit log: \(log)")
        let store = try SiteStore(path: site.databasePath, readOnly: true)
        let corridor = try #require(try store.device(id: "corridor-1"))
        #expect(corridor.roles == ["guidance"])
        #expect(corridor.location == "corridor")
        #expect(try store.deviceEvents(device: "corridor-1").isEmpty)

        // The corridor agent with its honest config registers, and the real visitor is guided as before.
        try honest.write(toFile: config, atomically: true, encoding: .utf8)
        let restarted = Int64(Date().timeIntervalSince1970 * 1000)
        try site.startAgent("corridor-1")
        try site.waitFor("the corridor agent to register") {
            (try store.device(id: "corridor-1")?.registeredAt ?? 0) >= restarted
        }
        let alice = try site.runVisitor(address: SimulatedSite.visitors[0].address)
        #expect(alice.statuses == ["INIT", "DETECTED", "SCANNED", "AUTHENTICATED", "GUIDED", "PRESENTED"])
    }
}
