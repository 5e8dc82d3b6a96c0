import JSON
import Releases
import Testing

@Suite struct ReleaseVersionTests {
    @Test(arguments: [
        ("1.0.0", "2.0.0"), ("1.2.3", "1.10.0"), ("1.0.0-alpha", "1.0.0"), ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"), ("1.0.0-beta.2", "1.0.0-beta.11"), ("1.0.0-rc.1", "1.0.0"),
    ])
    func ordersBySemVerPrecedence(lower: String, higher: String) throws {
        let a = try #require(ReleaseVersion(lower))
        let b = try #require(ReleaseVersion(higher))
        #expect(a < b)
        #expect(!(b < a))
    }

    @Test func buildMetadataDoesNotCount() throws {
        let a = try #require(ReleaseVersion("1.2.0+build.7"))
        let b = try #require(ReleaseVersion("1.2.0"))
        #expect(a.hasSamePrecedence(as: b))
        #expect(a.description == "1.2.0+build.7")
    }

    @Test(arguments: ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "v1.2.3", "1.2.3+", "1..3", "1.2.3-a..b"])
    func refusesNonSemVer(text: String) {
        #expect(ReleaseVersion(text) == nil)
    }
}

@Suite struct DeviceMessageTests {
    @Test func customRoundTrips() throws {
        let custom = TargetCustom(kind: .oci, name: "app", version: ReleaseVersion("2.0.0")!, boards: ["rpi4b", "rpi5"],
                                  securityCounter: 4, minVersion: ReleaseVersion("1.5.0"),
                                  health: HealthPolicy(windowSeconds: 60, attempts: 2))
        #expect(try TargetCustom(json: try JSON.parse(custom.json.serialized())) == custom)
    }

    @Test func assignmentRoundTripsAndNoneIsNull() throws {
        let custom = TargetCustom(kind: .binary, name: "nanoedge-agent", version: ReleaseVersion("1.0.0")!, boards: ["sim"])
        let assignment = Assignment(deployment: 7, target: "nanoedge-agent-1.0.0", custom: custom)
        #expect(try Assignment.parse(Assignment.json(assignment)) == assignment)
        #expect(try Assignment.parse(Assignment.json(nil)) == nil)
    }

    @Test(arguments: [
        (#"{"slot":"a","health":"ok"}"#, "missing field 'version'"),
        (#"{"version":"1.0","slot":"a","health":"ok"}"#, "not a SemVer version"),
        (#"{"version":"1.0.0","slot":"c","health":"ok"}"#, #"field 'slot' must be one of "a", "b""#),
        (#"{"version":"1.0.0","slot":"a","health":"fine"}"#, "field 'health' must be one of"),
        (#"{"version":"1.0.0","slot":"a","health":"ok","target":3}"#, "field 'target' must be a string"),
    ])
    func malformedCheckInsSayWhatIsWrong(body: String, message: String) throws {
        let error = #expect(throws: JSONError.self) { try CheckIn(json: try JSON.parse(body)) }
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func aFailureReportNeedsAnError() throws {
        let body = try JSON.parse(#"{"deployment":1,"target":"t","outcome":"failure"}"#)
        #expect(throws: JSONError.self) { try UpdateReport(json: body) }
        let ok = try UpdateReport(json: try JSON.parse(#"{"deployment":1,"target":"t","outcome":"success"}"#))
        #expect(ok.outcome == .success)
    }
}
