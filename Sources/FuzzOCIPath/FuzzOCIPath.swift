// libFuzzer target for OCIPath, which decides where a layer entry lands (make fuzz).
// Built with -sanitize=fuzzer,address and -DFUZZING; a normal build gets a stub main instead.
import FuzzSupport
import OCI

/// One input is one entry name as the tar reader hands it over (valid UTF-8: it refuses the rest).
/// The result is checked against a byte-by-byte reading of the name, the way the kernel reads it.
func fuzzOnePath(_ bytes: [UInt8]) {
    guard let text = String(validating: bytes, as: UTF8.self) else { return }
    let expected = kernelComponents(bytes)
    guard let path = try? OCIPath(text) else {
        precondition(expected == nil, "OCIPath refused the safe name \(text.debugDescription)")
        return
    }
    guard let expected else { preconditionFailure("OCIPath took the unsafe name \(text.debugDescription)") }
    precondition(path.components.map { Array($0.utf8) } == expected,
                 "OCIPath split \(text.debugDescription) as \(path.components), not on its / bytes")
    precondition(path.joined.utf8.first != UInt8(ascii: "/") && !path.joined.utf8.contains(0))
    precondition(path.description.utf8.first == UInt8(ascii: "/"))
    precondition(path.isRoot == expected.isEmpty)
    // Checking a checked path changes nothing.
    precondition((try? OCIPath(path.joined))?.components == path.components, "OCIPath is not idempotent")
}

/// The components the kernel would walk, without "." and empty ones; nil for an absolute name, a
/// NUL byte or a ".." component.
func kernelComponents(_ bytes: [UInt8]) -> [[UInt8]]? {
    if bytes.first == 0x2F || bytes.contains(0) { return nil }
    var components: [[UInt8]] = []
    var current: [UInt8] = []
    for byte in bytes + [0x2F] {
        guard byte == 0x2F else {
            current.append(byte)
            continue
        }
        if current == [0x2E, 0x2E] { return nil }
        if !current.isEmpty && current != [0x2E] { components.append(current) }
        current = []
    }
    return components
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOnePath(fuzzInput(data, size))
    return 0
}
#else
@main
enum FuzzOCIPath {
    static func main() { replayFiles("FuzzOCIPath", fuzzOnePath) }
}
#endif
