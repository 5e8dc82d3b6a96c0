// libFuzzer target for the JSON parser and both serializers (make fuzz).
// Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main instead.
import FuzzSupport
import JSON

/// Generous limits for the second parse: serializing may lengthen numbers (1e5 is 100000.0).
let reparseLimits = JSONLimits(maxDepth: 32, maxBytes: 1 << 20, maxStringBytes: 1 << 20)

/// One input is one document as a peer sends it. What parses must serialize to text that parses to
/// the same value and serializes to the same text; its canonical form, when it has one, must too.
func fuzzOneDocument(_ bytes: [UInt8]) {
    guard let value = try? JSON.parse(bytes) else { return }
    let text = value.bytes()
    let again: JSON
    do {
        again = try JSON.parse(text, limits: reparseLimits)
    } catch {
        preconditionFailure("serialized JSON does not parse: \(error)")
    }
    precondition(again == value, "parse → serialize → parse changed the value")
    precondition(again.bytes() == text, "serializing the same value twice gave different text")

    let canonicalizable = try? JSON.parseCanonicalizable(bytes)
    guard let canonical = try? value.canonicalBytes() else {
        precondition(canonicalizable == nil, "a document without a canonical form passed parseCanonicalizable")
        return
    }
    precondition(canonicalizable == value, "a document with a canonical form failed parseCanonicalizable")
    precondition((try? again.canonicalBytes()) == canonical, "equal values gave different canonical bytes")
    // Canonical JSON writes control characters raw, which strict JSON refuses; otherwise it is JSON.
    if !canonical.contains(where: { $0 < 0x20 }) {
        precondition((try? JSON.parse(canonical, limits: reparseLimits)) == value,
                     "canonical bytes do not parse back to the value")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOneDocument(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzJSON {
    static func main() { replayFiles("FuzzJSON", fuzzOneDocument) }
}
#endif
