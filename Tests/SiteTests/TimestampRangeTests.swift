import Site
import Testing

/// FuzzSiteWire found `iso8601` trapping on an agent log's `at` of Int64.min (`milliseconds - ms`).
@Suite struct TimestampRangeTests {
    @Test(arguments: [Int64.min, Int64.min + 1, -1, Int64.max, Int64.max - 999])
    func anyInstantPrints(milliseconds: Int64) {
        let text = Timestamp.iso8601(milliseconds)
        #expect(text.hasSuffix("Z") && text.contains("T"))
    }

    @Test func instantsBeforeTheEpochRoundDown() {
        #expect(Timestamp.iso8601(-1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.iso8601(-86_400_001) == "1969-12-30T23:59:59.999Z")
        #expect(Timestamp.iso8601(-1000) == "1969-12-31T23:59:59.000Z")
    }
}
