import Hardware
import Testing

/// The timing every real Pi profile uses (boards/rpi*.toml).
private let piTiming = PIRFilter.Configuration(warmupMs: 60_000, minHighMs: 50, holdMs: 2_000, stuckHighMs: 600_000)

private func fixture(_ name: String) throws -> EdgeTrace {
    let text = try #require(readFile(repositoryRoot + "/Tests/HardwareTests/Fixtures/" + name))
    return try EdgeTrace.parse(text)
}

@Suite struct EdgeTraceTests {
    @Test func parsesGpiomonOutput() throws {
        let trace = try EdgeTrace.parse("""
            # start 1.5
            event:  RISING EDGE offset: 17 timestamp: [       2.000999999]
            event: FALLING EDGE offset: 17 timestamp: [       3.25]

            """)
        #expect(trace.startedAt == 1_500)
        #expect(trace.edges == [LineEdge(rising: true, timestamp: 2_000), LineEdge(rising: false, timestamp: 3_250)])
    }

    @Test(arguments: [
        ("event: SIDEWAYS EDGE offset: 17 timestamp: [1.0]", 1),
        ("event:  RISING EDGE offset: 17 timestamp: [1.0]\nevent: FALLING EDGE offset: 17 timestamp: [0.5]", 2),
        ("event:  RISING EDGE offset: 17 timestamp: [-1.0]", 1),
        ("event:  RISING EDGE offset: 17 timestamp: [1.0123456789]", 1),
        ("# start soon", 1),
    ])
    func rejectsMalformedLines(text: String, line: Int) {
        #expect(throws: EdgeTrace.ParseError.self) { try EdgeTrace.parse(text) }
        do {
            _ = try EdgeTrace.parse(text)
        } catch {
            #expect(error.line == line)
        }
    }

    @Test func walkByWithRetriggerIsTwoMotions() throws {
        let outputs = try fixture("pir-walkby.gpiomon").replay(through: piTiming)
        #expect(outputs == [
            .motionStarted(at: 100_054), .motionEnded(at: 107_878),
            .motionStarted(at: 112_050), .motionEnded(at: 116_602),
        ])
    }

    @Test func relaySpikesAreGlitches() throws {
        let outputs = try fixture("pir-glitches.gpiomon").replay(through: piTiming)
        #expect(outputs == [.motionStarted(at: 80_050), .motionEnded(at: 84_500)])
    }

    @Test func warmUpSwingsAreIgnoredOnARealBoardButNotOnTheSim() throws {
        let trace = try fixture("pir-warmup.gpiomon")
        #expect(trace.replay(through: piTiming) == [])
        let sim = PIRFilter.Configuration(warmupMs: 0, minHighMs: 0, holdMs: 0, stuckHighMs: 600_000)
        #expect(trace.replay(through: sim).count == 8)
    }

    @Test func stuckSensorIsAFaultUntilItFalls() throws {
        let outputs = try fixture("pir-stuck.gpiomon").replay(through: piTiming)
        #expect(outputs == [
            .motionStarted(at: 120_050), .motionEnded(at: 720_000),
            .sensorFault(stuckSince: 120_000), .sensorRecovered(at: 1_020_000),
        ])
    }
}
