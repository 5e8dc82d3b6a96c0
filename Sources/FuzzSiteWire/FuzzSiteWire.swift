// libFuzzer target for the messages between agent and gateway (Site/Wire, the registry's JSON and
// signed remote configs) (make fuzz). Built with -sanitize=fuzzer,address and -DFUZZING; a normal
// build gets a stub main instead.
import FuzzSupport
import JSON
import Site

/// The gateway's own limit on a request body (GatewayOptions.maxRequestBodyBytes).
let gatewayLimits = JSONLimits(maxBytes: 16 * 1024)

/// One input is one CoAP payload, decoded as every message either side takes. Whatever decodes must
/// come back equal from its own JSON, and what the gateway accepts must lie in the ranges it promises.
func fuzzOnePayload(_ bytes: [UInt8]) {
    guard let json = try? JSON.parse(bytes, limits: gatewayLimits) else { return }
    roundTrip(json, Registration.init(json:), \.json)
    roundTrip(json, RegistrationAck.init(json:), \.json)
    roundTrip(json, DeviceCommands.init(json:), \.json)
    roundTrip(json, Person.init(json:), \.json)
    roundTrip(json, Tag.init(json:), \.json)
    roundTrip(json, Room.init(json:), \.json)
    if let meeting = roundTrip(json, Meeting.init(json:), \.json) {
        precondition(meeting.startsAt < meeting.endsAt && Timestamp.accepted.contains(meeting.startsAt)
                     && Timestamp.accepted.contains(meeting.endsAt), "a meeting outside the site's window")
    }
    if let signed = roundTrip(json, SignedRemoteConfig.init(json:), \.json) {
        if (try? signed.config.validate()) != nil {
            precondition(signed.config.settings.allSatisfy { $0.key.range.contains($0.value) })
        }
        precondition(!signed.config.signedBytes().isEmpty, "a config without signed bytes")
    }
    if let event = roundTrip(json, DeviceEvent.init(json:), \.json) {
        // The agent's log takes any `at`; printing it must not trap either.
        _ = Timestamp.iso8601(event.at)
        precondition((1...DeviceEvent.maxSeq).contains(event.seq), "an event seq out of range")
    }
    guard let event = try? DeviceEvent(wire: json) else { return }
    precondition(Timestamp.accepted.contains(event.at), "the gateway took an event outside its window")
    guard let input = try? event.visitInput(device: "pi-1") else { return }
    if case .scanResult(_, _, let tags) = input {
        precondition(tags.allSatisfy { (-200...100).contains($0.rssi) }, "an RSSI out of range")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOnePayload(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzSiteWire {
    static func main() { replayFiles("FuzzSiteWire", fuzzOnePayload) }
}
#endif
