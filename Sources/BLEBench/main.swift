// Advertising reports parsed per second on a recorded trace, for Benchmarks/ble.sh.
//
//   BLEBench TRACE [ROUNDS]
//
// Each mode parses every packet of the trace ROUNDS times (default 5) and prints one JSON line with
// the median rate. Modes: "hci" (HCI framing and reports), "hci+ad" (plus the AD structures: the work
// the C peer does), "decoder" (up to a finished Advertisement, as the scanner hands it on) and
// "decoder+filter" (with dedupe and smoothing).
#if canImport(Glibc)
import Glibc
#endif
import BLE
import Hardware

/// Writes to standard error (file descriptor 2; the C `stderr` global is not concurrency-safe).
func complain(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    complain("usage: BLEBench TRACE [ROUNDS]")
    exit(2)
}
let rounds = arguments.count > 2 ? max(1, Int(arguments[2]) ?? 5) : 5
let trace: HCITrace
do {
    trace = try HCITrace.load(path: arguments[1])
} catch {
    complain("BLEBench: \(error)")
    exit(1)
}
let packets = trace.entries.map(\.packet)

/// Runs `body` over all packets `rounds` times; returns the median reports per second and a checksum
/// that keeps the optimiser from dropping the work.
func measure(_ body: ([UInt8], Int64) -> (reports: Int, checksum: Int)) -> (Double, Int) {
    var rates: [Double] = []
    var checksum = 0
    for _ in 0..<rounds {
        let start = nanoseconds()
        var reports = 0
        for (index, packet) in packets.enumerated() {
            let result = body(packet, Int64(index))
            reports += result.reports
            checksum &+= result.checksum
        }
        let seconds = Double(nanoseconds() - start) / 1e9
        rates.append(Double(reports) / seconds)
    }
    rates.sort()
    return (rates[rates.count / 2], checksum)
}

func report(_ mode: String, _ result: (Double, Int)) {
    print("{\"mode\":\"\(mode)\",\"reports_per_second\":\(Int(result.0)),\"packets\":\(packets.count),"
        + "\"rounds\":\(rounds),\"checksum\":\(result.1)}")
}

report("hci", measure { packet, _ in
    guard case .advertisingReports(let reports)? = try? HCIEvent(packet: packet) else { return (0, 0) }
    return (reports.count, reports.reduce(0) { $0 &+ ($1.rssi ?? 0) })
})

report("hci+ad", measure { packet, _ in
    guard case .advertisingReports(let reports)? = try? HCIEvent(packet: packet) else { return (0, 0) }
    var checksum = 0
    for report in reports {
        let data = AdvertisingData(parsing: report.data)
        checksum &+= Int(data.flags ?? 0) &+ data.serviceUUIDs.count &+ Int(data.iBeacon?.major ?? 0)
    }
    return (reports.count, checksum)
})

var plain = AdvertisementDecoder(filter: nil)
report("decoder", measure { packet, now in
    var count = 0, checksum = 0
    _ = try? plain.decode(packet: packet, now: now) { advertisement in
        count += 1
        checksum &+= advertisement.rssi &+ advertisement.address.utf8.count
    }
    return (count, checksum)
})

var filtered = AdvertisementDecoder()
report("decoder+filter", measure { packet, now in
    // Every report counts as parsed; the filter decides how many become advertisements.
    let before = filtered.reportsParsed
    var checksum = 0
    _ = try? filtered.decode(packet: packet, now: now) { checksum &+= $0.rssi }
    return (filtered.reportsParsed - before, checksum)
})
