// libFuzzer target for the HCI event parser and the whole report path (make fuzz, docs/ble.md).
// Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main instead.
import BLE
import Hardware

/// One input is one packet as a raw HCI socket delivers it. Beyond "no crash, no over-read" it checks
/// that what parsed is consistent with the bytes it came from.
func fuzzOneEvent(_ packet: [UInt8]) {
    var decoder = AdvertisementDecoder(filter: ReportFilter.Configuration(capacity: 8))
    var delivered = 0
    guard let event = try? decoder.decode(packet: packet, now: 0, deliver: { _ in delivered += 1 }) else { return }
    precondition(packet.count >= 3 && packet[0] == 0x04 && Int(packet[2]) == packet.count - 3,
                 "a packet whose framing is wrong parsed")
    if case .advertisingReports(let reports) = event {
        precondition(!reports.isEmpty, "an advertising event without reports parsed")
        let dataBytes = reports.reduce(0) { $0 + $1.data.count }
        precondition(dataBytes <= packet.count, "reports hold more data than the packet")
        precondition(delivered <= reports.count, "more advertisements than reports")
        if packet[3] == 0x02 {
            precondition(reports.allSatisfy { $0.data.count <= 31 && $0.eventType.isLegacy },
                         "a legacy report broke the legacy limits")
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneEvent(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
enum FuzzHCIEvents {
    static func main() {
        // Without libFuzzer: run the inputs given as hex on the command line (a crash reproducer).
        for argument in CommandLine.arguments.dropFirst() {
            fuzzOneEvent(HCITrace.decodeHex(Substring(argument)) ?? [])
        }
        print("FuzzHCIEvents: build with `make fuzz` to fuzz; ran \(CommandLine.arguments.count - 1) input(s)")
    }
}
#endif
