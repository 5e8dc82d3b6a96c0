// What the libFuzzer targets share: their input as bytes, and a main that replays files when the
// target is built without libFuzzer (a crash reproducer: `swift run FuzzJSON crash-…`).
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's buffer as an array (it passes nil for the empty input).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
}

/// Runs `body` on each file named on the command line.
public func replayFiles(_ name: String, _ body: ([UInt8]) -> Void) {
    var count = 0
    for path in CommandLine.arguments.dropFirst() {
        guard let bytes = readFile(path) else {
            print("\(name): cannot read \(path)")
            continue
        }
        body(bytes)
        count += 1
    }
    print("\(name): build with `make fuzz` to fuzz; ran \(count) input(s)")
}

func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let got = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if got == 0 { break }
        out += chunk[0..<got]
    }
    return ferror(file) == 0 ? out : nil
}
