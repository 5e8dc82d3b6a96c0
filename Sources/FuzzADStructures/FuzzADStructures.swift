// libFuzzer target for the AD structure parser (make fuzz, docs/ble.md).
// Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main instead.
import BLE
import Hardware

/// One input is the advertising data of one report. Checks that every decoded value came from
/// bytes that were there.
func fuzzOneAdvertisingData(_ bytes: [UInt8]) {
    let data = AdvertisingData(parsing: bytes)
    let rawBytes = data.other.reduce(0) { $0 + $1.data.count + 2 }
        + data.serviceData.reduce(0) { $0 + $1.data.count + 4 }
        + data.manufacturerData.reduce(0) { $0 + $1.data.count + 4 }
    precondition(rawBytes <= bytes.count, "more structure bytes than input")
    precondition(data.serviceUUIDs.count * 2 <= bytes.count, "more UUIDs than the input can hold")
    if let beacon = data.iBeacon {
        precondition(data.manufacturerData.contains { $0.companyID == 0x004C && $0.data.count == 23 },
                     "an iBeacon without Apple's 23-byte frame")
        precondition((-128...127).contains(beacon.measuredPower))
    }
    if case .url(let url, _)? = data.eddystone {
        precondition(url.hasPrefix("http"), "an Eddystone URL without a scheme")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneAdvertisingData(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
enum FuzzADStructures {
    static func main() {
        for argument in CommandLine.arguments.dropFirst() {
            fuzzOneAdvertisingData(HCITrace.decodeHex(Substring(argument)) ?? [])
        }
        print("FuzzADStructures: build with `make fuzz` to fuzz; ran \(CommandLine.arguments.count - 1) input(s)")
    }
}
#endif
