import Hardware
import Testing

/// The index of the one lit LED at each time.
private func litIndices(_ pattern: LEDPattern, count: Int, at times: [Int64]) -> [Int?] {
    times.map { pattern.levels(ledCount: count, at: $0).firstIndex(of: true) }
}

@Suite struct LEDPatternTests {
    @Test func chaseForwardLightsOneLEDInOrder() {
        let chase = LEDPattern.chase(stepMs: 100, direction: .forward)
        #expect(litIndices(chase, count: 4, at: [0, 99, 100, 200, 300, 400, 550]) == [0, 0, 1, 2, 3, 0, 1])
        #expect(chase.levels(ledCount: 4, at: 250) == [false, false, true, false])
    }

    @Test func chaseBackwardRunsFromTheLastLED() {
        let chase = LEDPattern.chase(stepMs: 100, direction: .backward)
        #expect(litIndices(chase, count: 4, at: [0, 100, 200, 300, 400]) == [3, 2, 1, 0, 3])
    }

    @Test(arguments: [0, 1, 3, 7])
    func chaseHandlesAnyLEDCount(count: Int) {
        let levels = LEDPattern.chase(stepMs: 50, direction: .forward).levels(ledCount: count, at: 12_345)
        #expect(levels.count == count)
        #expect(levels.filter { $0 }.count == min(count, 1))
    }

    @Test func blinkFollowsTheDuty() {
        let blink = LEDPattern.blink(periodMs: 1_000, duty: 0.25)
        #expect(blink.levels(ledCount: 3, at: 0) == [true, true, true])
        #expect(blink.levels(ledCount: 3, at: 249) == [true, true, true])
        #expect(blink.levels(ledCount: 3, at: 250) == [false, false, false])
        #expect(blink.levels(ledCount: 3, at: 999) == [false, false, false])
        #expect(blink.levels(ledCount: 3, at: 1_000) == [true, true, true])
        let onTime = (0..<1_000).filter { blink.levels(ledCount: 1, at: Int64($0))[0] }.count
        #expect(onTime == 250)
    }

    @Test func staticPatterns() {
        #expect(LEDPattern.on.levels(ledCount: 2, at: 5) == [true, true])
        #expect(LEDPattern.off.levels(ledCount: 2, at: 5) == [false, false])
        #expect(LEDPattern.on.nextChange(after: 0) == nil)
        #expect(LEDPattern.off.nextChange(after: 1_000) == nil)
    }

    @Test(arguments: [
        (LEDPattern.blink(periodMs: 1_000, duty: 0.25), 0, 250),
        (.blink(periodMs: 1_000, duty: 0.25), 249, 250),
        (.blink(periodMs: 1_000, duty: 0.25), 250, 1_000),
        (.blink(periodMs: 1_000, duty: 0.25), 999, 1_000),
        (.blink(periodMs: 1_000, duty: 0.25), 1_000, 1_250),
        (.chase(stepMs: 120, direction: .forward), 0, 120),
        (.chase(stepMs: 120, direction: .backward), 119, 120),
        (.chase(stepMs: 120, direction: .forward), 120, 240),
    ] as [(LEDPattern, Int64, Int64)])
    func nextChange(pattern: LEDPattern, after: Int64, expected: Int64) {
        #expect(pattern.nextChange(after: after) == expected)
    }

    @Test func nextChangeMatchesTheLevels() {
        for pattern in [LEDPattern.blink(periodMs: 300, duty: 0.4), .chase(stepMs: 70, direction: .backward)] {
            var time: Int64 = 0
            for _ in 0..<20 {
                let next = try! #require(pattern.nextChange(after: time))
                #expect(next > time)
                #expect(pattern.levels(ledCount: 4, at: next - 1) == pattern.levels(ledCount: 4, at: time))
                #expect(pattern.levels(ledCount: 4, at: next) != pattern.levels(ledCount: 4, at: time))
                time = next
            }
        }
    }

    @Test(arguments: [0.0, 1.0])
    func blinkAtFullOrNoDutyNeverChanges(duty: Double) {
        let blink = LEDPattern.blink(periodMs: 500, duty: duty)
        #expect(blink.nextChange(after: 0) == nil)
        #expect(blink.levels(ledCount: 1, at: 499) == [duty == 1])
    }

    @Test(arguments: [
        ("off", LEDPattern.off),
        ("on", .on),
        ("blink:500:0.5", .blink(periodMs: 500, duty: 0.5)),
        ("blink:1000:0.25", .blink(periodMs: 1_000, duty: 0.25)),
        ("chase:120:forward", .chase(stepMs: 120, direction: .forward)),
        ("chase:80:backward", .chase(stepMs: 80, direction: .backward)),
    ])
    func stringFormRoundTrips(text: String, pattern: LEDPattern) throws {
        #expect(try LEDPattern(parsing: text) == pattern)
        #expect(pattern.description == text)
    }

    @Test(arguments: [
        ("blink:500", LEDPattern.blink(periodMs: 500, duty: 0.5)),
        ("chase:120", .chase(stepMs: 120, direction: .forward)),
        ("  CHASE:120:Backward\n", .chase(stepMs: 120, direction: .backward)),
        ("blink:200:1", .blink(periodMs: 200, duty: 1)),
    ])
    func parseAcceptsShortAndLooseForms(text: String, pattern: LEDPattern) throws {
        #expect(try LEDPattern(parsing: text) == pattern)
    }

    @Test(arguments: [
        ("", "unknown pattern"),
        ("flash", "unknown pattern \"flash\""),
        ("on:1", "wrong number"),
        ("blink", "wrong number"),
        ("blink:0", "blink period \"0\""),
        ("blink:-5:0.5", "blink period \"-5\""),
        ("blink:abc", "blink period \"abc\""),
        ("blink:500:1.5", "duty \"1.5\""),
        ("blink:500:nan", "duty \"nan\""),
        ("chase:120:sideways", "direction \"sideways\""),
        ("chase:99999999999", "chase step"),
        ("chase:120:forward:x", "wrong number"),
    ])
    func parseErrorsSayWhatIsWrong(text: String, problem: String) {
        #expect {
            try LEDPattern(parsing: text)
        } throws: { error in
            let error = error as! HardwareError
            return error.code == .invalidPattern && error.description.contains("\"\(text)\"")
                && error.description.contains(problem) && error.description.contains("chase:STEP_MS")
        }
    }
}
