import BLE
import Testing

@Suite struct ReportFilterTests {
    let tag = ReportFilter.Source(address: BLEAddress(0xAABB_CCDD_EEFF))
    let other = ReportFilter.Source(address: BLEAddress(0x1122_3344_5566))

    @Test func firstSightingGoesThroughThenOncePerWindow() {
        var filter = ReportFilter(configuration: .init(windowMilliseconds: 1_000, rssiChangeThreshold: 10, smoothing: 1))
        #expect(filter.admit(tag, rssi: -60, now: 0) == -60)
        #expect(filter.admit(tag, rssi: -61, now: 100) == nil)
        #expect(filter.admit(tag, rssi: -62, now: 999) == nil)
        #expect(filter.admit(tag, rssi: -63, now: 1_000) == -63)
        #expect(filter.admit(tag, rssi: -60, now: 1_500) == nil)
        // Another source has its own window.
        #expect(filter.admit(other, rssi: -80, now: 1_500) == -80)
        #expect(filter.admit(tag, rssi: -60, now: 2_000) == -60)
    }

    @Test func aLargeRSSIChangeGoesThroughInsideTheWindow() {
        var filter = ReportFilter(configuration: .init(windowMilliseconds: 10_000, rssiChangeThreshold: 8, smoothing: 1))
        #expect(filter.admit(tag, rssi: -60, now: 0) == -60)
        #expect(filter.admit(tag, rssi: -67, now: 10) == nil)   // 7 dB: not enough
        #expect(filter.admit(tag, rssi: -68, now: 20) == -68)   // 8 dB from the last report
        #expect(filter.admit(tag, rssi: -61, now: 30) == nil)   // 7 dB back
        #expect(filter.admit(tag, rssi: -59, now: 40) == -59)
    }

    @Test func smoothingIsAnExponentialMovingAverage() {
        var filter = ReportFilter(configuration: .init(windowMilliseconds: 0, rssiChangeThreshold: 100, smoothing: 0.5))
        #expect(filter.admit(tag, rssi: -60, now: 0) == -60)        // the first sample seeds the average
        #expect(filter.admit(tag, rssi: -80, now: 10) == -70)       // -60 + 0.5 × (-80 − -60)
        #expect(filter.admit(tag, rssi: -80, now: 20) == -75)
        #expect(filter.admit(tag, rssi: -40, now: 30) == -58)       // -75 + 0.5 × 35 = -57.5, rounded away from zero
    }

    @Test func aSingleOutlierMovesTheSmoothedValueLittle() {
        var filter = ReportFilter(configuration: .init(windowMilliseconds: 0, rssiChangeThreshold: 100, smoothing: 0.25))
        for t in 0..<10 { _ = filter.admit(tag, rssi: -70, now: Int64(t)) }
        #expect(filter.admit(tag, rssi: -30, now: 10) == -60)
        #expect(filter.admit(tag, rssi: -70, now: 11) == -63)   // -60 + 0.25 × -10 = -62.5 → -63
    }

    @Test func aSourceUnseenForTheForgetTimeStartsAfresh() {
        var filter = ReportFilter(configuration: .init(windowMilliseconds: 60_000, rssiChangeThreshold: 50,
                                                       smoothing: 0.1, forgetAfterMilliseconds: 5_000))
        #expect(filter.admit(tag, rssi: -60, now: 0) == -60)
        #expect(filter.admit(tag, rssi: -90, now: 4_999) == nil)
        // Last seen at 4999; at 10000 it is forgotten: reported at once with the raw value.
        #expect(filter.admit(tag, rssi: -90, now: 10_000) == -90)
        filter.expire(now: 20_000)
        #expect(filter.trackedSources == 0)
    }

    @Test func capacityBoundsMemoryByDroppingTheLongestUnseen() {
        var filter = ReportFilter(configuration: .init(windowMilliseconds: 60_000, forgetAfterMilliseconds: 60_000,
                                                       capacity: 3))
        for n in 0..<3 { _ = filter.admit(.init(address: BLEAddress(UInt64(n))), rssi: -50, now: Int64(n)) }
        _ = filter.admit(.init(address: BLEAddress(0)), rssi: -50, now: 10)   // 0 seen again: 1 is now the oldest
        #expect(filter.admit(.init(address: BLEAddress(9)), rssi: -50, now: 11) == -50)
        #expect(filter.trackedSources == 3)
        #expect(filter.admit(.init(address: BLEAddress(0)), rssi: -50, now: 12) == nil)  // kept
        #expect(filter.admit(.init(address: BLEAddress(1)), rssi: -50, now: 13) == -50)  // dropped: new again
    }

    @Test func kindsOfOneAddressAreSeparateSources() {
        var filter = ReportFilter()
        let uid = ReportFilter.Source(address: tag.address, kind: 0x40)
        let url = ReportFilter.Source(address: tag.address, kind: 0x41)
        #expect(filter.admit(uid, rssi: -70, now: 0) == -70)
        #expect(filter.admit(url, rssi: -70, now: 10) == -70)
        #expect(filter.admit(uid, rssi: -70, now: 20) == nil)
    }

    @Test func configurationClampsNonsense() {
        let config = ReportFilter.Configuration(windowMilliseconds: -5, rssiChangeThreshold: 0, smoothing: 3,
                                                forgetAfterMilliseconds: 0, capacity: 0)
        #expect(config.windowMilliseconds == 0 && config.rssiChangeThreshold == 1 && config.smoothing == 1)
        #expect(config.forgetAfterMilliseconds == 1 && config.capacity == 1)
    }
}
